"""Say what to do when a derivation cannot hold a value: which expression, which value, and how
to write it instead.

While both versions run, ec's dual-write trigger evaluates ``down`` on every new-version write
(and ``up`` on every old-version write). When the expression cannot represent a value the
writer may legitimately write (a data exception, SQLSTATE class 22, or NULL into a NOT NULL
column), the write fails or the row cannot be read - PostgreSQL alone only says "integer out of
range". The cause is found by evaluating each derivation over the values written: the one that
fails the same way is named.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy import Table
from sqlalchemy.engine import Engine

from expandcontract.operations.expressions import catalog_sql, expression_sql
from expandcontract.verify.derived import Derivation, shown_values
from expandcontract.verify.types import PG_DIALECT

NOT_NULL = "23502"
_INTEGERS = {
    "smallint": (-32768, 32767),
    "integer": (-2147483648, 2147483647),
    "bigint": (-9223372036854775808, 9223372036854775807),
}
_NUMERIC = re.compile(r"^numeric\((\d+),\s*(\d+)\)$")
_CHARS = re.compile(r"^(?:varchar|character varying|char|character)\((\d+)\)$")


def explained_sqlstate(code: str | None) -> bool:
    """Errors a value can cause in an expression: class 22 (data exception) and NULL into a
    NOT NULL column."""
    return bool(code) and (str(code).startswith("22") or code == NOT_NULL)


def target_type(d: Derivation, target: Table) -> str:
    column = target.columns.get(d.column)
    if column is None:
        return ""
    return str(column.type.compile(dialect=PG_DIALECT)).lower()


def _error_text(error: Any) -> tuple[str, str]:
    """(primary message, SQLSTATE) of a psycopg error."""
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(error).split("\n")[0]
    return str(primary), str(getattr(error, "sqlstate", "") or "")


def _nullable(table: Table, column: str) -> bool:
    found = table.columns.get(column)
    return found is None or bool(found.nullable)


def how_to_write(d: Derivation, code: str, source: Table, target: Table) -> str:
    """Advice for a derivation that cannot hold a value, by SQLSTATE and target type."""
    arg = next(iter(d.reads)) if d.reads is not None and len(d.reads) == 1 else "<value>"
    type_name = target_type(d, target)
    writer = "the new version" if d.direction == "down" else "the old version"
    if code == NOT_NULL:
        return (
            f"{d.direction} gives NULL here, and the {d.target} version's {d.name} is NOT "
            f"NULL: write it so it never does, e.g. coalesce({d.expression}, <a value the "
            f"{d.target} version accepts>)"
        )
    check = ""
    if code == "22003" and type_name in _INTEGERS:
        lo, hi = _INTEGERS[type_name]
        if arg != "<value>" and not _nullable(source, arg):
            clamp = f"least(greatest({arg}, {lo}), {hi})::{type_name}"
        else:  # least() and greatest() skip NULLs: they would turn NULL into a bound
            clamp = (
                f"(CASE WHEN {arg} > {hi} THEN {hi} WHEN {arg} < {lo} THEN {lo} "
                f"ELSE {arg} END)::{type_name}"
            )
        advice = f"write {d.direction} so it holds every value, e.g. clamp it: {clamp}"
        check = f"CHECK ({arg} BETWEEN {lo} AND {hi})"
    elif code == "22003" and (m := _NUMERIC.match(type_name)):
        digits = int(m.group(1)) - int(m.group(2))
        advice = (
            f"write {d.direction} so it holds every value ({type_name} holds less than "
            f"1e{digits} in magnitude), e.g. CASE WHEN abs({arg}) < 1e{digits} THEN "
            f"{arg}::{type_name} END"
        )
        check = f"CHECK (abs({arg}) < 1e{digits})"
    elif code == "22001" and (m := _CHARS.match(type_name)):
        advice = f"write {d.direction} so it fits: left({arg}, {m.group(1)})"
        check = f"CHECK (char_length({arg}) <= {m.group(1)})"
    elif code == "22P02":
        advice = (
            f"guard the conversion in {d.direction}: test the text before casting it, e.g. "
            f"CASE WHEN {arg} ~ '^[+-]?[0-9]+$' THEN ... END"
        )
    elif code == "22012":
        advice = f"guard the division in {d.direction} with nullif(<divisor>, 0)"
    else:
        advice = (
            f"make {d.direction} total: a CASE that maps every value {writer} may write to "
            f"one the {d.target} version's {d.name} ({type_name or 'its type'}) holds"
        )
    if d.direction == "up":
        return f"{advice} (the old version is deployed: up must take whatever it writes)"
    limit = "; or make the new version never write such values (validate them in the app"
    return f"{advice}{limit}, or with a CHECK such as {check})" if check else f"{advice}{limit})"


def write_failure(
    d: Derivation,
    values: dict[str, Any],
    error: Any,
    source: Table,
    target: Table,
    *,
    other_live: bool = True,
) -> str:
    """The message for a write by ``d.source`` that failed because ``d`` cannot hold it
    (``other_live`` False: during contract, before ec's trigger is dropped)."""
    primary, code = _error_text(error)
    what = "represent" if d.direction == "down" else "convert"
    when = (
        f"while the {d.target} version is live"
        if other_live
        else "while contract runs (ec's dual-write trigger computes it until contract drops it)"
    )
    return (
        f"{d.direction} of {d.name} ({d.expression}) cannot {what} the value the {d.source} "
        f"version wrote {when}: {shown_values(d, values)} -> "
        f"{primary} (SQLSTATE {code}). Until contract, ec's dual-write trigger computes the "
        f"{d.target} version's {d.name} from every {d.source}-version write, so this write "
        f"fails. How to fix: {how_to_write(d, code, source, target)}"
    )


def stored_failure(
    d: Derivation, key: Any, values: dict[str, Any], error: Any, source: Table, target: Table
) -> str:
    """The message for a derivation that fails on a row already stored."""
    primary, code = _error_text(error)
    advice = (
        how_to_write(d, code, source, target) if explained_sqlstate(code) else "fix the expression"
    )
    return (
        f"{d.direction} of {d.name} ({d.expression}) fails on row {key} the {d.source} version "
        f"wrote ({shown_values(d, values)}): {primary}"
        + (f" (SQLSTATE {code})" if code else "")
        + f"; the {d.target} version cannot get a value for it. How to fix: {advice}"
    )


def find_cause(
    engine: Engine,
    candidates: list[Derivation],
    source: Table,
    row: dict[str, Any],
    error: Any,
) -> tuple[Derivation, dict[str, Any]] | None:
    """The derivation that fails like ``error`` over ``row`` (the writer's row after its
    write), evaluated with the writer's own column types; None when none does."""
    code = getattr(error, "sqlstate", None)
    if not explained_sqlstate(code):
        return None
    with engine.connect() as conn:
        trans = conn.begin()  # runs as the writer's version: its view, its column types
        try:
            raw = conn.connection.driver_connection
            assert isinstance(raw, psycopg.Connection)
            types = _column_types(raw, source.name)
            for d in candidates:
                reads = sorted(d.reads) if d.reads is not None else sorted(row)
                if not all(c in types for c in reads):
                    continue
                values = {c: row.get(c) for c in reads}
                got = _evaluate(raw, d, values, types)
                if isinstance(got, psycopg.Error) and got.sqlstate == code:
                    return d, values
                if code == NOT_NULL and got is None and _names_column(error, d.column):
                    return d, values
        finally:
            trans.rollback()
    return None


def _names_column(error: Any, column: str) -> bool:
    """A NOT NULL violation is the derivation's when it names the derived column (or its
    twin, ``_ec_new_<column>``)."""
    diag = getattr(error, "diag", None)
    named = getattr(diag, "column_name", None) or ""
    primary = getattr(diag, "message_primary", None) or ""
    return named == column or named.endswith(f"_{column}") or f".{column}" in primary


def _column_types(conn: psycopg.Connection[Any], table: str) -> dict[str, str]:
    """The relation the session resolves ``table`` to (its version's view or table)."""
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
        " WHERE a.attrelid = to_regclass(quote_ident(%s)) AND a.attnum > 0"
        " AND NOT a.attisdropped",
        (table,),
    ).fetchall()
    return {name: type_ for name, type_ in rows}


def _evaluate(
    conn: psycopg.Connection[Any], d: Derivation, values: dict[str, Any], types: dict[str, str]
) -> Any:
    """The expression over ``values`` cast to the writer's column types: its value, or the
    psycopg error it raises."""
    columns = [
        sql.SQL("CAST(%s AS {}) AS {}").format(catalog_sql(types[c]), sql.Identifier(c))
        for c in values
    ]
    params = [Jsonb(v) if "json" in types[c] and v is not None else v for c, v in values.items()]
    query = sql.SQL("SELECT ({}) FROM (SELECT {}) AS _ec_row").format(
        expression_sql(d.expression), sql.SQL(", ").join(columns) if columns else sql.SQL("1")
    )
    try:
        with conn.transaction():
            row = conn.execute(query, params).fetchone()
    except psycopg.Error as exc:
        return exc
    return row[0] if row else None
