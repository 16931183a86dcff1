"""How ec's directives behave inside an `alembic upgrade` run: earlier revisions of the same run
are visible to ec, in both transaction layouts of env.py; a failure later in the run and a
crashed upgrade are resumed from ec's ledger; a backfill that is not verified blocks
`op.expand_contract_complete()` with the reason."""

from __future__ import annotations

import os
import subprocess
import time

import psycopg
import pytest

from tests.alembic_plugin.conftest import ALEMBIC, AlembicProject
from tests.alembic_plugin.test_ec_ops import (
    VERSION_SCHEMA,
    alembic_version,
    catalog_and_rows,
    ec_status,
    write_base,
    write_complete,
    write_expand,
)
from tests.engine.harness import Session


def per_migration_transactions(project: AlembicProject) -> None:
    env = project.dir / "env.py"
    text = env.read_text()
    configure = "connection=connection, target_metadata=target_metadata"
    assert configure in text
    env.write_text(text.replace(configure, f"{configure}, transaction_per_migration=True"))


@pytest.mark.parametrize("layout", ["one_transaction", "transaction_per_migration"])
def test_one_run_creates_expands_and_resumes_after_a_later_failure(
    alembic_project: AlembicProject, layout: str
) -> None:
    project, url = alembic_project, alembic_project.db.url
    if layout == "transaction_per_migration":
        per_migration_transactions(project)
    write_base(project, rows=500)
    write_expand(project)
    project.write_revision("0003", "0002", "op.execute('SELECT 1/0')")
    failed = project.cli("upgrade", "head", check=False)
    assert failed.returncode != 0 and "division by zero" in failed.stderr

    # ec saw the table 0001 created in the same run and expanded it; Alembic's transaction was
    # committed when op.expand_contract started, so 0001 (and its stamp) stayed. 0002's stamp
    # was written in the transaction that 0003's failure rolled back, unless each revision
    # has its own transaction.
    stamped = ["0001"] if layout == "one_transaction" else ["0002"]
    assert alembic_version(project) == stamped
    status = ec_status(url)
    assert status["migration"] == "0002" and status["pending_rows"] == {"public.items": 0}
    assert len(Session(url, VERSION_SCHEMA).rows("SELECT name, tier FROM items")) == 500

    project.write_revision("0003", "0002", "pass")
    project.cli("upgrade", "head")  # op.expand_contract again: resumed, already done
    assert alembic_version(project) == ["0003"]
    assert [m["name"] for m in ec_status(url)["migrations"]] == ["0002"]

    project.command("downgrade", "base")  # rollback and drop_table in one run
    assert alembic_version(project) == []
    with project.db.connect() as conn:
        gone = conn.execute(
            "SELECT to_regclass('public.items'), to_regnamespace(%s)", (VERSION_SCHEMA,)
        ).fetchone()
    assert gone == (None, None)
    (record,) = ec_status(url)["migrations"]
    assert record["phases"]["rollback"]["status"] == "done" and not record["active"]


def _wait_for(conn: psycopg.Connection[object], query: str, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = conn.execute(query).fetchone()
        if row and row[0]:
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_upgrade_killed_during_expand_resumes_when_run_again(
    alembic_project: AlembicProject,
) -> None:
    project, url = alembic_project, alembic_project.db.url
    write_base(project, rows=500)
    write_expand(project)
    project.command("upgrade", "0001")
    shape_before, _ = catalog_and_rows(project)

    env = {k: v for k, v in os.environ.items() if not k.startswith("EC_DATABASE")}
    with project.db.connect() as watcher, project.db.connect(autocommit=False) as blocker:
        # An open transaction that read the table: expand's first ALTER waits for it (and
        # retries on lock_timeout), so the upgrade is killed in the middle of expand.
        blocker.execute("SELECT 1 FROM items LIMIT 1")
        upgrade = subprocess.Popen(
            [ALEMBIC, "upgrade", "head"],
            cwd=project.root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(
                watcher,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'",
                "ec's expand to wait for the table lock",
            )
        finally:
            upgrade.kill()
            upgrade.wait(timeout=60)
        blocker.rollback()
        _wait_for(
            watcher,
            "SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name LIKE 'expandcontract%'",
            "the killed upgrade's sessions to end",
        )
    assert upgrade.returncode != 0
    assert alembic_version(project) == ["0001"]
    (record,) = ec_status(url)["migrations"]
    assert record["active"] and record["phases"]["expand"]["status"] == "interrupted"

    project.command("upgrade", "head")
    assert alembic_version(project) == ["0002"]
    (record,) = ec_status(url)["migrations"]
    assert record["phases"]["backfill"]["status"] == "done"
    assert len(Session(url, VERSION_SCHEMA).rows("SELECT name, tier FROM items")) == 500
    project.command("downgrade", "0001")
    assert catalog_and_rows(project)[0] == shape_before


def test_complete_refuses_while_the_backfill_is_not_verified(
    alembic_project: AlembicProject,
) -> None:
    project, url = alembic_project, alembic_project.db.url
    project.write_revision(
        "0001",
        None,
        """
        op.create_table("codes", sa.Column("id", sa.Integer, primary_key=True), sa.Column("code", sa.Text))
        op.execute("INSERT INTO codes VALUES (1, '10'), (2, 'abc'), (3, '30')")
        """,  # noqa: E501
        'op.drop_table("codes")',
    )
    operations = [
        {
            "alter_column": {
                "table": "codes",
                "column": "code",
                "type": "integer",
                "up": "code::integer",
                "down": "code::text",
            }
        }
    ]
    project.write_revision(
        "0002", "0001", f"op.expand_contract({operations!r})", "op.expand_contract_rollback()"
    )
    project.command("upgrade", "0001")
    shape_before, rows_before = catalog_and_rows(project, "codes")

    failed = project.cli("upgrade", "head", check=False)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0 and "Traceback" not in output
    assert "FAILED: ec: op.expand_contract in revision 0002:" in output
    assert "(id)=(2): invalid input syntax for type integer" in output
    assert "`alembic upgrade` again resumes from ec's ledger" in output
    assert alembic_version(project) == ["0001"]

    # Pretend the expanding revision was stamped: the completing one refuses, with the reason.
    project.command("stamp", "0002")
    write_complete(project)
    refused = project.cli("upgrade", "head", check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "Traceback" not in output
    assert (
        "FAILED: ec: op.expand_contract_complete in revision 0003: migration '0002' cannot "
        "contract: its backfill is not verified complete" in output
    )
    assert "a backfill resumes when the revision with op.expand_contract runs again" in output
    assert alembic_version(project) == ["0002"]
    assert ec_status(url)["migration"] == "0002"

    project.command("downgrade", "0001")
    assert catalog_and_rows(project, "codes") == (shape_before, rows_before)
