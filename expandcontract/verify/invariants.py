"""Cross-version invariants: a row written by the old version is read by the new one with
``up`` applied, and vice versa with ``down``; no row and no value is lost across backfill and
contract; the backfill leaves no row unconverted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import MetaData, Table

from expandcontract.operations.state import PENDING
from expandcontract.verify.compare import same, show
from expandcontract.verify.mapping import TableLink, VersionMap
from expandcontract.verify.tracker import Key, Tracker

Snapshot = dict[str, dict[Key, dict[str, Any]]]
MAX_PROBLEMS = 20


def _select(
    conn: psycopg.Connection[Any],
    schema: str,
    table: str,
    pk: list[str],
    columns: list[sql.Composable],
    keys: list[Key] | None,
) -> dict[Key, tuple[Any, ...]]:
    pk_cols = sql.SQL(", ").join(sql.Identifier(c) for c in pk)
    query = sql.SQL("SELECT {}, {} FROM {}").format(
        pk_cols,
        sql.SQL(", ").join(columns) if columns else sql.SQL("NULL"),
        sql.Identifier(schema, table),
    )
    rows = conn.execute(query).fetchall()
    wanted = set(keys) if keys is not None else None
    out = {}
    for row in rows:
        key = tuple(row[: len(pk)])
        if wanted is None or key in wanted:
            out[key] = tuple(row[len(pk) :])
    return out


def snapshot(conn: psycopg.Connection[Any], schema: str, metadata: MetaData) -> Snapshot:
    """Every row of every table of ``metadata`` as the version in ``schema`` reads it."""
    out: Snapshot = {}
    for table in metadata.sorted_tables:
        cols = [c.name for c in table.columns]
        pk = [c.name for c in table.primary_key.columns]
        try:
            rows = _select(conn, schema, table.name, pk, [sql.Identifier(c) for c in cols], None)
        except psycopg.Error:
            conn.rollback() if not conn.autocommit else None
            continue
        out[table.name] = {k: dict(zip(cols, v, strict=True)) for k, v in rows.items()}
    return out


def diff_snapshots(
    before: Snapshot, after: Snapshot, *, what: str, skip: set[tuple[str, Key]]
) -> list[str]:
    """Rows and values that changed between two snapshots of one version (except ``skip``)."""
    problems: list[str] = []
    for table, rows in before.items():
        now = after.get(table, {})
        for key, values in rows.items():
            if (table, key) in skip:
                continue
            if key not in now:
                problems.append(f"{what}: row {table} {key} is gone")
            else:
                for column, value in values.items():
                    if column in now[key] and not same(value, now[key][column]):
                        problems.append(
                            f"{what}: {table}.{column} of row {key} changed from "
                            f"{show(value)} to {show(now[key][column])}"
                        )
            if len(problems) >= MAX_PROBLEMS:
                return problems
    return problems


def pending_rows(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    """Tables whose rows are still marked as needing their new-version values."""
    problems = []
    tables = conn.execute(
        "SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND a.attname = %s AND c.relkind IN ('r', 'p')"
        " AND NOT a.attisdropped",
        (schema, PENDING),
    ).fetchall()
    for (table,) in tables:
        row = conn.execute(
            sql.SQL("SELECT count(*) FILTER (WHERE {}), count(*) FROM {}").format(
                sql.Identifier(PENDING), sql.Identifier(schema, table)
            )
        ).fetchone()
        assert row is not None
        if row[0]:
            problems.append(
                f"the backfill left {row[0]:,} of {row[1]:,} rows of {table} unconverted "
                f"(still marked {PENDING}): the new version reads missing values for them"
            )
    return problems


def pending_keys(
    conn: psycopg.Connection[Any], schema: str, old_md: MetaData
) -> dict[str, set[Key]]:
    """Rows not converted yet (before the backfill): the new version legitimately reads
    nothing computed for them."""
    out: dict[str, set[Key]] = {}
    for table in old_md.sorted_tables:
        pk = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.primary_key.columns)
        query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
            pk, sql.Identifier(schema, table.name), sql.Identifier(PENDING)
        )
        try:
            out[table.name] = {tuple(r) for r in conn.execute(query)}
        except psycopg.errors.UndefinedColumn:
            continue
        except psycopg.errors.UndefinedTable:
            continue
    return out


def cross_read(
    conn: psycopg.Connection[Any],
    vmap: VersionMap,
    tracker: Tracker,
    *,
    exclude: dict[str, set[Key]] | None = None,
    old_schema: str,
    new_schema: str,
    old_md: MetaData,
    new_md: MetaData,
) -> list[str]:
    """Old-version rows as the new version reads them (``up``) and new-version rows as the old
    version reads them (``down``)."""
    problems: list[str] = []
    live = tracker.live()
    for link in vmap.tables.values():
        old_t, new_t = old_md.tables.get(link.old), new_md.tables.get(link.new)
        if old_t is None or new_t is None:
            continue
        skip = (exclude or {}).get(link.old, set())
        by_old = {
            k: w
            for (ident, k), w in live.items()
            if ident == link.old and w.version == "old" and k not in skip
        }
        by_new = {
            k: w for (ident, k), w in live.items() if ident == link.old and w.version == "new"
        }
        if by_old:
            problems += _forward(conn, link, old_t, new_t, by_old, old_schema, new_schema)
        if by_new:
            problems += _backward(conn, link, old_t, new_t, by_new, old_schema, new_schema)
        if len(problems) >= MAX_PROBLEMS:
            break
    return problems[:MAX_PROBLEMS]


def _expr(text: str) -> sql.Composable:
    return sql.SQL("({})").format(sql.SQL(text))  # the migration's own, engine-validated SQL


def _forward(
    conn: psycopg.Connection[Any],
    link: TableLink,
    old_t: Table,
    new_t: Table,
    rows: dict[Key, Any],
    old_schema: str,
    new_schema: str,
) -> list[str]:
    keys = list(rows)
    pk_old = [c.name for c in old_t.primary_key.columns]
    pk_new = [link.new_name(c) or c for c in pk_old]
    # (new column, expected expression over the old row) for every column with a value to check
    checks: list[tuple[str, sql.Composable, str]] = []
    for c in link.columns:
        if c.new in new_t.columns and c.old in old_t.columns:
            expr = _expr(c.up) if c.up else sql.Identifier(c.old)
            checks.append((c.new, expr, f"up: {c.up}" if c.up else f"old {c.old}"))
    for name, up in link.added.items():
        if name in new_t.columns and up is not None:
            checks.append((name, _expr(up), f"up: {up}"))
    if not checks:
        return []
    expected = _select(conn, old_schema, link.old, pk_old, [e for _, e, _ in checks], keys)
    actual = _select(
        conn, new_schema, link.new, pk_new, [sql.Identifier(n) for n, _, _ in checks], keys
    )
    return _mismatches(keys, expected, actual, checks, "old", link.old, "new", link.new)


def _mismatches(
    keys: list[Key],
    expected: dict[Key, Any],
    actual: dict[Key, Any],
    checks: list[tuple[str, sql.Composable, str]],
    writer: str,
    written_table: str,
    reader: str,
    read_table: str,
    also_fine: Callable[[Key, int], bool] | None = None,
) -> list[str]:
    """Rows ``writer`` wrote that ``reader`` misses or reads differently from ``expected``;
    ``also_fine(key, i)`` may accept a value that differs."""
    problems: list[str] = []
    for key in keys:
        if key not in actual:
            problems.append(
                f"row {written_table} {key} written by the {writer} version is missing in the "
                f"{reader} version"
            )
            continue
        if key not in expected:
            continue
        for i, (name, _, how) in enumerate(checks):
            want, got = expected[key][i], actual[key][i]
            if not same(want, got) and not (also_fine and also_fine(key, i)):
                problems.append(
                    f"the {reader} version reads {read_table}.{name} = {show(got)} for row {key} "
                    f"written by the {writer} version; expected {show(want)} ({how})"
                )
        if len(problems) >= MAX_PROBLEMS:
            break
    return problems


def _backward(
    conn: psycopg.Connection[Any],
    link: TableLink,
    old_t: Table,
    new_t: Table,
    rows: dict[Key, Any],
    old_schema: str,
    new_schema: str,
) -> list[str]:
    keys = list(rows)
    pk_new = [c.name for c in new_t.primary_key.columns]
    pk_old = [link.old_name(c) or c for c in pk_new]
    checks: list[tuple[str, sql.Composable, str]] = []
    for c in link.columns:
        if c.new in new_t.columns and c.old in old_t.columns:
            expr = _expr(c.down) if c.down else sql.Identifier(c.new)
            checks.append((c.old, expr, f"down: {c.down}" if c.down else f"new {c.new}"))
    if not checks:
        return []
    expected = _select(conn, new_schema, link.new, pk_new, [e for _, e, _ in checks], keys)
    actual = _select(
        conn, old_schema, link.old, pk_old, [sql.Identifier(n) for n, _, _ in checks], keys
    )
    # Also consistent: the old value maps through `up` to what the new version stores (an
    # update that rewrote a column with the value it already had does not recompute `down`).
    ups = [c for c in link.columns if c.new in new_t.columns and c.old in old_t.columns]
    through_up = _select(
        conn,
        old_schema,
        link.old,
        pk_old,
        [_expr(c.up) if c.up else sql.Identifier(c.old) for c in ups],
        keys,
    )
    stored = _select(conn, new_schema, link.new, pk_new, [sql.Identifier(c.new) for c in ups], keys)

    def consistent_through_up(key: Key, i: int) -> bool:
        return key in through_up and key in stored and same(through_up[key][i], stored[key][i])

    return _mismatches(
        keys, expected, actual, checks, "new", link.new, "old", link.old, consistent_through_up
    )


def lost_values(
    conn: psycopg.Connection[Any],
    vmap: VersionMap,
    *,
    exclude: dict[str, set[Key]] | None = None,
    old_schema: str,
    new_schema: str,
    old_md: MetaData,
    new_md: MetaData,
) -> list[str]:
    """A value the old version holds that the new version reads as NULL was lost in ``up``."""
    problems: list[str] = []
    for link in vmap.tables.values():
        old_t, new_t = old_md.tables.get(link.old), new_md.tables.get(link.new)
        if old_t is None or new_t is None:
            continue
        pairs = [c for c in link.columns if c.old in old_t.columns and c.new in new_t.columns]
        pk_old = [c.name for c in old_t.primary_key.columns]
        pk_new = [link.new_name(c) or c for c in pk_old]
        if not pairs:
            continue
        old_rows = _select(
            conn, old_schema, link.old, pk_old, [sql.Identifier(c.old) for c in pairs], None
        )
        new_rows = _select(
            conn, new_schema, link.new, pk_new, [sql.Identifier(c.new) for c in pairs], None
        )
        skip = (exclude or {}).get(link.old, set())
        for key, values in old_rows.items():
            now = new_rows.get(key)
            if now is None or key in skip:
                continue
            for i, c in enumerate(pairs):
                if values[i] is not None and now[i] is None:
                    problems.append(
                        f"value lost: {link.old}.{c.old} = {show(values[i])} of row {key} reads as "
                        f"NULL in the new version's {link.new}.{c.new}"
                        + (f" (up: {c.up})" if c.up else "")
                    )
                    if len(problems) >= MAX_PROBLEMS:
                        return problems
    return problems
