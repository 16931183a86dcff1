"""Reject bad input before the first batch: unknown table or columns, keys that cannot page,
and SET/WHERE expressions that do not parse or type-check (checked by PostgreSQL itself:
EXPLAIN of the real statements in a transaction that is rolled back)."""

from __future__ import annotations

import dataclasses
import difflib

import psycopg
from psycopg import sql

from expandcontract.backfill.errors import BackfillInputError
from expandcontract.backfill.keys import KeyInfo, discover_key
from expandcontract.backfill.spec import BackfillSpec
from expandcontract.backfill.statements import BatchSql, Bounds, tid
from expandcontract.runner.runner import Connection


@dataclasses.dataclass(frozen=True)
class Target:
    oid: int
    table: sql.Composable
    key: KeyInfo
    batch: BatchSql
    qualified: str


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def resolve(conn: Connection, spec: BackfillSpec, *, lock_timeout_ms: int = 2000) -> Target:
    qualified = f"{spec.schema}.{spec.table}"
    row = conn.execute(
        "SELECT c.oid, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s",
        (spec.schema, spec.table),
    ).fetchone()
    if row is None or row[1] not in ("r", "p"):
        raise BackfillInputError(
            f"table {qualified} does not exist" if row is None else f"{qualified} is not a table",
            "check --table and --schema (names are case-sensitive as stored in the catalog)",
        )
    oid = int(row[0])
    columns = {
        str(r[0]): (str(r[1]), str(r[2]))
        for r in conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod), attgenerated FROM pg_attribute"
            " WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
            (oid,),
        ).fetchall()
    }
    for column, _ in spec.assignments:
        if column not in columns:
            close = difflib.get_close_matches(column, list(columns), n=3)
            raise BackfillInputError(
                f"column {column!r} does not exist in {qualified}",
                f"did you mean: {', '.join(close)}" if close else "check the --set column name",
            )
        if columns[column][1]:
            raise BackfillInputError(f"column {column!r} of {qualified} is generated")
    key = discover_key(conn, str(oid), spec.keys)
    if row[1] == "p" and key.is_ctid:
        raise BackfillInputError(
            f"partitioned table {qualified} has no primary key or unique NOT NULL key",
            "backfill each partition, or add a key (ctid ranges do not span partitions)",
        )
    assigned_keys = sorted(set(key.columns) & {c for c, _ in spec.assignments})
    if assigned_keys:
        raise BackfillInputError(
            f"the backfill must not change its key column(s) {', '.join(assigned_keys)}",
            "keyset pagination needs stable keys; backfill into another column",
        )
    table = sql.Identifier(spec.schema, spec.table)
    batch = BatchSql(table, key, spec, {c: columns[c][0] for c, _ in spec.assignments})
    _explain_all(conn, table, batch, lock_timeout_ms)
    return Target(oid, table, key, batch, qualified)


def _explain_all(conn: Connection, table: sql.Composable, batch: BatchSql, lock_ms: int) -> None:
    spec = batch.spec
    checks: list[tuple[str, sql.Composable, dict[str, object]]] = []
    for column, expr in spec.assignments:
        checks.append(
            (
                f"SET {column} = {expr}",
                # An UPDATE, so the assignment cast is type-checked like the real one.
                sql.SQL("UPDATE {} SET {} = ({}) WHERE false").format(
                    table, sql.Identifier(column), sql.SQL(expr)
                ),
                {},
            )
        )
    if spec.where:
        checks.append(
            (
                f"WHERE {spec.where}",
                sql.SQL("SELECT 1 FROM {} WHERE ({})").format(table, sql.SQL(spec.where)),
                {},
            )
        )
    # Every bound present (values bound as NULL): the widest variant of the statements.
    placeholder: list[str] | None = [""] * len(batch.key.columns) or None
    bounds = Bounds(cursor=placeholder, lo=None, hi=placeholder)
    if batch.key.is_ctid:
        checks.append(("the batch UPDATE", batch.ctid_update(), {"lo": tid(0), "hi": tid(1)}))
    else:
        params: dict[str, object] = {k: None for k in batch.bound_params(bounds)}
        params["n"] = 1
        checks.append(("the batch key scan", batch.boundary(bounds), dict(params)))
        params.update({f"u{i}": None for i in range(len(batch.key.columns))})
        checks.append(("the batch UPDATE", batch.keyset_update(bounds), params))
    for what, statement, params in checks:
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(
                    "SELECT set_config('lock_timeout', %s, true),"
                    " set_config('statement_timeout', '30s', true)",
                    (f"{lock_ms}ms",),
                )
                conn.execute(sql.SQL("EXPLAIN {}").format(statement), params or None)
        except psycopg.errors.LockNotAvailable as exc:
            raise BackfillInputError(
                "could not check the backfill statements: the table is locked "
                f"({_first_line(exc)})",
                "retry when the blocking session is done",
            ) from None
        except psycopg.Error as exc:
            raise BackfillInputError(
                f"{what} is not valid for {spec.schema}.{spec.table}: {_first_line(exc)}",
                "expressions are SQL evaluated per row against the table's columns; nothing "
                "was updated",
            ) from None
