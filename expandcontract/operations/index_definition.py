"""Read what ``pg_get_indexdef()`` printed back into parts, so an index can be rebuilt on other
columns (a twin): access method, each key (a column, or an expression whose column references
are rewritten through sqlglot's parser, never by string replacement) with what follows it
(collation, operator class and its parameters, ordering), and the INCLUDE columns.

The text is PostgreSQL's own (ruleutils), so its grammar is fixed: keywords upper case,
identifiers lower case or double-quoted, string constants single-quoted. The tokenizer only
has to respect quotes and parentheses; anything it does not recognise is refused.
"""

from __future__ import annotations

import dataclasses
import re

from psycopg import sql

from expandcontract.operations.base import MigrationInvalid
from expandcontract.operations.expressions import catalog_sql, rename_columns
from expandcontract.schema.model import Index

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<ident>"(?:[^"]|"")*")
      | (?P<string>'(?:[^']|'')*')
      | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
      | (?P<number>[0-9][0-9.eE+-]*)
      | (?P<punct>[(),.\[\]])
      | (?P<other>[^\s"'(),.\[\]A-Za-z0-9_]+)
    )""",
    re.VERBOSE,
)


@dataclasses.dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    start: int
    end: int

    def name(self) -> str | None:
        """The identifier this token spells, or None."""
        if self.kind == "ident":
            return self.text[1:-1].replace('""', '"')
        if self.kind == "word":
            return self.text
        return None


def _tokens(text: str) -> list[_Token]:
    out, pos = [], 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"unreadable at {text[pos : pos + 20]!r}")
        kind = m.lastgroup or "other"
        out.append(_Token(kind, m.group(kind), m.start(kind), m.end()))
        pos = m.end()
    return out


def _close(tokens: list[_Token], i: int) -> int:
    """Index of the ``)`` matching the ``(`` at ``i``."""
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j].text == "(":
            depth += 1
        elif tokens[j].text == ")":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError("unbalanced parentheses")


def _split(tokens: list[_Token], start: int, end: int) -> list[tuple[int, int]]:
    """Token ranges between depth-0 commas of tokens[start:end]."""
    parts, depth, first = [], 0, start
    for j in range(start, end):
        if tokens[j].text in ("(", "["):
            depth += 1
        elif tokens[j].text in (")", "]"):
            depth -= 1
        elif tokens[j].text == "," and depth == 0:
            parts.append((first, j))
            first = j + 1
    parts.append((first, end))
    return parts


@dataclasses.dataclass(frozen=True)
class Key:
    column: str | None  # a plain column key
    expression: str | None  # else an expression, as PostgreSQL printed it
    suffix: str  # COLLATE, operator class (params), ASC/DESC, NULLS …: no column references


@dataclasses.dataclass(frozen=True)
class IndexShape:
    method: str
    keys: tuple[Key, ...]
    include: tuple[str, ...]

    def render(self, twins: dict[str, str], *, where: str) -> sql.Composed:
        """``USING m (keys) [INCLUDE (…)]`` with every column of ``twins`` replaced."""
        keys: list[sql.Composable] = []
        for key in self.keys:
            if key.column is not None:
                head: sql.Composable = sql.Identifier(twins.get(key.column, key.column))
            else:
                assert key.expression is not None
                head = sql.SQL("({})").format(
                    catalog_sql(rename_columns(key.expression, twins, where=where))
                )
            keys.append(sql.SQL("{}{}").format(head, catalog_sql(key.suffix)))
        out = sql.SQL("USING {} ({})").format(sql.Identifier(self.method), sql.SQL(", ").join(keys))
        if self.include:
            out = sql.SQL("{} INCLUDE ({})").format(
                out, sql.SQL(", ").join(sql.Identifier(twins.get(c, c)) for c in self.include)
            )
        return out


def check_rebuildable(index: Index, twins: dict[str, str], *, where: str) -> None:
    """Raise MigrationInvalid (before anything runs) if ``index`` cannot be rebuilt on
    ``twins``: its definition unreadable, an expression or predicate sqlglot cannot parse."""
    parse_index_definition(index.definition, where=where).render(twins, where=where)
    if index.predicate:
        rename_columns(index.predicate, twins, where=where)


def parse_index_definition(definition: str, *, where: str) -> IndexShape:
    """``CREATE [UNIQUE] INDEX n ON [ONLY] s.t USING m (keys) [INCLUDE (cols)] …``."""
    try:
        return _parse(definition)
    except (ValueError, IndexError, StopIteration) as exc:
        raise MigrationInvalid(
            f"{where}: cannot read the definition of the index ({exc or 'no key list'}): "
            f"{definition}",
            "drop it in this migration (drop_index) and create the new one with create_index",
        ) from None


def _parse(definition: str) -> IndexShape:
    tokens = _tokens(definition)
    on = next(i for i, t in enumerate(tokens) if t.kind == "word" and t.text == "ON")
    using = next(
        i for i in range(on, len(tokens)) if tokens[i].kind == "word" and tokens[i].text == "USING"
    )
    method = tokens[using + 1].name()
    if method is None or tokens[using + 2].text != "(":
        raise ValueError("no access method and key list")
    close = _close(tokens, using + 2)
    keys = tuple(_key(definition, tokens, a, b) for a, b in _split(tokens, using + 3, close))
    include: tuple[str, ...] = ()
    rest = tokens[close + 1 :]
    if rest and rest[0].text == "INCLUDE":
        end = _close(tokens, close + 2)
        names = [_plain(tokens, a, b) for a, b in _split(tokens, close + 3, end)]
        include = tuple(names)
    return IndexShape(method, keys, include)


def _plain(tokens: list[_Token], a: int, b: int) -> str:
    name = tokens[a].name() if b - a == 1 else None
    if name is None:
        raise ValueError("INCLUDE lists something other than a column")
    return name


def _key(text: str, tokens: list[_Token], a: int, b: int) -> Key:
    if a >= b:
        raise ValueError("empty key")
    first = tokens[a]
    if first.text == "(":  # (expression)
        end = _close(tokens, a)
        inner = text[tokens[a].end : tokens[end].start]
        return Key(None, inner.strip(), _suffix(text, tokens, end + 1, b))
    if first.name() is None:
        raise ValueError(f"unexpected {first.text!r} in a key")
    j = a + 1
    while j + 1 < b and tokens[j].text == "." and tokens[j + 1].name() is not None:
        j += 2  # schema-qualified function name
    if j < b and tokens[j].text == "(":  # a function call printed without parentheses
        end = _close(tokens, j)
        return Key(None, text[first.start : tokens[end].end], _suffix(text, tokens, end + 1, b))
    if j != a + 1:
        raise ValueError("a qualified name that is not a function call")
    return Key(first.name(), None, _suffix(text, tokens, a + 1, b))


def _suffix(text: str, tokens: list[_Token], a: int, b: int) -> str:
    if a >= b:
        return ""
    return " " + text[tokens[a].start : tokens[b - 1].end]
