"""The one sqlglot dialect the linter uses (PostgreSQL), with one tokenizer, parser and
generator per process: sqlglot builds a new one per call otherwise, and resolving the dialect by
name each time shows up in a profile of a large folder."""

from __future__ import annotations

import logging

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.tokenizer_core import Token

# sqlglot logs "Falling back to parsing as a 'Command'" and similar; we report these ourselves.
logging.getLogger("sqlglot").setLevel(logging.CRITICAL)

DIALECT = Postgres()
_TOKENIZER = DIALECT.tokenizer()
_PARSER = DIALECT.parser()


def tokenize(sql: str) -> list[Token]:
    return _TOKENIZER.tokenize(sql)


def parse(tokens: list[Token], sql: str) -> list[exp.Expr | None]:
    return _PARSER.parse(tokens, sql)


def render(node: exp.Expr) -> str:
    """PostgreSQL text of ``node``, without comments (no copy: no tree is used twice)."""
    return DIALECT.generate(node, copy=False, comments=False)
