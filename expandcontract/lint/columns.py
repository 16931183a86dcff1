"""Column definitions from sqlglot's tree: canonical type and facts for the rules, and the
user's own text of the type and default (messages quote what the user wrote, not a rendering).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.tokenizer_core import Token, TokenType

from expandcontract.lint.dialect import render
from expandcontract.lint.ir import ColumnSpec
from expandcontract.lint.pgtypes import SERIALS, from_sqlglot, from_text
from expandcontract.lint.volatility import is_volatile

# Words that end a column's type (the start of a column constraint or clause).
_TYPE_ENDS = frozenset(
    [
        "NOT",
        "NULL",
        "DEFAULT",
        "PRIMARY",
        "REFERENCES",
        "CHECK",
        "UNIQUE",
        "CONSTRAINT",
        "GENERATED",
        "COLLATE",
        "COMPRESSION",
        "STORAGE",
        "DEFERRABLE",
        "INITIALLY",
        "USING",
    ]
)
_DEFAULT_ENDS = _TYPE_ENDS - {"DEFAULT", "NULL", "USING"}


@dataclass(frozen=True)
class Source:
    """A statement's tokens (file offsets) and the file text, to quote the user's text."""

    tokens: list[Token]
    text: str
    _by_start: dict[int, int] = field(default_factory=dict, compare=False)

    def index_at(self, start: int) -> int | None:
        if not self._by_start:  # built once: a CREATE TABLE asks once per column
            self._by_start.update((t.start, i) for i, t in enumerate(self.tokens))
        return self._by_start.get(start)

    def span(self, first: int, ends: frozenset[str], *, take_first: bool = False) -> str:
        """Text from token ``first`` up to (not including) a top-level word in ``ends``, a
        top-level ``,`` or the ``)`` closing the list it is in."""
        depth, last = 0, None
        for i in range(first, len(self.tokens)):
            token = self.tokens[i]
            kind = token.token_type
            if kind in (TokenType.L_PAREN, TokenType.L_BRACKET):
                depth += 1
            elif kind in (TokenType.R_PAREN, TokenType.R_BRACKET):
                depth -= 1
                if depth < 0:
                    break
            elif depth == 0 and not (take_first and i == first):
                if kind in (TokenType.COMMA, TokenType.SEMICOLON):
                    break
                if kind != TokenType.STRING and token.text.upper() in ends:
                    break
            last = token
        if last is None:
            return ""
        return self.text[self.tokens[first].start : last.end + 1]


def ident(node: exp.Expr | None) -> str:
    if node is None:
        return ""
    if isinstance(node, exp.Identifier):
        return node.name if node.quoted else node.name.lower()
    if isinstance(node, exp.Table | exp.Column):
        return ".".join(ident(p) for p in node.parts)
    if isinstance(node, exp.Schema):
        return ident(node.this)
    return node.name.lower()


def written_type(source: Source | None, name_node: exp.Expr | None, dtype: exp.Expr | None) -> str:
    """The column type as the user wrote it (after the column's name)."""
    start = name_node.meta.get("start") if name_node is not None else None
    at = source.index_at(start) if source is not None and start is not None else None
    written = " ".join(source.span(at + 1, _TYPE_ENDS).split()) if source and at is not None else ""
    return written or (render(dtype).lower() if dtype is not None else "")


def written_after(source: Source | None, name_node: exp.Expr | None, word: str) -> str | None:
    """The text after the first top-level ``word`` (e.g. DEFAULT) in a column definition."""
    start = name_node.meta.get("start") if name_node is not None else None
    at = source.index_at(start) if source is not None and start is not None else None
    if source is None or at is None:
        return None
    depth = 0
    for i in range(at + 1, len(source.tokens)):
        token = source.tokens[i]
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
            if depth < 0:
                return None
        elif depth == 0 and token.token_type == TokenType.COMMA:
            return None
        elif depth == 0 and token.text.upper() == word and token.token_type != TokenType.STRING:
            return source.span(i + 1, _DEFAULT_ENDS, take_first=True) or None
    return None


def column_spec(col: exp.ColumnDef, source: Source | None = None) -> ColumnSpec:
    not_null = primary_key = generated = identity = volatile = unique = False
    default: str | None = None
    references: str | None = None
    for constraint in col.args.get("constraints") or []:
        kind = constraint.args.get("kind")
        if isinstance(kind, exp.NotNullColumnConstraint) and not kind.args.get("allow_null"):
            not_null = True
        elif isinstance(kind, exp.PrimaryKeyColumnConstraint):
            primary_key = not_null = True
        elif isinstance(kind, exp.UniqueColumnConstraint):
            unique = True
        elif isinstance(kind, exp.DefaultColumnConstraint):
            default = written_after(source, col.this, "DEFAULT") or render(kind.this)
            volatile = is_volatile(kind.this)
        elif isinstance(kind, exp.ComputedColumnConstraint):
            generated = bool(kind.args.get("persisted", True))
        elif isinstance(kind, exp.GeneratedAsIdentityColumnConstraint):
            if kind.args.get("expression") is not None or kind.this is None:
                generated = True
            else:
                identity = True
        elif isinstance(kind, exp.Reference):
            references = ident(kind.this)
    dtype = col.args.get("kind")
    written = written_type(source, col.this, dtype)
    pgtype = from_sqlglot(dtype)
    if pgtype is not None and pgtype.name == "bit" and "var" in written.lower():
        pgtype = from_text(written)  # sqlglot reads "bit varying" as bit
    if pgtype is not None and not pgtype.array and written.upper().endswith(("ARRAY", "]")):
        pgtype = dataclasses.replace(pgtype, array=True)  # "int8 ARRAY" in ADD COLUMN
    return ColumnSpec(
        name=ident(col.this),
        type=written,
        pgtype=pgtype,
        not_null=not_null,
        default=default,
        volatile_default=volatile,
        generated_stored=generated,
        identity=identity or (pgtype is not None and pgtype.name in SERIALS),
        primary_key=primary_key,
        unique=unique,
        references=references,
    )
