"""``ec lint`` on single Alembic revision files, on branch phases inherited along the history,
and on the pre-commit hook's file filter. Offline: no database is involved in linting."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from alembic.script import ScriptDirectory
from click.testing import CliRunner

from expandcontract.cli import cli
from expandcontract.lint.batch import lint_paths
from expandcontract.lint.findings import FileReport
from expandcontract.lint.inputs.alembic_project import render
from expandcontract.lint.settings import LintSettings

FIXTURE = Path(__file__).parent / "fixtures" / "alembic_project"
REPO = Path(__file__).parents[2]


def write_project(root: Path, revisions: dict[str, str], ini_extra: str = "") -> Path:
    """An Alembic project at ``root`` (alembic.ini + alembic/env.py + alembic/versions) with
    the given revision files (name -> source)."""
    (root / "alembic" / "versions").mkdir(parents=True)
    (root / "alembic.ini").write_text(
        f"[alembic]\nscript_location = %(here)s/alembic\n{ini_extra}"
        "sqlalchemy.url = postgresql://localhost/never_connected\n"
    )
    (root / "alembic" / "env.py").write_text("raise AssertionError('env.py must not run')\n")
    for name, source in revisions.items():
        path = root / "alembic" / "versions" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return root


def revision(
    rev: str, down: str | tuple[str, ...] | None, body: str, labels: str | None = None
) -> str:
    """A revision file: the ``upgrade()`` body starts on line 9."""
    return (
        f"from alembic import op\nimport sqlalchemy as sa\n"
        f"revision = {rev!r}\ndown_revision = {down!r}\n"
        f"branch_labels = {labels!r}\ndepends_on = None\n\n"
        "def upgrade():\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n"
    )


DROP = "op.execute(\"SET lock_timeout = '1s'\")\nop.drop_column('users', 'legacy')"


def rules_at(report: FileReport) -> set[tuple[int, str]]:
    return {(f.line, f.rule) for f in report.findings}


def lint(*paths: Path) -> list[FileReport]:
    return lint_paths([str(p) for p in paths], LintSettings())


def test_phase_is_inherited_from_the_labelled_revision_not_spread_to_its_ancestors(
    tmp_path: Path,
) -> None:
    project = write_project(
        tmp_path,
        {
            "r0.py": revision("r0", None, DROP),
            "r1.py": revision("r1", "r0", DROP, labels="expand"),
            "r2.py": revision("r2", "r1", DROP),
        },
    )
    # Alembic copies a branch label to the ancestors of the labelled revision too ...
    scripts = ScriptDirectory(str(project / "alembic"))
    assert "expand" in scripts.get_revision("r0").branch_labels
    # ... but r0 ran long before the expand branch existed: only r1 and what follows are expand
    assert {r.revision: r.phase for r in render(project)} == {
        "r0": "",
        "r1": "expand",
        "r2": "expand",
    }
    reports = {Path(r.path).name: rules_at(r) for r in lint(project)}
    assert (10, "expand-phase-destructive") not in reports["r0.py"]
    assert (10, "expand-phase-destructive") in reports["r1.py"]
    assert (10, "expand-phase-destructive") in reports["r2.py"]


def test_a_merge_of_expand_and_contract_runs_after_contract(tmp_path: Path) -> None:
    project = write_project(
        tmp_path,
        {
            "r0.py": revision("r0", None, "pass"),
            "e1.py": revision("e1", "r0", "pass", labels="expand"),
            "e2.py": revision("e2", "e1", "pass"),
            "c1.py": revision("c1", "r0", "pass", labels="contract"),
            "m.py": revision("m", ("e2", "c1"), DROP),
        },
    )
    phases = {r.revision: r.phase for r in render(project)}
    assert phases == {"r0": "", "e1": "expand", "e2": "expand", "c1": "contract", "m": "contract"}


def test_one_revision_file_is_linted_in_its_project_history() -> None:
    path = FIXTURE / "versions" / "b2_expand_bad.py"  # expand only through b1's label
    [report] = lint(path)
    assert report.path == str(path) and report.status == "ok"
    assert report.statements == 4
    found = rules_at(report)
    assert (14, "expand-phase-destructive") in found  # op.drop_column is on line 14
    assert (15, "require-concurrent-index-creation") in found  # op.create_index on 15


def test_ec_lint_of_one_revision_file_fails_on_its_findings() -> None:
    path = FIXTURE / "versions" / "b2_expand_bad.py"
    result = CliRunner().invoke(cli, ["lint", "--no-cache", str(path)])
    assert result.exit_code == 1, result.output
    assert f"{path}:14:1: error [expand-phase-destructive]" in result.output
    assert "1 file(s), 4 statement(s): 2 error(s)" in result.output


def test_a_folder_of_revisions_inside_the_project_is_linted() -> None:
    reports = lint(FIXTURE / "versions")
    assert sorted(Path(r.path).name for r in reports) == [
        "a1_base.py",
        "b1_expand_add_status.py",
        "b2_expand_bad.py",
        "c1_contract_drop.py",
        "d1_tagged_expand.py",
    ]


MULTILINE = '''\
"""a multi-line revision: every finding on the line its op.* call starts."""
import sqlalchemy as sa
from alembic import op

revision = "m1"
down_revision = None
branch_labels = ("expand",)
depends_on = None


def upgrade():
    op.execute("SET lock_timeout = '1s'")
    op.execute("SET statement_timeout = '5s'")
    op.add_column(
        "users",
        sa.Column("status", sa.Text(), nullable=True),
    )
    op.create_index(
        "users_status_idx",
        "users",
        ["status"],
    )
    with op.get_context().autocommit_block():
        op.execute("SET lock_timeout = '1s'")
        op.create_index(
            "users_email_idx",
            "users",
            ["email"],
            postgresql_concurrently=True,
        )
    op.alter_column(
        "users",
        "email",
        new_column_name="email_address",
    )
    op.execute(
        """
        ALTER TABLE users
            DROP COLUMN legacy
        """
    )
'''


def test_findings_of_a_multi_line_revision_are_on_their_exact_lines(tmp_path: Path) -> None:
    project = write_project(tmp_path, {"m1.py": MULTILINE})
    [report] = lint(project / "alembic" / "versions" / "m1.py")
    errors = {(f.line, f.rule) for f in report.findings if f.severity == "error"}
    assert errors == {
        (18, "require-concurrent-index-creation"),  # op.create_index( on 18
        (31, "expand-phase-destructive"),  # op.alter_column( rename on 31
        (36, "expand-phase-destructive"),  # op.execute( with the DROP on 36
    }
    # the concurrent index (line 25) and the add_column (14) are fine
    assert not any(f.line in (14, 25) and f.severity == "error" for f in report.findings)


def test_a_python_file_outside_any_alembic_project_is_reported_as_skipped(
    tmp_path: Path,
) -> None:
    app = tmp_path / "app" / "models.py"
    app.parent.mkdir()
    app.write_text("raise AssertionError('must not be imported')\n")
    result = CliRunner().invoke(cli, ["lint", "--no-cache", "--json", str(app)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["findings"] == []
    [entry] = data["files"]
    assert entry["status"] == "skipped"
    assert entry["reason"].startswith("not an Alembic revision: no alembic.ini")


def test_python_files_of_the_project_that_are_not_revisions_are_skipped(tmp_path: Path) -> None:
    project = write_project(tmp_path, {"r0.py": revision("r0", None, "pass")})
    init = project / "alembic" / "versions" / "__init__.py"
    init.write_text("")
    reports = lint(project / "alembic" / "env.py", init)
    assert [r.status for r in reports] == ["skipped", "skipped"]
    assert all("does not load it as one" in (r.reason or "") for r in reports)
    result = CliRunner().invoke(cli, ["lint", "--no-cache", str(init)])
    assert result.exit_code == 0
    assert f"{init}: skipped: not an Alembic revision" in result.output


def test_revisions_in_version_locations_are_found_from_alembic_ini(tmp_path: Path) -> None:
    project = write_project(
        tmp_path,
        {
            "expand/e1.py": revision("e1", None, DROP, labels="expand"),
            "contract/c1.py": revision("c1", None, DROP, labels="contract"),
        },
        ini_extra="path_separator = os\n"
        "version_locations = %(here)s/alembic/versions/expand:%(here)s/alembic/versions/contract\n",
    )
    assert sorted(r.revision for r in render(project)) == ["c1", "e1"]
    [expand] = lint(project / "alembic" / "versions" / "expand" / "e1.py")
    assert (10, "expand-phase-destructive") in rules_at(expand)
    [contract] = lint(project / "alembic" / "versions" / "contract" / "c1.py")
    assert not any(f.rule == "expand-phase-destructive" for f in contract.findings)


@pytest.mark.parametrize(
    ("path", "selected"),
    [
        ("alembic/versions/1a2b_add_status.py", True),
        ("db/alembic/versions/expand/1a2b_add_status.py", True),
        ("versions/1a2b.py", True),
        ("migrations/0001_users.sql", True),
        ("migrations/0002.yaml", True),
        ("app/models.py", False),
        ("alembic/env.py", False),
        ("oldversions/x.py", False),
        ("alembic/versions/__pycache__/x.cpython-311.pyc", False),
    ],
)
def test_pre_commit_hook_selects_revisions_and_no_other_python(path: str, selected: bool) -> None:
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"] == "ec lint"
    # pre-commit matches `files` with re.search on the repository-relative path
    assert bool(re.search(hook["files"], path)) is selected


def test_type_changes_and_drops_in_an_inherited_expand_revision_are_errors(
    tmp_path: Path,
) -> None:
    body = """\
        op.execute("SET lock_timeout = '1s'")
        op.alter_column("users", "amount", type_=sa.BigInteger())
        op.drop_table("old")
        op.alter_column("users", "email", nullable=True)
    """
    project = write_project(
        tmp_path,
        {
            "e1.py": revision("e1", None, "pass", labels="expand"),
            "e2.py": revision("e2", "e1", body),
        },
    )
    [report] = lint(project / "alembic" / "versions" / "e2.py")
    errors = {(f.line, f.rule) for f in report.findings if f.severity == "error"}
    assert errors == {
        (10, "changing-column-type"),  # an error in any phase but contract
        (11, "expand-phase-destructive"),  # drop table
        (12, "expand-phase-destructive"),  # drop not null
    }


def test_lint_sees_what_ec_safe_ops_runs_and_what_it_refuses(tmp_path: Path) -> None:
    """With `ec.safe_ops = true` in alembic.ini, lint renders the revision as the plugin would
    run it: a plain create_index is CONCURRENTLY (no finding), and an op the plugin refuses is
    an invalid-migration error at its line (the upgrade would stop there)."""
    revisions = {
        "r0.py": revision("r0", None, "op.create_table('users', sa.Column('id', sa.Integer))"),
        "r1.py": revision("r1", "r0", "op.create_index('users_id_idx', 'users', ['id'])"),
        "r2.py": revision("r2", "r1", "op.create_index('i2', 'users', ['id'])\n"
                                      "op.drop_column('users', 'legacy')"),
    }  # fmt: skip
    plain = write_project(tmp_path / "plain", revisions)
    by_rev = {Path(r.path).name: r for r in lint(plain)}
    assert (9, "require-concurrent-index-creation") in rules_at(by_rev["r1.py"])

    safe = write_project(tmp_path / "safe", revisions, ini_extra="ec.safe_ops = true\n")
    by_rev = {Path(r.path).name: r for r in lint(safe)}
    assert not {rule for _, rule in rules_at(by_rev["r1.py"])} & {
        "require-concurrent-index-creation",
        "require-lock-timeout",
    }
    refused = [f for f in by_rev["r2.py"].findings if f.rule == "invalid-migration"]
    assert [(f.line, f.severity) for f in refused] == [(10, "error")]
    assert "op.expand_contract" in refused[0].message + refused[0].suggestion


def test_a_pyproject_only_project_is_linted_with_its_safe_ops_setting(tmp_path: Path) -> None:
    """`alembic init --template pyproject`: the configuration lives in [tool.alembic]; lint finds
    the project from a revision file and honours `ec.safe_ops` written there."""
    (tmp_path / "alembic" / "versions").mkdir(parents=True)
    (tmp_path / "alembic" / "env.py").write_text("raise AssertionError('env.py must not run')\n")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.alembic]\nscript_location = "%(here)s/alembic"\n\n'
        "[tool.alembic.ec]\nsafe_ops = true\n"
    )
    versions = tmp_path / "alembic" / "versions"
    (versions / "r0.py").write_text(
        revision("r0", None, "op.create_table('users', sa.Column('id', sa.Integer))")
    )
    (versions / "r1.py").write_text(
        revision("r1", "r0", "op.create_index('users_id_idx', 'users', ['id'])\n"
                             "op.drop_column('users', 'legacy')")
    )  # fmt: skip
    (report,) = lint(versions / "r1.py")
    assert "require-concurrent-index-creation" not in {rule for _, rule in rules_at(report)}
    assert (10, "invalid-migration") in rules_at(report)
    by_rev = {Path(r.path).name: r for r in lint(tmp_path)}  # the project folder itself
    assert set(by_rev) == {"r0.py", "r1.py"}
