"""Reject bad input before the first batch: unknown table or columns, keys that cannot page,
SET/WHERE expressions that do not parse or type-check (checked by PostgreSQL itself: EXPLAIN
of the real statements, through the extended protocol, in a transaction that is rolled back),
and expressions that cannot be applied exactly once (see ``modes``)."""

from __future__ import annotations

import dataclasses
import difflib

import psycopg
from psycopg import sql

from expandcontract.backfill.errors import BackfillInputError
from expandcontract.backfill.keys import KeyInfo, discover_key
from expandcontract.backfill.modes import Mode, classify
from expandcontract.backfill.spec import BackfillSpec
from expandcontract.backfill.statements import BatchSql, Bounds, tid
from expandcontract.errors import privilege_error
from expandcontract.operations.expressions import expression_sql
from expandcontract.runner.runner import Connection


@dataclasses.dataclass(frozen=True)
class Target:
    oid: int
    table: sql.Composable
    key: KeyInfo
    batch: BatchSql
    qualified: str
    mode: Mode  # converge or once (see modes.py)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def resolve(conn: Connection, spec: BackfillSpec, *, lock_timeout_ms: int = 2000) -> Target:
    spec.check_expressions()
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
        str(r[0]): (str(r[1]), str(r[2]), int(r[3]))
        for r in conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod), attgenerated, attnum"
            " FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
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
    types = {c: columns[c][0] for c, _ in spec.assignments}
    _explain_all(conn, table, BatchSql(table, key, spec, types), lock_timeout_ms)
    mode = classify(
        conn, spec=spec, table=table, table_oid=oid, column_types=types,
        attnums={c: columns[c][2] for c, _ in spec.assignments},
    )  # fmt: skip
    if mode.once and key.is_ctid:
        raise BackfillInputError(
            f"{qualified} has no primary key or unique NOT NULL key, and this backfill must "
            f"change each row exactly once ({mode.reason}); paging by ctid cannot promise "
            "that: an updated row moves to another page and would be seen again",
            "add a primary key or a unique index over NOT NULL columns (then each row is "
            "updated once, in key order), or write an idempotent backfill: assign a column "
            "the expression does not read, and filter the rows still to do, e.g. "
            '--set "n2 = n + 1" --where "n2 IS NULL"; nothing was updated',
        )
    # A once batch runs a subset of the statement checked above (no comparison clause).
    batch = BatchSql(table, key, spec, types, once=mode.once)
    return Target(oid, table, key, batch, qualified, mode)


def _explain_all(conn: Connection, table: sql.Composable, batch: BatchSql, lock_ms: int) -> None:
    spec = batch.spec
    checks: list[tuple[str, sql.Composable, dict[str, object]]] = []
    for column, expr in spec.assignments:
        checks.append(
            (
                f"--set {column} = {expr}",
                # An UPDATE, so the assignment cast is type-checked like the real one.
                sql.SQL("UPDATE {} SET {} = ({}) WHERE false").format(
                    table, sql.Identifier(column), expression_sql(expr)
                ),
                {},
            )
        )
    if spec.where:
        checks.append(
            (
                f"--where {spec.where}",
                sql.SQL("SELECT 1 FROM {} WHERE ({})").format(table, expression_sql(spec.where)),
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
                # binary=True: the extended protocol, which carries exactly one statement
                # (the simple protocol would run anything after a ';' in user text). Without
                # params psycopg leaves '%' alone; the batch statements double it themselves.
                conn.execute(sql.SQL("EXPLAIN {}").format(statement), params or None, binary=True)
        except psycopg.errors.LockNotAvailable as exc:
            raise BackfillInputError(
                "could not check the backfill statements: the table is locked "
                f"({_first_line(exc)})",
                "retry when the blocking session is done",
            ) from None
        except psycopg.Error as exc:
            if conn.broken:
                raise  # a lost session is not the user's input: the caller reconnects
            denied = privilege_error(exc, doing=f"checking {what} on {spec.schema}.{spec.table}")
            if denied is not None:
                raise denied from None
            raise BackfillInputError(
                f"{what} is not valid for {spec.schema}.{spec.table}: {_first_line(exc)}",
                "expressions are SQL evaluated per row against the table's columns; nothing "
                "was updated",
            ) from None
