"""A table that counts the writes of each row (a BEFORE UPDATE trigger increments ``writes``),
for tests that prove a backfill changes every row exactly once."""

from __future__ import annotations

from typing import Any

import psycopg


def counted_table(
    conn: psycopg.Connection[Any], rows: int, *, primary_key: bool = True, name: str = "t"
) -> None:
    key = "PRIMARY KEY" if primary_key else "NOT NULL"
    conn.execute(
        f"CREATE TABLE {name} (id int {key}, n int NOT NULL DEFAULT 0, n2 int,"
        " other int NOT NULL DEFAULT 0, ts timestamptz, token uuid, seq bigint,"
        " writes int NOT NULL DEFAULT 0)"
    )
    conn.execute(
        "CREATE OR REPLACE FUNCTION count_writes() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN NEW.writes := OLD.writes + 1; RETURN NEW; END $$"
    )
    conn.execute(
        f"CREATE TRIGGER count_writes BEFORE UPDATE ON {name}"
        " FOR EACH ROW EXECUTE FUNCTION count_writes()"
    )
    conn.execute(f"INSERT INTO {name} (id) SELECT generate_series(1, %s)", (rows,))
    conn.execute(f"ANALYZE {name}")


def histogram(conn: psycopg.Connection[Any], column: str, name: str = "t") -> dict[int, int]:
    """value -> number of rows, e.g. {1: 10000} when every row has exactly 1."""
    rows = conn.execute(f"SELECT {column}, count(*) FROM {name} GROUP BY 1 ORDER BY 1").fetchall()
    return {int(v): int(c) for v, c in rows}


def snapshot(conn: psycopg.Connection[Any], name: str = "t") -> list[tuple[Any, ...]]:
    """Every row version (xmin) and value: equal before and after means nothing was written."""
    return conn.execute(f"SELECT id, xmin::text, n, n2, writes FROM {name} ORDER BY id").fetchall()
