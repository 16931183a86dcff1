"""A batch whose COMMIT is still in flight when the network drops (a slow synchronous commit, a
pgbouncer restart) must not be applied again by the retry: the retry reads the range's cursor
with FOR SHARE, which waits for that transaction and sees its outcome."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from expandcontract.backfill import run_backfill
from tests.backfill.conftest import fixed
from tests.backfill.proxy import Proxy


def test_a_once_batch_cut_during_its_commit_is_applied_exactly_once(
    ec_db: Any, ec_conn: psycopg.Connection[Any]
) -> None:
    ec_conn.execute("CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)")
    ec_conn.execute("INSERT INTO t (id) SELECT i FROM generate_series(1, 200) i")
    # A deferred trigger that makes COMMIT take 3 s: time to cut the network mid-COMMIT.
    ec_conn.execute(
        "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS"
        " 'BEGIN IF NEW.id = 1 AND NEW.n = 1 THEN PERFORM pg_sleep(3); END IF; RETURN NULL; END'"
    )
    ec_conn.execute(
        "CREATE CONSTRAINT TRIGGER slow AFTER UPDATE ON t DEFERRABLE INITIALLY DEFERRED"
        " FOR EACH ROW EXECUTE FUNCTION slow_commit()"
    )
    proxy, url = Proxy.in_front_of(ec_db.url)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = run_backfill(
                url, table="t", assignments={"n": "n + 1"}, name="once",
                settings=fixed(1000, pause_on_blocking=False),
            )  # fmt: skip
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    try:
        _cut_during_the_slow_commit(ec_conn, proxy)
    finally:
        thread.join(60)
        proxy.close()
    assert "error" not in outcome, outcome["error"]
    assert outcome["result"].mode == "once"
    assert ec_conn.execute("SELECT n, count(*) FROM t GROUP BY n").fetchall() == [(1, 200)]


def _cut_during_the_slow_commit(ec_conn: psycopg.Connection[Any], proxy: Proxy) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        sleeping = ec_conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'ec-backfill:%%'"
            " AND wait_event = 'PgSleep'"
        ).fetchone()
        if sleeping and sleeping[0]:
            break
        time.sleep(0.02)
    else:
        raise AssertionError("the batch never reached its slow COMMIT")
    proxy.cut_all()
