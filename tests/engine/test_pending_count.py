"""`ec status` reads pending rows while `ec complete` may be dropping the marker column: a
reading taken between the two says "unknown" instead of failing the status."""

from __future__ import annotations

from psycopg import sql

from expandcontract.engine.backfill import pending_count
from expandcontract.engine.triggers import pending_index_name
from expandcontract.pytest_plugin import EcDatabase


def test_a_marker_dropped_after_the_index_was_read_is_unknown_not_an_error(
    ec_db: EcDatabase,
) -> None:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, _ec_pending boolean)")
        index = sql.Identifier(pending_index_name("t"))
        conn.execute(sql.SQL("CREATE INDEX {} ON t (id) WHERE _ec_pending").format(index))
        conn.execute("INSERT INTO t VALUES (1, true), (2, false)")
        assert pending_count(conn, "public", "t") == 1
        # What contract leaves for an instant: the index read as valid, the column gone. An
        # index on another column stands in for the one PostgreSQL drops with the column.
        conn.execute(sql.SQL("DROP INDEX {}").format(index))
        conn.execute(sql.SQL("CREATE INDEX {} ON t (id)").format(index))
        conn.execute("ALTER TABLE t DROP COLUMN _ec_pending")
        assert pending_count(conn, "public", "t") is None
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)  # session still usable
