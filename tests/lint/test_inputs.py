"""SQL files of the common migration tools and ec migration files."""

from __future__ import annotations

import json
from pathlib import Path

from expandcontract.lint.batch import discover, lint_paths
from expandcontract.lint.findings import FileReport
from expandcontract.lint.settings import LintSettings


def lint_dir(root: Path) -> dict[str, FileReport]:
    return {str(Path(r.path).relative_to(root)): r for r in lint_paths([str(root)], LintSettings())}


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def rules(report: FileReport) -> set[str]:
    return {f.rule for f in report.findings}


def test_dbmate_down_section_is_linted_as_rollback(tmp_path: Path) -> None:
    write(tmp_path, "20240101_a.sql",
          "-- migrate:up\nCREATE TABLE IF NOT EXISTS t (id bigint);\n"
          "-- migrate:down\nDROP TABLE t;\n")  # fmt: skip
    report = lint_dir(tmp_path)["20240101_a.sql"]
    assert report.statements == 2 and "ban-drop-table" not in rules(report)
    assert {f.line for f in report.findings} == {4}


def test_goose_is_transactional_unless_marked(tmp_path: Path) -> None:
    cic = "SET lock_timeout = '1s';\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (a);\n"
    write(tmp_path, "001_tx.sql", "-- +goose Up\n" + cic + "-- +goose Down\nDROP INDEX i;\n")
    write(tmp_path, "002_notx.sql", "-- +goose NO TRANSACTION\n-- +goose Up\n" + cic)
    reports = lint_dir(tmp_path)
    assert "concurrently-in-transaction" in rules(reports["001_tx.sql"])
    assert "concurrently-in-transaction" not in rules(reports["002_notx.sql"])


def test_golang_migrate_flyway_diesel_prisma_discovery(tmp_path: Path) -> None:
    names = ["gm/1_init.up.sql", "gm/1_init.down.sql", "fw/V1__init.sql", "fw/U1__init.sql",
             "diesel/2024_x/up.sql", "diesel/2024_x/down.sql",
             "prisma/20240101_init/migration.sql"]  # fmt: skip
    for name in names:
        write(tmp_path, name, "SELECT 1;\n")
    found = sorted(str(Path(t.path).relative_to(tmp_path)) for t in discover([str(tmp_path)]))
    assert found == sorted(names)  # down files too: they are linted as rollbacks


def test_flyway_and_diesel_files_are_transactional(tmp_path: Path) -> None:
    cic = "SET lock_timeout = '1s';\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (a);\n"
    write(tmp_path, "V2__idx.sql", cic)
    write(tmp_path, "d/up.sql", cic)
    write(tmp_path, "1_idx.up.sql", cic.split("\n", 1)[1])
    reports = lint_dir(tmp_path)
    assert "concurrently-in-transaction" in rules(reports["V2__idx.sql"])
    assert "concurrently-in-transaction" in rules(reports["d/up.sql"])
    assert "concurrently-in-transaction" not in rules(reports["1_idx.up.sql"])


EC_YAML = """\
name: add_status
operations:
  - add_column:
      table: users
      column: {name: status, type: text}
  - sql:
      on: expand
      up: |
        SET lock_timeout = '1s';
        ALTER TABLE users DROP COLUMN legacy;
      down: "DROP TABLE users_backup; CREATE INDEX users_legacy ON users (id)"
  - sql:
      on: contract
      up: |
        UPDATE users SET status = 'x' WHERE status IS NULL;
"""


def test_ec_migration_yaml_sql_operations(tmp_path: Path) -> None:
    write(tmp_path, "m/001_add_status.yaml", EC_YAML)
    report = lint_dir(tmp_path)["m/001_add_status.yaml"]
    found = {(f.line, f.rule) for f in report.findings}
    assert (10, "expand-phase-destructive") in found
    assert (15, "contract-before-backfill") in found
    down = [f for f in report.findings if f.message.startswith("(down)")]
    # the down is linted as the rollback phase: its lock is reported, dropping what the
    # migration made is not a breakage there
    assert (11, "require-concurrent-index-creation") in {(f.line, f.rule) for f in down}
    assert "ban-drop-table" not in {f.rule for f in down}


def test_ec_migration_json(tmp_path: Path) -> None:
    data = {"operations": [{"sql": {"up": "ALTER TABLE users RENAME TO people;", "on": "expand"}}]}
    write(tmp_path, "002.json", json.dumps(data))
    report = lint_paths([str(tmp_path / "002.json")], LintSettings())[0]
    assert "expand-phase-destructive" in rules(report)


def test_yaml_that_is_not_a_migration_is_ignored_in_folders(tmp_path: Path) -> None:
    write(tmp_path, "config.yaml", "key: value\n")
    assert discover([str(tmp_path)]) == []


def test_contract_file_before_a_later_backfill_in_the_folder(tmp_path: Path) -> None:
    from expandcontract.lint.api import run_lint

    write(
        tmp_path, "m/001_expand.sql", "-- ec:phase expand\nALTER TABLE users ADD COLUMN s text;\n"
    )
    write(tmp_path, "m/002_contract.sql",
          "-- ec:phase contract\nSET lock_timeout = '1s';\n"
          "ALTER TABLE users ALTER COLUMN s SET NOT NULL;\n")  # fmt: skip
    write(tmp_path, "m/003_backfill.sql", "UPDATE users SET s = 'x' WHERE s IS NULL;\n")
    reports, failed = run_lint([str(tmp_path / "m")], use_cache=False)
    by_name = {Path(r.path).name: r for r in reports}
    found = [(f.line, f.rule) for f in by_name["002_contract.sql"].findings]
    assert (3, "contract-before-backfill") in found and failed
    assert "003_backfill.sql" in next(
        f.message
        for f in by_name["002_contract.sql"].findings
        if f.rule == "contract-before-backfill"
    )


def test_backfill_before_contract_is_fine(tmp_path: Path) -> None:
    from expandcontract.lint.api import run_lint

    write(tmp_path, "m/001_backfill.sql", "UPDATE users SET s = 'x' WHERE s IS NULL;\n")
    write(tmp_path, "m/002_contract.sql",
          "-- ec:phase contract\nALTER TABLE users ALTER COLUMN s SET NOT NULL;\n")  # fmt: skip
    reports, _ = run_lint([str(tmp_path / "m")], use_cache=False)
    assert not [f for r in reports for f in r.findings if f.rule == "contract-before-backfill"]
