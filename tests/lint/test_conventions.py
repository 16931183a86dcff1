"""Migration-tool conventions (docs/lint_tools.md): how each tool runs a file decides the
transaction-sensitive findings, and an explicit down migration is linted as a rollback.

Where a finding claims "this fails", the DB tests run the same file the way the tool sends it
(one BEGIN … COMMIT, one simple-protocol Query, or statement by statement) on a real server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from psycopg import pq

from expandcontract.cli import cli
from expandcontract.errors import ConfigError
from expandcontract.lint.batch import lint_paths
from expandcontract.lint.config import load_migration_tool
from expandcontract.lint.findings import FileReport
from expandcontract.lint.inputs import conventions as conv
from expandcontract.lint.settings import LintSettings
from expandcontract.pytest_plugin import EcDatabase

CIC = "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_a_idx ON users (a);\n"
TIMEOUT_CIC = "SET lock_timeout = '1s';\n" + CIC
CIT = "concurrently-in-transaction"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def lint(root: Path, tool: str = "auto", **settings: object) -> dict[str, FileReport]:
    reports = lint_paths([str(root)], LintSettings(**settings), migration_tool=tool)  # type: ignore[arg-type]
    return {str(Path(r.path).relative_to(root)): r for r in reports}


def rules(report: FileReport) -> set[str]:
    return {f.rule for f in report.findings}


def run_as(conn_url: EcDatabase, mode: str, statements: list[str]) -> str | None:
    """Run ``statements`` the way a tool of ``mode`` sends them; the error, or None."""
    if mode == conv.TOOL:
        messages = ["BEGIN", "".join(statements), "COMMIT"]
    elif mode == conv.ONE_QUERY:
        messages = ["".join(statements)]
    else:
        messages = statements
    with conn_url.connect() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS users (a int)")
        for text in messages:
            result = conn.pgconn.exec_(text.encode())
            if result.status == pq.ExecStatus.FATAL_ERROR:
                conn.pgconn.exec_(b"ROLLBACK")
                return (result.error_message or b"").decode()
    return None


# (tool, files, the file holding the statements, its mode, whether CIC is reported)
CASES = [
    ("diesel", {"m/2024-01-01-000000_a/up.sql": TIMEOUT_CIC}, conv.TOOL, True),
    ("diesel-opted-out", {"m/2024-01-01-000000_a/up.sql": CIC,
                          "m/2024-01-01-000000_a/metadata.toml": "run_in_transaction = false\n"},
     conv.ONE_QUERY, False),
    ("diesel-opted-out-two", {"m/2024-01-01-000000_a/up.sql": TIMEOUT_CIC,
                              "m/2024-01-01-000000_a/metadata.toml": "# no key: false\n"},
     conv.ONE_QUERY, True),
    ("golang-migrate-one", {"m/1_a.up.sql": CIC}, conv.ONE_QUERY, False),
    ("golang-migrate-two", {"m/1_a.up.sql": TIMEOUT_CIC}, conv.ONE_QUERY, True),
    ("prisma-two", {"prisma/migrations/20240101000000_a/migration.sql": TIMEOUT_CIC},
     conv.ONE_QUERY, True),
    ("prisma-one", {"prisma/migrations/20240101000000_a/migration.sql": CIC},
     conv.ONE_QUERY, False),
    ("flyway-only-cic", {"db/migration/V2__idx.sql": CIC}, conv.PER_STATEMENT, False),
    ("flyway-conf", {"db/migration/V2__idx.sql": TIMEOUT_CIC,
                     "db/migration/V2__idx.sql.conf": "executeInTransaction=false\n"},
     conv.PER_STATEMENT, False),
    ("goose-no-tx", {"m/00002_a.sql": "-- +goose NO TRANSACTION\n-- +goose Up\n" + TIMEOUT_CIC},
     conv.PER_STATEMENT, False),
    ("goose", {"m/00002_a.sql": "-- +goose Up\n" + TIMEOUT_CIC}, conv.TOOL, True),
    ("dbmate-no-tx-one", {"db/migrations/1_a.sql": "-- migrate:up transaction:false\n" + CIC},
     conv.ONE_QUERY, False),
    ("dbmate-no-tx-two", {"db/migrations/1_a.sql": "-- migrate:up transaction:false\n"
                          + TIMEOUT_CIC}, conv.ONE_QUERY, True),
    ("dbmate", {"db/migrations/1_a.sql": "-- migrate:up\n" + CIC}, conv.TOOL, True),
    ("rails", {"db/migrate/20240101000000_add_idx.sql": CIC}, conv.TOOL, True),
]  # fmt: skip


@pytest.mark.parametrize(("case", "files", "mode", "reported"), CASES, ids=[c[0] for c in CASES])
def test_concurrently_is_reported_exactly_when_the_tool_run_fails(
    ec_db: EcDatabase, tmp_path: Path, case: str, files: dict[str, str], mode: str, reported: bool
) -> None:
    sql_name = next(n for n in files if n.endswith(".sql"))
    report = lint(write(tmp_path, files))[sql_name]
    assert (CIT in rules(report)) is reported
    body = [s + ";\n" for s in files[sql_name].split(";\n") if s.strip()]  # comments stay
    error = run_as(ec_db, mode, body)
    assert (error is not None) is reported, error
    if reported:
        assert "transaction block" in (error or "")


def test_flyway_refuses_what_it_reports(tmp_path: Path) -> None:
    """A Flyway script mixing SET and CONCURRENTLY runs in a transaction unless configured
    (Flyway itself refuses it with mixed=false); an in-file comment is not configuration."""
    reports = lint(write(tmp_path, {
        "V3__mixed.sql": TIMEOUT_CIC,
        "V4__comment.sql": "-- flyway:executeInTransaction=false\n" + TIMEOUT_CIC,
        "V5__forced.sql": CIC, "V5__forced.sql.conf": "executeInTransaction=true\n",
        "R__view.sql": CIC,
    }))  # fmt: skip
    assert CIT in rules(reports["V3__mixed.sql"])
    assert CIT in rules(reports["V4__comment.sql"])
    assert CIT in rules(reports["V5__forced.sql"])  # the .conf wins over auto-detection
    assert CIT not in rules(reports["R__view.sql"])


def test_own_begin_in_a_one_query_file_is_linted_as_written(tmp_path: Path) -> None:
    body = "BEGIN;\nALTER TABLE users ADD COLUMN b int;\nCOMMIT;\n"
    reports = lint(write(tmp_path, {"1_a.up.sql": body, "V1__a.sql": body}))
    assert "transaction-nesting" not in rules(reports["1_a.up.sql"])  # golang-migrate
    assert "transaction-nesting" in rules(reports["V1__a.sql"])  # Flyway's own transaction


DROP = "SET lock_timeout = '1s';\nALTER TABLE users DROP COLUMN legacy;\n"


@pytest.mark.parametrize(
    ("up", "down"),
    [
        ("m/2024-01-01-000000_a/up.sql", "m/2024-01-01-000000_a/down.sql"),
        ("m/1_a.up.sql", "m/1_a.down.sql"),
        ("db/migration/V1__a.sql", "db/migration/U1__a.sql"),
        ("p/deploy/a.sql", "p/revert/a.sql"),
        ("prisma/migrations/1_a/migration.sql", "prisma/migrations/1_a/down.sql"),
    ],
    ids=["diesel", "golang-migrate", "flyway", "sqitch", "prisma"],
)
def test_down_files_are_linted_as_rollback(tmp_path: Path, up: str, down: str) -> None:
    files = {up: DROP, down: DROP}
    if "deploy" in up:
        files["p/sqitch.plan"] = "%project=p\n"
    reports = lint(write(tmp_path, files))
    assert "ban-drop-column" in rules(reports[up])
    assert reports[down].phase == "rollback"
    # old code is gone in a rollback: no compatibility finding; locking still matters
    assert "ban-drop-column" not in rules(reports[down])
    assert {(f.rule, f.line, f.column) for f in reports[down].findings} >= {
        ("require-statement-timeout", 2, 1)
    }


@pytest.mark.parametrize(
    ("up_marker", "down_marker"),
    [("-- migrate:up", "-- migrate:down"), ("-- +goose Up", "-- +goose Down")],
    ids=["dbmate", "goose"],
)
def test_down_sections_are_linted_as_rollback_at_exact_positions(
    tmp_path: Path, up_marker: str, down_marker: str
) -> None:
    text = (
        f"{up_marker}\n{DROP}{down_marker}\n  {DROP.replace('DROP COLUMN legacy', 'DROP COLUMN x')}"
    )
    [report] = lint(write(tmp_path, {"20240101_a.sql": text})).values()
    drops = [(f.line, f.column) for f in report.findings if f.rule == "ban-drop-column"]
    assert drops == [(3, 1)]  # the up section only
    down = [f for f in report.findings if f.line >= 5]
    assert down and all(f.message.startswith("(down) ") for f in down)
    assert report.statements == 4
    timeouts = {(f.line, f.column) for f in down if f.rule == "require-statement-timeout"}
    assert timeouts == {(6, 1)}  # the down ALTER, on its own line and column


def test_dbmate_down_section_has_its_own_transaction_option(tmp_path: Path) -> None:
    text = "-- migrate:up\nSELECT 1;\n-- migrate:down transaction:false\n" + CIC
    [report] = lint(write(tmp_path, {"1_a.sql": text})).values()
    assert CIT not in rules(report)


def test_sqitch_scripts_are_run_as_written(tmp_path: Path) -> None:
    reports = lint(write(tmp_path, {
        "sqitch.plan": "%project=p\n",
        "deploy/wrapped.sql": "BEGIN;\n" + CIC + "COMMIT;\n",
        "deploy/bare.sql": CIC.replace("IF NOT EXISTS ", ""),
        "verify/bare.sql": "BEGIN;\nSELECT a FROM users WHERE false;\nROLLBACK;\n",
    }))  # fmt: skip
    assert CIT in rules(reports["deploy/wrapped.sql"])
    assert "transaction-nesting" not in rules(reports["deploy/wrapped.sql"])
    assert CIT not in rules(reports["deploy/bare.sql"])
    assert "prefer-robust-stmts" in rules(reports["deploy/bare.sql"])  # autocommit: re-run
    assert reports["verify/bare.sql"].phase == ""


def test_sqitch_needs_its_plan(tmp_path: Path) -> None:
    assert conv.detect_tool(tmp_path / "deploy" / "a.sql", CIC) == "plain"
    write(tmp_path, {"sqitch.plan": ""})
    assert conv.detect_tool(tmp_path / "deploy" / "a.sql", CIC) == "sqitch"


def test_rails_schema_dump_is_not_walked(tmp_path: Path) -> None:
    reports = lint(write(tmp_path, {"db/structure.sql": "CREATE TABLE t (id int);\n",
                                    "db/migrate/20240101000000_a.sql": "SELECT 1;\n"}))  # fmt: skip
    assert list(reports) == ["db/migrate/20240101000000_a.sql"]
    named = lint_paths([str(tmp_path / "db" / "structure.sql")], LintSettings())
    assert [r.statements for r in named] == [1]  # named explicitly, it is linted


ENUM = "ALTER TYPE mood ADD VALUE 'meh';\n"


def test_enum_add_value_follows_the_tool(tmp_path: Path) -> None:
    used = ENUM + "SELECT 'meh'::mood;\n"
    goose = "-- +goose NO TRANSACTION\n-- +goose Up\n"
    files = {"V1__enum.sql": used, "1_enum.up.sql": ENUM, "2_enum.up.sql": used}
    reports = lint(write(tmp_path, {**files, "m/00003_enum.sql": goose + used}))
    assert "enum-add-value-in-transaction" in rules(reports["V1__enum.sql"])
    assert "enum-add-value-in-transaction" not in rules(reports["1_enum.up.sql"])  # alone
    assert "enum-add-value-in-transaction" in rules(reports["2_enum.up.sql"])  # implicit
    assert "enum-add-value-in-transaction" not in rules(reports["m/00003_enum.sql"])


def test_flyway_before_12_runs_add_value_without_a_transaction(tmp_path: Path) -> None:
    reports = lint(write(tmp_path, {"V1__enum.sql": ENUM, "m/00001_enum.sql": "-- +goose Up\n"
                                    + ENUM}), pg_version=11)  # fmt: skip
    assert "enum-add-value-in-transaction" not in rules(reports["V1__enum.sql"])
    assert "enum-add-value-in-transaction" in rules(reports["m/00001_enum.sql"])


def test_add_value_in_a_transaction_is_allowed_but_unusable(ec_db: EcDatabase) -> None:
    with ec_db.connect() as conn:
        conn.execute("CREATE TYPE mood AS ENUM ('ok')")
    add = "ALTER TYPE mood ADD VALUE 'meh';\n"
    assert run_as(ec_db, conv.TOOL, [add]) is None
    error = run_as(ec_db, conv.ONE_QUERY, ["ALTER TYPE mood ADD VALUE 'bad';\n",
                                           "SELECT 'bad'::mood;\n"])  # fmt: skip
    assert error is not None and "unsafe use of new value" in error


AEL = "ALTER TABLE users ADD COLUMN b int;\nUPDATE users SET b = 1 WHERE a = 1;\n"


def test_statements_after_access_exclusive_needs_a_transaction(tmp_path: Path) -> None:
    reports = lint(write(tmp_path, {
        "m/00001_tx.sql": "-- +goose Up\nSET lock_timeout = '1s';\n" + AEL,
        "m/00002_notx.sql": "-- +goose NO TRANSACTION\n-- +goose Up\nSET lock_timeout = '1s';\n"
        + AEL,
    }))  # fmt: skip
    assert "statements-after-access-exclusive" in rules(reports["m/00001_tx.sql"])
    assert "statements-after-access-exclusive" not in rules(reports["m/00002_notx.sql"])


def test_require_lock_timeout_is_the_same_in_every_mode(tmp_path: Path) -> None:
    alter = "ALTER TABLE users ADD COLUMN b int;\n"
    reports = lint(write(tmp_path, {"V1__a.sql": alter, "1_a.up.sql": alter,
                                    "m/00001_a.sql": "-- +goose NO TRANSACTION\n-- +goose Up\n"
                                    + alter, "plain.sql": alter}))  # fmt: skip
    assert all("require-lock-timeout" in rules(r) for r in reports.values())


def test_override_lints_every_file_as_that_tool(tmp_path: Path) -> None:
    write(tmp_path, {"1_a.up.sql": TIMEOUT_CIC, "plain.sql": TIMEOUT_CIC})
    auto = lint(tmp_path)
    assert CIT in rules(auto["1_a.up.sql"]) and CIT not in rules(auto["plain.sql"])
    multi = lint(tmp_path, "golang-migrate-multi-statement")
    assert CIT not in rules(multi["1_a.up.sql"])
    diesel = lint(tmp_path, "rails")
    assert CIT in rules(diesel["plain.sql"])


def test_migration_tool_config_and_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"pyproject.toml": '[tool.expandcontract.lint]\nmigration-tool = "goose"\n',
                     "m/plain.sql": TIMEOUT_CIC})  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert load_migration_tool() == "goose"
    assert load_migration_tool(migration_tool="flyway") == "flyway"
    with pytest.raises(ConfigError, match="unknown migration-tool"):
        load_migration_tool(migration_tool="liquibase")
    args = ["lint", "--no-cache", "--format", "json", "m/plain.sql"]
    result = CliRunner().invoke(cli, [*args, "--migration-tool", "rails"])
    found = {f["rule"] for f in json.loads(result.output)["findings"]}
    assert CIT in found
    result = CliRunner().invoke(cli, [*args, "--migration-tool", "nope"])
    assert result.exit_code == 2


def test_cache_follows_the_files_the_tool_reads(tmp_path: Path) -> None:
    folder = tmp_path / "m" / "2024-01-01-000000_a"
    write(tmp_path, {"m/2024-01-01-000000_a/up.sql": CIC})
    cache = tmp_path / "cache"

    def cic() -> bool:
        [report] = lint_paths([str(tmp_path / "m")], LintSettings(), cache_dir=cache)
        return CIT in rules(report)

    assert cic()
    (folder / "metadata.toml").write_text("run_in_transaction = false\n")
    assert not cic()  # up.sql unchanged, yet its tool now runs it differently
    (folder / "metadata.toml").write_text("run_in_transaction = true\n")
    assert cic()
    tool_cached = lint_paths(
        [str(tmp_path / "m")], LintSettings(), cache_dir=cache, migration_tool="prisma"
    )
    assert CIT not in rules(tool_cached[0])  # the tool is part of the cache's settings


def test_convention_table_lists_every_tool() -> None:
    assert {"diesel", "golang-migrate", "prisma", "flyway", "sqitch", "rails", "dbmate",
            "goose", "alembic", "plain"} <= set(conv.BY_ID)  # fmt: skip
    assert all(c.source for c in conv.CONVENTIONS)


ALEMBIC_REVISION = """\
from alembic import op

revision = "a1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("SET lock_timeout = '1s'")
    op.create_index("users_a_idx", "users", ["a"], postgresql_concurrently=True)
    with op.get_context().autocommit_block():
        op.create_index("users_b_idx", "users", ["b"], postgresql_concurrently=True)
"""


def test_alembic_runs_upgrade_in_a_transaction_but_not_its_autocommit_block(
    tmp_path: Path,
) -> None:
    write(tmp_path, {
        "alembic.ini": "[alembic]\nscript_location = %(here)s/alembic\n",
        "alembic/env.py": "raise AssertionError('env.py must not run')\n",
        "alembic/versions/a1.py": ALEMBIC_REVISION,
    })  # fmt: skip
    [report] = lint_paths([str(tmp_path)], LintSettings())
    assert [f.line for f in report.findings if f.rule == CIT] == [11]  # not line 13


def test_file_directive_wins_over_the_tool(tmp_path: Path) -> None:
    off = "-- ec:assume-in-transaction off\n" + TIMEOUT_CIC
    reports = lint(write(tmp_path, {"V1__a.sql": off, "1_a.up.sql": off}))
    assert all(CIT not in rules(r) for r in reports.values())
