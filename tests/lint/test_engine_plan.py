"""The plan ec generates must lint clean: a test of the engine's safety (issue 5).

For a migration of every operation kind, ``ec plan FILE --format sql`` renders each step as the
runner executes it (BEGIN, timeouts, statements, COMMIT); the linter, told the server's major
version, must find nothing at warning level or above and understand every statement.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from expandcontract.cli import cli
from expandcontract.lint.engine import lint_sql
from expandcontract.lint.settings import LintSettings, at_least
from expandcontract.operations import OPERATIONS
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.conftest import SEED
from tests.engine.test_operations import CASES, Case


def _server_major(db: EcDatabase) -> int:
    with db.connect() as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0]) // 10000


def _plan_sql(db: EcDatabase, tmp_path: Path, case: Case) -> str:
    with db.connect() as conn:
        for statement in SEED:
            conn.execute(statement)
    file = tmp_path / f"m_{case.id}.json"
    file.write_text(json.dumps({"operations": case.operations}), encoding="utf-8")
    result = CliRunner().invoke(cli, ["plan", str(file), "--format", "sql", "-d", db.url])
    assert result.exit_code == 0, result.output
    return result.output


# Operations whose lifecycle tests live in modules of their own (tests/engine/test_op_*.py),
# on the same seed.
OWN_MODULE_CASES = [
    Case(
        "create_constraint_unique",
        [{"create_constraint": {"table": "users", "name": "users_email_key", "type": "unique",
                                "columns": ["email"]}}],
    ),
    Case(
        "create_constraint_check_rewritten_by_up",
        [{"create_constraint": {"table": "users", "name": "users_amount_positive",
                                "type": "check", "check": "amount > 0", "columns": ["amount"],
                                "up": {"amount": "greatest(amount, 1)"}}}],
    ),
    Case(
        "create_constraint_foreign_key",
        [{"create_constraint": {"table": "tickets", "name": "tickets_user_fk",
                                "type": "foreign_key", "columns": ["id"],
                                "references": {"table": "users", "columns": ["id"]}}}],
    ),
    Case(
        "create_constraint_primary_key",
        [
            {"create_table": {"name": "notes", "columns": [{"name": "id", "type": "bigint"}]}},
            {"create_constraint": {"table": "notes", "name": "notes_pkey",
                                   "type": "primary_key", "columns": ["id"]}},
        ],
    ),
    Case(
        "drop_constraint",
        [{"drop_constraint": {"table": "old_stuff", "name": "old_stuff_pkey"}}],
    ),
    Case(
        "rename_constraint",
        [{"rename_constraint": {"table": "customers", "from": "customers_pkey",
                                "to": "customers_pk"}}],
    ),
    Case(
        "set_replica_identity",
        [{"set_replica_identity": {"table": "users", "identity": "full"}}],
    ),
]  # fmt: skip
ALL_CASES = CASES + OWN_MODULE_CASES


def test_cases_cover_every_operation_kind() -> None:
    covered = {kind for case in ALL_CASES for op in case.operations for kind in op}
    assert covered == set(OPERATIONS)


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_plan_lints_clean(ec_db: EcDatabase, tmp_path: Path, case: Case) -> None:
    sql = _plan_sql(ec_db, tmp_path, case)
    assert "-- ==== expand ====" in sql and "-- ==== contract ====" in sql
    report = lint_sql(sql, f"{case.id}.sql", LintSettings(pg_version=_server_major(ec_db)))
    assert report.status == "ok", report.reason  # every statement understood
    assert report.statements > 0
    loud = [
        f"{f.line}: {f.rule}: {f.message}\n    {sql.splitlines()[f.line - 1]}"
        for f in report.findings
        if at_least(f.severity, "warning")
    ]
    assert not loud, "\n".join(loud)


def test_plan_of_many_operations_at_once_lints_clean(ec_db: EcDatabase, tmp_path: Path) -> None:
    # one migration touching several tables at once: one dual-write trigger per table, several
    # contract steps in a row
    by_id = {case.id: case for case in CASES}
    ids = ["add_column", "alter_column_type", "rename_table", "create_table", "drop_index"]
    combined = Case("combined", [op for i in ids for op in by_id[i].operations])
    sql = _plan_sql(ec_db, tmp_path, combined)
    report = lint_sql(sql, "combined.sql", LintSettings(pg_version=_server_major(ec_db)))
    assert report.status == "ok", report.reason
    loud = [
        f"{f.line}: {f.rule}: {f.message}"
        for f in report.findings
        if at_least(f.severity, "warning")
    ]
    assert not loud, "\n".join(loud)
