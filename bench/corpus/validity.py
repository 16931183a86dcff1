"""Which corpus files PostgreSQL's own grammar accepts, judged by libpg_query (pglast).

    python bench/corpus/validity.py FILE...      # a Python with pglast installed

Prints one JSON object: path -> null (valid) or the parser's error message. pglast wraps the
parser of PostgreSQL itself (no server, no state), so a file with Go-template placeholders or
psql ``:variables`` is invalid, as it would be for ``psql -f`` without the tool's rendering.
pglast is not an ec dependency: the bench runs this script with a separate interpreter
(``--pglast-python``) and falls back to squawk's syntax errors when none is given.
"""

from __future__ import annotations

import json
import re
import sys

# goose sends each StatementBegin … StatementEnd block as one statement, with or without a
# trailing semicolon: the end marker is a statement boundary
_GOOSE_END = re.compile(r"^\s*--\s*\+goose\s+StatementEnd\b.*$", re.M | re.I)


def _as_sent(text: str) -> str:
    return _GOOSE_END.sub(";", text)


def main(paths: list[str]) -> int:
    # imported here: the module must load without pglast (not an ec dependency)
    from pglast import parser  # type: ignore[import-not-found]

    verdicts: dict[str, str | None] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                parser.parse_sql(_as_sent(fh.read()))
            verdicts[path] = None
        except parser.ParseError as exc:
            verdicts[path] = str(exc)
    json.dump(verdicts, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or sys.stdin.read().splitlines()))
