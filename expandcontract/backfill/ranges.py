"""Split the key space into ranges for parallel workers: quantiles of the key (sampled on
large tables, so planning costs a bounded read), or equal page spans for ctid."""

from __future__ import annotations

from psycopg import sql

from expandcontract.backfill.keys import KeyInfo
from expandcontract.backfill.statements import Cursor
from expandcontract.runner.runner import Connection

_SAMPLE_ROWS = 20_000


def table_size(conn: Connection, oid: int) -> tuple[float, int]:
    """(reltuples estimate, current number of pages)."""
    row = conn.execute(
        "SELECT reltuples::float8,"
        " (pg_relation_size(%s::oid::regclass) / current_setting('block_size')::int)::bigint"
        " FROM pg_class WHERE oid = %s",
        (oid, oid),
    ).fetchone()
    assert row is not None
    return float(row[0]), int(row[1])


def estimate_rows(conn: Connection, table: sql.Composable, oid: int) -> int:
    reltuples, pages = table_size(conn, oid)
    if reltuples >= 0 and not (reltuples == 0 and pages > 0):
        return int(reltuples)
    if pages < 1000:  # never analyzed but small: counting is cheap
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
        return int(row[0]) if row else 0
    return pages * 100  # rough until ANALYZE; progress refines it by key position


def plan_ranges(
    conn: Connection, table: sql.Composable, oid: int, key: KeyInfo, count: int
) -> list[tuple[Cursor, Cursor]]:
    """``count`` ranges [lo, hi) covering the whole key space (open at both ends)."""
    if count <= 1:
        return [(None, None)] if not key.is_ctid else [(0, None)]
    reltuples, pages = table_size(conn, oid)
    if key.is_ctid:
        step = max(1, -(-pages // count))
        edges = list(range(step, pages, step))
        starts: list[int] = [0, *edges]
        return [(lo, starts[i + 1] if i + 1 < len(starts) else None) for i, lo in enumerate(starts)]
    boundaries = _key_boundaries(conn, table, key, count, reltuples)
    out: list[tuple[Cursor, Cursor]] = []
    lo: Cursor = None
    for b in boundaries:
        out.append((lo, b))
        lo = b
    out.append((lo, None))
    return out


def _key_boundaries(
    conn: Connection, table: sql.Composable, key: KeyInfo, count: int, reltuples: float
) -> list[Cursor]:
    cols = [sql.Identifier(c) for c in key.columns]
    keys = sql.SQL(", ").join(cols)
    source: sql.Composable = table
    if reltuples > _SAMPLE_ROWS * 2:
        pct = min(100.0, 100.0 * _SAMPLE_ROWS / reltuples)
        source = sql.SQL("{} TABLESAMPLE SYSTEM ({})").format(table, sql.Literal(pct))
    texts = sql.SQL(", ").join(sql.SQL("{}::text").format(c) for c in cols)
    rows = conn.execute(
        sql.SQL(
            "SELECT {texts} FROM (SELECT {keys}, row_number() OVER (ORDER BY {keys}) AS rn,"
            " count(*) OVER () AS total FROM {source}) s"
            " WHERE rn > 1 AND (rn - 1) %% greatest(1, ceil(total::numeric / %s))::bigint = 0"
            " ORDER BY rn"
        ).format(texts=texts, keys=keys, source=source),
        (count,),
    ).fetchall()
    boundaries: list[Cursor] = []
    for r in rows[: count - 1]:
        value: list[str] = [str(v) for v in r]
        if not boundaries or boundaries[-1] != value:
            boundaries.append(value)
    return boundaries
