"""Each incompatibility the verifier exists for must fail verification with a precise message."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import MetaData, SmallInteger

from expandcontract.config import Settings
from expandcontract.dsn import to_psycopg
from expandcontract.engine.phases import BackfillFn
from expandcontract.engine.plan import BackfillJob
from expandcontract.ledger import MigrationRecord
from expandcontract.operations.state import PENDING
from tests.verify.apps import shop_v1, shop_v2, shop_v2_typo
from tests.verify.conftest import Verify, details, failures


def test_new_version_expects_a_column_the_migration_does_not_produce(verify: Verify) -> None:
    report = verify("shop_good", new=shop_v2_typo.metadata)
    assert not report.compatible
    static = failures(report, phase="after expand", version="new", kind="static")
    assert [c.detail for c in static] == [
        "missing column: the new version uses users.email_addr, which public_shop_good.users "
        "does not have (it has: id, email_address, nickname, amount, created_at, active, ratio, "
        "token, status)"
    ]
    dynamic = failures(report, phase="after expand", version="new", kind="dynamic")
    assert any(
        'column "email_addr" of relation "users" does not exist' in c.detail for c in dynamic
    )
    assert all(c.statement for c in dynamic)
    assert not failures(report, version="old"), details(failures(report, version="old"))


def test_raw_sql_dropping_a_column_the_old_version_uses(verify: Verify) -> None:
    report = verify("sql_drops_column")
    migration = failures(report, kind="migration")
    assert len(migration) == 1 and migration[0].phase == "expand"
    assert 'column "day" does not exist' in migration[0].detail
    old = failures(report, phase="after failed expand", version="old")
    assert any(
        c.kind == "static"
        and c.detail.startswith("missing column: the old version uses orders.day")
        for c in old
    ), details(old)
    assert any(c.kind == "dynamic" and "INSERT INTO orders" in (c.statement or "") for c in old)


def test_raw_sql_renaming_a_column_the_old_version_uses(verify: Verify) -> None:
    report = verify("sql_renames_column")
    static = failures(report, phase="after failed expand", version="old", kind="static")
    assert [c.detail for c in static] == [
        "missing column: the old version uses users.nickname, which public.users does not have "
        "(it has: id, email, nick, amount, created_at, active, ratio, token)"
    ]


def test_not_null_column_without_default_the_old_version_never_writes(verify: Verify) -> None:
    report = verify("sql_not_null")
    static = failures(report, phase="after expand", version="old", kind="static")
    assert [c.detail for c in static] == [
        "NOT NULL without default: users.tenant_id requires a value on every INSERT, but the "
        "old version never writes it"
    ]
    dynamic = failures(report, phase="after expand", version="old", kind="dynamic")
    assert dynamic and dynamic[0].statement and dynamic[0].statement.startswith("INSERT INTO users")
    assert 'null value in column "tenant_id" of relation "users"' in dynamic[0].detail


def test_type_narrowing_the_old_versions_values_overflow(verify: Verify) -> None:
    new = MetaData()
    for table in shop_v1.metadata.sorted_tables:
        table.to_metadata(new)
    new.tables["users"].c.amount.type = SmallInteger()
    report = verify("narrow_amount", new=new)
    static = failures(report, phase="after expand", version="old", kind="static")
    assert [c.detail for c in static] == [
        "users.amount -> users.amount: the old version's values must fit the new column "
        "(narrowing: the old version declares integer, the column is smallint)"
    ]
    migration = failures(report, kind="migration")
    assert [c.phase for c in migration] == ["backfill"]
    assert "smallint out of range" in migration[0].detail


def test_unique_index_the_old_versions_data_violates(verify: Verify) -> None:
    report = verify("unique_nickname")
    migration = failures(report, kind="migration")
    assert [c.phase for c in migration] == ["expand"]
    assert 'could not create unique index "users_nickname_key"' in migration[0].detail


def test_check_constraint_the_old_versions_writes_violate(verify: Verify) -> None:
    report = verify("check_amount")
    static = failures(report, phase="after expand", version="old", kind="static")
    assert [c.detail for c in static] == [
        "new check constraint users_amount_positive on users (CHECK ((amount > 0)) NOT VALID): "
        "the old version does not declare it and writes these columns, so its writes can "
        "violate it"
    ]
    dynamic = failures(report, phase="after expand", version="old", kind="dynamic")
    assert any('violates check constraint "users_amount_positive"' in c.detail for c in dynamic)


def test_contract_while_the_old_version_is_still_live(verify: Verify) -> None:
    report = verify("shop_good", new=shop_v2.Base, contract_before_switch=True)
    assert "after switch" not in report.phases
    static = failures(report, phase="after contract", version="old", kind="static")
    prefix = "contract ran while the old version is still live (before the switch); "
    assert static and all(c.detail.startswith(prefix) for c in static)
    assert any(
        "missing column: the old version uses users.email, which public.users does not have"
        in c.detail
        for c in static
    ), details(static)
    assert failures(report, phase="after contract", version="old", kind="dynamic")
    assert not failures(report, version="new"), details(failures(report, version="new"))


def partial_backfill(url: str, settings: Settings) -> BackfillFn:
    """A custom backfill job with a bug: it converts only the first ten rows of each table."""

    def run(job: BackfillJob, record: MigrationRecord) -> None:
        with psycopg.connect(to_psycopg(url), autocommit=True) as conn:
            conn.execute(
                sql.SQL("UPDATE {} SET {} = false WHERE id <= 10").format(
                    sql.Identifier(job.schema, job.table), sql.Identifier(PENDING)
                )
            )

    return run


def test_backfill_that_leaves_rows_unconverted(verify: Verify) -> None:
    report = verify("shop_good", new=shop_v2.Base, backfill=partial_backfill)
    invariants = failures(report, phase="during backfill", version="new", kind="invariants")
    texts = [c.detail for c in invariants]
    assert any(
        t.startswith("the backfill left ")
        and " rows of users unconverted (still marked _ec_pending)" in t
        for t in texts
    ), texts
    assert any(t.startswith("the new version reads users.amount = None for row") for t in texts)
    # what to do: nothing in `up` fails on those rows, the job never wrote them
    assert any(
        t.endswith(
            "a backfill must write every row (ec's dual-write trigger computes the "
            "new version's values when a row is written)"
        )
        for t in texts
    ), texts
    # contract computes the rows still pending before it swaps the columns: nothing fails
    # there, and values it fills in are not taken for values lost
    assert not failures(report, kind="migration"), details(failures(report, kind="migration"))
    assert not failures(report, phase="during contract"), details(report.failures)


def test_failing_user_check_is_reported(verify: Verify) -> None:
    def no_negative_amounts(conn: Any) -> None:
        count = conn.exec_driver_sql("SELECT count(*) FROM users WHERE amount < 0").scalar()
        assert count == 0, f"{count} users have a negative amount"

    report = verify("status_only", old_check=no_negative_amounts)
    user = failures(report, version="old", kind="user")
    assert user and user[0].phase == "before expand"
    assert "no_negative_amounts failed: AssertionError:" in user[0].detail
    assert "users have a negative amount" in user[0].detail
