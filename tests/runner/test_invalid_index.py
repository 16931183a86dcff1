"""CREATE INDEX CONCURRENTLY leaves an INVALID index when it fails; the runner cleans it up."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from expandcontract.errors import StepFailed
from expandcontract.events import StatementEvent
from expandcontract.pytest_plugin import EcDatabase
from expandcontract.runner import RetryPolicy, SafeRunner, Step


def _index_state(conn: psycopg.Connection[Any], name: str) -> bool | None:
    row = conn.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relname = %s",
        (name,),
    ).fetchone()
    return None if row is None else bool(row[0])


def _build(name: str, unique: bool = False) -> Step:
    return Step.of(
        f"create index {name}",
        sql.SQL("CREATE {}INDEX CONCURRENTLY {} ON accounts (balance)").format(
            sql.SQL("UNIQUE " if unique else ""), sql.Identifier(name)
        ),
        creates_index=("public", name),
        statement_timeout_ms=0,
    )


def test_failed_unique_build_leaves_no_invalid_index(ec_db: EcDatabase, table: str) -> None:
    events: list[StatementEvent] = []
    with SafeRunner(ec_db.url, sink=events.append) as runner, pytest.raises(StepFailed) as info:
        runner.run(_build("accounts_balance_key", unique=True))
    assert "23505" in str(info.value)
    assert events[0].transactional is False  # CONCURRENTLY runs in autocommit
    with ec_db.connect() as conn:
        assert _index_state(conn, "accounts_balance_key") is None


def test_leftover_invalid_index_from_a_crash_is_dropped_before_building(
    ec_db: EcDatabase, table: str
) -> None:
    with ec_db.connect() as conn:
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "CREATE UNIQUE INDEX CONCURRENTLY accounts_balance_idx ON accounts (balance)"
            )
        assert _index_state(conn, "accounts_balance_idx") is False  # what a crash leaves
    with SafeRunner(ec_db.url, sink=None) as runner:
        runner.run(_build("accounts_balance_idx"))
    with ec_db.connect() as conn:
        assert _index_state(conn, "accounts_balance_idx") is True


def test_lock_timeout_mid_build_drops_the_invalid_index_and_retries(
    ec_db: EcDatabase, table: str, blocker: Any
) -> None:
    # An open writing transaction: CIC registers the index, then waits for this writer and
    # times out, leaving an INVALID index behind each time until the writer commits.
    writer = blocker("UPDATE accounts SET email = email WHERE id = 1", app="slow-writer")
    writer.release_after(1.0)
    events: list[StatementEvent] = []
    policy = RetryPolicy(lock_timeout_ms=150, max_attempts=50, max_total_ms=30_000)
    with SafeRunner(ec_db.url, policy=policy, sink=events.append) as runner:
        result = runner.run(_build("accounts_balance_idx"))
    assert result.attempts > 1
    assert any(e.outcome == "retry" and e.sqlstate == "55P03" for e in events)
    assert any(b.pid == writer.pid for e in events for b in e.blockers)
    with ec_db.connect() as conn:
        assert _index_state(conn, "accounts_balance_idx") is True
        invalid = conn.execute(
            "SELECT count(*) FROM pg_index WHERE NOT indisvalid AND indrelid = 'accounts'::regclass"
        ).fetchone()
    assert invalid == (0,)


def test_concurrently_statements_run_outside_a_transaction(ec_db: EcDatabase, table: str) -> None:
    events: list[StatementEvent] = []
    step = Step.of(
        "build",
        sql.SQL("CREATE INDEX CONCURRENTLY accounts_email_idx ON accounts (email)"),
    )
    with SafeRunner(ec_db.url, sink=events.append) as runner:
        runner.run(step)
        assert not step.is_transactional(runner.conn)
    mixed = Step.of(
        "mixed", sql.SQL("SELECT 1"), sql.SQL("DROP INDEX CONCURRENTLY accounts_email_idx")
    )
    with SafeRunner(ec_db.url, sink=None) as runner, pytest.raises(StepFailed, match="split"):
        runner.run(mixed)
