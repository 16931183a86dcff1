"""Alembic revisions of a real sample project (tests/lint/fixtures/alembic_project), rendered
offline per revision with no database; findings land on the revision file's op.* lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from expandcontract.lint.batch import lint_paths
from expandcontract.lint.findings import FileReport
from expandcontract.lint.inputs.alembic_project import render
from expandcontract.lint.settings import LintSettings

PROJECT = Path(__file__).parent / "fixtures" / "alembic_project"


@pytest.fixture(scope="module")
def reports() -> dict[str, FileReport]:
    return {Path(r.path).name: r for r in lint_paths([str(PROJECT)], LintSettings())}


def found(report: FileReport) -> set[tuple[int, str]]:
    """Findings of upgrade() (downgrade() is linted too, as the rollback phase)."""
    return {(f.line, f.rule) for f in report.findings if not f.message.startswith("(downgrade)")}


def test_downgrade_is_linted_as_the_rollback(reports: dict[str, FileReport]) -> None:
    down = [f for f in reports["a1_base.py"].findings if f.message.startswith("(downgrade)")]
    assert {f.rule for f in down} >= {"require-lock-timeout"}  # DROP TABLE, without a timeout
    assert "ban-drop-table" not in {f.rule for f in down}  # drops what upgrade() created


def test_every_revision_rendered_in_order() -> None:
    revisions = render(PROJECT)
    assert revisions[0].revision == "a1"
    assert {r.revision for r in revisions} == {"a1", "b1", "b2", "c1", "d1"}
    assert all(r.error is None for r in revisions)


def test_phases_from_branch_labels_and_module_attribute() -> None:
    phases = {r.revision: r.phase for r in render(PROJECT)}
    assert phases == {"a1": "", "b1": "expand", "b2": "expand", "c1": "contract", "d1": "expand"}


def test_base_revision_creating_table_and_index_is_clean(reports: dict[str, FileReport]) -> None:
    assert {r for _, r in found(reports["a1_base.py"])} <= {"prefer-identity"}


def test_safe_expand_revision_is_clean(reports: dict[str, FileReport]) -> None:
    assert found(reports["b1_expand_add_status.py"]) == set()


def test_expand_revision_errors_point_at_op_lines(reports: dict[str, FileReport]) -> None:
    result = found(reports["b2_expand_bad.py"])
    assert (14, "expand-phase-destructive") in result  # op.drop_column
    assert (15, "require-concurrent-index-creation") in result  # op.create_index


def test_contract_revision_backfill_is_flagged(reports: dict[str, FileReport]) -> None:
    result = found(reports["c1_contract_drop.py"])
    assert (14, "contract-before-backfill") in result  # the UPDATE
    assert not any(r == "expand-phase-destructive" for _, r in result)


def test_tagged_expand_rename(reports: dict[str, FileReport]) -> None:
    result = found(reports["d1_tagged_expand.py"])
    assert (14, "expand-phase-destructive") in result and (14, "renaming-column") in result


def test_static_reading_renders_what_executing_the_revisions_renders() -> None:
    """The fixture project read statically (the default) and imported and run (the opt-in):
    Alembic renders the same SQL, mapped to the same lines, upgrade and downgrade."""
    from expandcontract.lint.inputs.alembic_project import execution

    static = render(PROJECT)
    with execution(True):
        executed = render(PROJECT)
    assert [r.static for r in static] == [True] * 5 and not any(r.static for r in executed)
    for read, ran in zip(static, executed, strict=True):
        assert (read.revision, read.phase, read.sql) == (ran.revision, ran.phase, ran.sql)
        assert {read.map_line(n) for n in read.line_map} == {ran.map_line(n) for n in ran.line_map}
        assert read.downgrade is not None and ran.downgrade is not None
        assert read.downgrade.sql == ran.downgrade.sql
