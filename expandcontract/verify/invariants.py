"""Cross-version invariants: a row written by the old version is read by the new one with
``up`` applied, and vice versa with ``down``; no row and no value is lost across backfill and
contract; the backfill leaves no row unconverted."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import MetaData

from expandcontract.operations.state import PENDING
from expandcontract.verify.compare import same, show
from expandcontract.verify.derived import Derivation, ExpressionFailed, Schemas, evaluate
from expandcontract.verify.mapping import VersionMap
from expandcontract.verify.tracker import Key, Tracker, Written

Snapshot = dict[str, dict[Key, dict[str, Any]]]
Problem = tuple[str, str]  # the version that reads it wrong, what is wrong
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


def pending_rows(
    conn: psycopg.Connection[Any],
    schema: str,
    derived: list[Derivation] | None = None,
    schemas: Schemas | None = None,
) -> list[str]:
    """Tables whose rows are still marked as needing their new-version values, and why: an
    ``up`` that fails on them (their data must be fixed, or ``up`` made total), or a backfill
    that never wrote them."""
    problems = []
    tables = conn.execute(
        "SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND a.attname = %s AND c.relkind IN ('r', 'p')"
        " AND NOT a.attisdropped",
        (schema, PENDING),
    ).fetchall()
    keys = pending_keys(conn, schema, schemas.old_md) if schemas is not None else {}
    for (table,) in tables:
        row = conn.execute(
            sql.SQL("SELECT count(*) FILTER (WHERE {}), count(*) FROM {}").format(
                sql.Identifier(PENDING), sql.Identifier(schema, table)
            )
        ).fetchone()
        assert row is not None
        if not row[0]:
            continue
        text = (
            f"the backfill left {row[0]:,} of {row[1]:,} rows of {table} unconverted "
            f"(still marked {PENDING}): the new version reads missing values for them"
        )
        cause = None
        if schemas is not None and derived:
            ups = [d for d in derived if d.source == "old" and d.old_table == table]
            cause = _failing_up(conn, ups, sorted(keys.get(table, ()))[:MAX_PROBLEMS], schemas)
        if cause is not None:
            text += f". {cause}"
        else:
            text += (
                "; a backfill must write every row (ec's dual-write trigger computes the new "
                "version's values when a row is written)"
            )
        problems.append(text)
    return problems


def _failing_up(
    conn: psycopg.Connection[Any], ups: list[Derivation], keys: list[Key], schemas: Schemas
) -> str | None:
    for d in ups:
        try:
            evaluate(conn, d, keys, schemas)
        except ExpressionFailed as failed:
            return failed.describe(schemas)
    return None


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
    derived: list[Derivation],
    *,
    schemas: Schemas,
    exclude: dict[str, set[Key]] | None = None,
) -> list[Problem]:
    """Rows one version wrote as the other version reads them: the same values in the columns
    both share, and in each derived column the expression over the writer's row as it is now,
    wherever the writer changed what the expression reads (or inserted the row)."""
    live = tracker.live()
    problems = _shared_columns(conn, vmap, live, schemas, exclude or {})
    for d in derived:
        if len(problems) >= MAX_PROBLEMS:
            break
        skip = (exclude or {}).get(d.old_table, set())
        rows = {
            k: w
            for (ident, k), w in live.items()
            if ident == d.old_table
            and w.version == d.source
            and k not in skip
            and (w.inserted or d.reads_any(w.values))
        }
        if not rows:
            continue
        try:
            results = evaluate(conn, d, list(rows), schemas)
        except ExpressionFailed as failed:
            problems.append((d.target, failed.describe(schemas)))
            continue
        for key, (want, got) in results.items():
            if same(want, got):
                continue
            w = rows[key]
            wrote = [c for c in sorted(d.reads or w.values) if c in w.values]
            why = "inserted the row" if w.inserted else "updated the row"
            if wrote:
                why += ", writing " + ", ".join(f"{d.table(d.source)}.{c}" for c in wrote)
            problems.append(
                (
                    d.target,
                    f"the {d.target} version reads {d.name} = {show(got)} for row {key} written "
                    f"by the {d.source} version; expected {show(want)} ({d.describe()}): the "
                    f"derived column does not follow the {d.source} version's row (it {why})",
                )
            )
            if len(problems) >= MAX_PROBLEMS:
                break
    return problems[:MAX_PROBLEMS]


def _shared_columns(
    conn: psycopg.Connection[Any],
    vmap: VersionMap,
    live: dict[tuple[str, Key], Written],
    schemas: Schemas,
    exclude: dict[str, set[Key]],
) -> list[Problem]:
    """Every tracked row is there for both versions, with the same value in every column
    they share (renamed or not)."""
    problems: list[Problem] = []
    for link in vmap.tables.values():
        old_t, new_t = schemas.old_md.tables.get(link.old), schemas.new_md.tables.get(link.new)
        if old_t is None or new_t is None:
            continue
        rows = {
            k: w
            for (ident, k), w in live.items()
            if ident == link.old and k not in exclude.get(link.old, set())
        }
        if not rows:
            continue
        pairs = [
            c
            for c in link.columns
            if not c.up and c.old in old_t.columns and c.new in new_t.columns
        ]
        pk_old = [c.name for c in old_t.primary_key.columns]
        pk_new = [link.new_name(c) or c for c in pk_old]
        keys = list(rows)
        old_rows = _select(
            conn, schemas.old, link.old, pk_old, [sql.Identifier(c.old) for c in pairs], keys
        )
        new_rows = _select(
            conn, schemas.new, link.new, pk_new, [sql.Identifier(c.new) for c in pairs], keys
        )
        for key, w in rows.items():
            reader, read_table = ("new", link.new) if w.version == "old" else ("old", link.old)
            if key not in (new_rows if reader == "new" else old_rows):
                problems.append(
                    (
                        reader,
                        f"row {link.old if w.version == 'old' else link.new} {key} written by "
                        f"the {w.version} version is missing in the {reader} version",
                    )
                )
                continue
            if key not in old_rows or key not in new_rows:
                continue
            for i, c in enumerate(pairs):
                old_value, new_value = old_rows[key][i], new_rows[key][i]
                if not same(old_value, new_value):
                    got, want = (
                        (new_value, old_value) if reader == "new" else (old_value, new_value)
                    )
                    name = c.new if reader == "new" else c.old
                    problems.append(
                        (
                            reader,
                            f"the {reader} version reads {read_table}.{name} = {show(got)} for "
                            f"row {key} written by the {w.version} version; expected "
                            f"{show(want)} (the same column: {link.old}.{c.old} is "
                            f"{link.new}.{c.new})",
                        )
                    )
            if len(problems) >= MAX_PROBLEMS:
                return problems
    return problems


def lost_values(
    conn: psycopg.Connection[Any],
    vmap: VersionMap,
    tracker: Tracker,
    *,
    exclude: dict[str, set[Key]] | None = None,
    schemas: Schemas,
) -> list[Problem]:
    """A column both versions see, NULL for one and a value for the other: a value the old
    version holds that ``up`` lost, or - on a row the new version wrote - a value ``down``
    made up for the new version's NULL."""
    problems: list[Problem] = []
    for link in vmap.tables.values():
        old_t = schemas.old_md.tables.get(link.old)
        new_t = schemas.new_md.tables.get(link.new)
        if old_t is None or new_t is None:
            continue
        pairs = [c for c in link.columns if c.old in old_t.columns and c.new in new_t.columns]
        pk_old = [c.name for c in old_t.primary_key.columns]
        pk_new = [link.new_name(c) or c for c in pk_old]
        if not pairs:
            continue
        old_rows = _select(
            conn, schemas.old, link.old, pk_old, [sql.Identifier(c.old) for c in pairs], None
        )
        new_rows = _select(
            conn, schemas.new, link.new, pk_new, [sql.Identifier(c.new) for c in pairs], None
        )
        skip = (exclude or {}).get(link.old, set())
        written_by_new = {
            k
            for (ident, k), w in tracker.live().items()
            if ident == link.old and w.version == "new"
        }
        for key, values in old_rows.items():
            now = new_rows.get(key)
            if now is None or key in skip:
                continue
            for i, c in enumerate(pairs):
                if values[i] is None or now[i] is not None:
                    continue
                if key in written_by_new and c.up:
                    down = c.down or c.new
                    problems.append(
                        (
                            "old",
                            f"the old version reads {link.old}.{c.old} = {show(values[i])} for "
                            f"row {key}, where the new version wrote NULL to {link.new}.{c.new}: "
                            f"down `{down}` makes up a value for NULL (least() and greatest() "
                            f"skip NULLs); keep NULL as NULL, e.g. CASE WHEN ... ELSE {c.new} "
                            "END",
                        )
                    )
                else:
                    problems.append(
                        (
                            "new",
                            f"value lost: {link.old}.{c.old} = {show(values[i])} of row {key} "
                            f"reads as NULL in the new version's {link.new}.{c.new}"
                            + (f" (up: {c.up})" if c.up else ""),
                        )
                    )
                if len(problems) >= MAX_PROBLEMS:
                    return problems
    return problems
