"""--set and --where are each exactly one SQL expression: text that tries to smuggle in a
second statement is refused before anything runs (a victim table keeps its rows, a canary
sequence - non-transactional, so even a rolled-back nextval would show - does not move), and
the batch statements themselves can never run a second statement."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from expandcontract.backfill import BackfillInputError, BackfillSpec, run_backfill
from expandcontract.backfill.api import _ensure_ledger
from expandcontract.backfill.batches import ctid_batch, keyset_batch
from expandcontract.backfill.keys import KeyInfo
from expandcontract.backfill.statements import BatchSql, Bounds
from expandcontract.backfill.store import PHASE_BACKFILL, Store
from expandcontract.backfill.validate import resolve
from expandcontract.cli import cli
from expandcontract.runner.runner import connect
from tests.backfill.conftest import FAST

SMUGGLE = "SELECT nextval('canary'); COMMIT; DELETE FROM victim; CREATE TABLE pwned ()"

HOSTILE_SET = [
    f"n = 1) WHERE false; {SMUGGLE}; UPDATE t SET n = (1",
    f"n = 1; {SMUGGLE}",
    f"n = (1); {SMUGGLE}; SELECT (1)",
    f"n = 1 /* */; {SMUGGLE}",
    "n = 1 -- the rest of the generated line is swallowed",
    f"n = $$; {SMUGGLE}; $$",
]
HOSTILE_WHERE = [
    f"true); {SMUGGLE}; SELECT (true",
    f"true; {SMUGGLE}",
    "n IS NULL) OR (true",
    "true -- comment",
]


@pytest.fixture
def victim(ec_conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    ec_conn.execute("CREATE TABLE t (id int PRIMARY KEY, n int)")
    ec_conn.execute("INSERT INTO t SELECT g, 0 FROM generate_series(1, 100) g")
    ec_conn.execute("CREATE TABLE victim (id int)")
    ec_conn.execute("INSERT INTO victim SELECT generate_series(1, 1000)")
    ec_conn.execute("CREATE SEQUENCE canary")
    return ec_conn


def assert_untouched(conn: psycopg.Connection[Any], before: list[Any]) -> None:
    assert conn.execute("SELECT count(*) FROM victim").fetchone() == (1000,)
    assert conn.execute("SELECT last_value, is_called FROM canary").fetchone() == (1, False)
    assert conn.execute("SELECT to_regclass('pwned')").fetchone() == (None,)
    assert snapshot(conn) == before


def snapshot(conn: psycopg.Connection[Any]) -> list[Any]:
    return conn.execute("SELECT id, xmin::text, n FROM t ORDER BY id").fetchall()


@pytest.mark.parametrize("assignment", HOSTILE_SET)
def test_hostile_set_is_refused_with_nothing_executed(
    ec_db: Any, victim: psycopg.Connection[Any], assignment: str
) -> None:
    before = snapshot(victim)
    result = CliRunner().invoke(
        cli,
        ["backfill", "run", "-t", "t", "--set", assignment, "--name", "x"],
        env={"EC_DATABASE_URL": ec_db.url},
        catch_exceptions=False,
    )
    assert_untouched(victim, before)
    assert result.exit_code == 2, result.output
    assert "--set n" in " ".join(result.output.split())


@pytest.mark.parametrize("where", HOSTILE_WHERE)
def test_hostile_where_is_refused_with_nothing_executed(
    ec_db: Any, victim: psycopg.Connection[Any], where: str
) -> None:
    before = snapshot(victim)
    with pytest.raises(BackfillInputError) as info:
        run_backfill(ec_db.url, table="t", assignments={"n": "1"}, where=where, settings=FAST)
    assert_untouched(victim, before)
    assert info.value.exit_code == 2
    assert "--where" in info.value.message


def test_hostile_column_name_is_only_ever_an_identifier(
    ec_db: Any, victim: psycopg.Connection[Any]
) -> None:
    before = snapshot(victim)
    with pytest.raises(BackfillInputError, match=r"does not exist in public\.t"):
        run_backfill(
            ec_db.url,
            table="t",
            assignments={f'n = 1; {SMUGGLE}; --"': "1"},
            settings=FAST,
        )
    assert_untouched(victim, before)


def test_a_spec_constructed_without_build_is_checked_again(
    ec_db: Any, victim: psycopg.Connection[Any]
) -> None:
    before = snapshot(victim)
    unchecked = BackfillSpec(table="t", assignments=(("n", f"1) WHERE false; {SMUGGLE}; (1"),))
    with connect(ec_db.url) as conn, pytest.raises(BackfillInputError, match="--set n ="):
        resolve(conn, unchecked)
    unchecked = BackfillSpec(table="t", assignments=(("n", "1"),), where=f"true; {SMUGGLE}")
    with connect(ec_db.url) as conn, pytest.raises(BackfillInputError, match="--where"):
        resolve(conn, unchecked)
    assert_untouched(victim, before)


# Completes the batch UPDATE's WHERE clause, then a DELETE, then a statement that swallows
# the rest of the generated text: three valid statements.
PAYLOAD = (
    "(false) RETURNING 1) SELECT count(*) FROM _ec_upd; DELETE FROM victim;"
    " WITH _ec_upd AS (UPDATE public.t SET n = 1 WHERE (true)"
)


class UncheckedBatch(BatchSql):
    """A batch whose filter skipped every check (as a bug elsewhere might splice it)."""

    def needs_work(self) -> sql.Composable:
        return sql.SQL(PAYLOAD)  # type: ignore[arg-type]  # deliberately unchecked text


@pytest.mark.parametrize("by", ["keyset", "ctid"])
def test_batch_statements_never_run_a_second_statement(
    ec_db: Any, victim: psycopg.Connection[Any], by: str
) -> None:
    """The batch statements are sent with parameters (extended protocol): PostgreSQL refuses
    a second statement in them. The same text sent through the simple protocol would have
    deleted the victim's rows (shown in a transaction that is rolled back)."""
    before = snapshot(victim)
    _ensure_ledger(ec_db.url, "expandcontract")
    store = Store("expandcontract", "unchecked", "test:1")
    key = KeyInfo(("id",), ("integer",), "primary key")
    if by == "ctid":
        key = KeyInfo((), (), "ctid")
    table = sql.Identifier("public", "t")
    batch = UncheckedBatch(table, key, BackfillSpec(table="t", assignments=(("n", "1"),)), {})
    with connect(ec_db.url) as conn:
        statement = (
            batch.ctid_update()
            if key.is_ctid
            else batch.keyset_update(Bounds(cursor=None, lo=None, hi=None))
        )
        with conn.transaction(force_rollback=True):
            psycopg.ClientCursor(conn).execute(statement, {"lo": "(0,0)", "hi": "(9,0)", "u0": 1})
            assert conn.execute("SELECT count(*) FROM victim").fetchone() == (0,)
        with conn.transaction():
            store.create_or_check(
                conn, spec={}, checksum="x", table_schema="public", table_name="t",
                key=key.as_dict(), key_kind=key.kind, migration_id=None, total_estimate=100,
            )  # fmt: skip
            store.add_ranges(conn, PHASE_BACKFILL, [(0, None) if key.is_ctid else (None, None)])
        claim = store.claim(conn, PHASE_BACKFILL, 30)
        assert claim is not None
        common: dict[str, Any] = {"store": store, "lock_ms": 500, "stmt_ms": 5000,
                                  "lease_s": 30, "attempts": 1, "throttle_ms": 0.0}  # fmt: skip
        with pytest.raises(psycopg.errors.SyntaxError, match="multiple commands"):
            if key.is_ctid:
                ctid_batch(conn, batch, claim, 0, 100, rows_per_page=50, **common)
            else:
                keyset_batch(conn, batch, claim, None, 100, **common)
    assert_untouched(victim, before)
