"""``ec alembic revision``: expand/contract revision pairs on labelled branches, driven
through the ``alembic`` executable on a fresh ``alembic init`` project."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from click.testing import CliRunner, Result

from expandcontract.cli import cli
from expandcontract.lint.batch import lint_paths
from expandcontract.lint.settings import LintSettings
from tests.alembic_plugin.conftest import AlembicProject

BASE_UP = """\
op.create_table(
    "users",
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("legacy", sa.Text),
)"""


def ec_revision(*args: str) -> Result:
    return CliRunner().invoke(cli, ["alembic", "revision", *args])


def make_pair(message: str) -> dict[str, dict[str, str]]:
    result = ec_revision("-m", message, "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, dict[str, str]] = json.loads(result.output)
    return data


def set_upgrade(path: str, body: str) -> None:
    """Replace the ``pass`` that ends the generated upgrade() with ``body``."""
    text = Path(path).read_text()
    head, sep, tail = text.partition("\n    pass\n")
    assert sep and "def upgrade" in head and "def downgrade" in tail
    Path(path).write_text(f"{head}\n    {body}\n{tail}")


def versions_in_db(project: AlembicProject) -> set[str]:
    with project.db.connect() as conn:
        return {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}


def columns(project: AlembicProject) -> set[str]:
    with project.db.connect() as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"
        )
        return {row[0] for row in rows}


def test_pairs_upgrade_expand_then_contract_through_the_alembic_cli(
    alembic_project: AlembicProject,
) -> None:
    alembic_project.write_revision("base0", None, BASE_UP, "op.drop_table('users')")
    first = make_pair("add status")
    second = make_pair("add nickname")

    scripts = ScriptDirectory.from_config(alembic_project.config())
    e1, c1 = (scripts.get_revision(first[p]["revision"]) for p in ("expand", "contract"))
    e2, c2 = (scripts.get_revision(second[p]["revision"]) for p in ("expand", "contract"))
    # first use: both branches fork from the existing head and carry the labels ...
    assert (e1.down_revision, e1.module.branch_labels) == ("base0", ("expand",))
    assert (c1.down_revision, c1.module.branch_labels) == ("base0", ("contract",))
    assert c1.module.depends_on == e1.revision
    # ... later pairs are appended to expand@head / contract@head, unlabelled
    assert (e2.down_revision, e2.module.branch_labels) == (e1.revision, None)
    assert (c2.down_revision, c2.module.branch_labels) == (c1.revision, None)
    assert c2.module.depends_on == e2.revision
    assert Path(e1.path).name.endswith("_expand_add_status.py")
    assert Path(c2.path).name.endswith("_contract_add_nickname.py")

    set_upgrade(e1.path, 'op.add_column("users", sa.Column("status", sa.Text))')
    set_upgrade(e2.path, 'op.add_column("users", sa.Column("nickname", sa.Text))')
    set_upgrade(c2.path, 'op.drop_column("users", "legacy")')

    alembic_project.cli("upgrade", "expand@head")
    assert versions_in_db(alembic_project) == {e2.revision}
    assert columns(alembic_project) == {"id", "legacy", "status", "nickname"}

    alembic_project.cli("upgrade", "contract@head")
    assert columns(alembic_project) == {"id", "status", "nickname"}
    heads = alembic_project.cli("heads").stdout
    assert f"{e2.revision} (expand)" in heads and f"{c2.revision} (contract)" in heads
    # the expand head is a dependency of the contract head: Alembic keeps only the latter
    assert versions_in_db(alembic_project) == {c2.revision}
    current = alembic_project.cli("current").stdout
    assert c2.revision in current
    # nothing left to run on either branch
    assert alembic_project.cli("upgrade", "heads").returncode == 0
    assert versions_in_db(alembic_project) == {c2.revision}


def test_generated_pairs_run_as_written_with_upgrade_heads(
    alembic_project: AlembicProject,
) -> None:
    first = make_pair("one")  # first use on an empty history: both branches start at base
    second = make_pair("two")
    scripts = ScriptDirectory.from_config(alembic_project.config())
    assert scripts.get_revision(first["expand"]["revision"]).down_revision is None
    assert scripts.get_revision(first["contract"]["revision"]).down_revision is None
    text = Path(first["expand"]["path"]).read_text()
    assert "# op.expand_contract([" in text and "# op.expand_contract_rollback()" in text
    assert "# op.expand_contract_complete()" in Path(first["contract"]["path"]).read_text()

    # plain `alembic upgrade head` refuses two heads; `heads` runs both branches
    refused = alembic_project.cli("upgrade", "head", check=False)
    assert refused.returncode != 0 and "Multiple head revisions" in refused.stderr
    alembic_project.cli("upgrade", "heads")
    assert versions_in_db(alembic_project) == {second["contract"]["revision"]}
    alembic_project.cli("downgrade", "base")
    assert versions_in_db(alembic_project) == set()


def test_contract_head_pulls_in_the_expand_it_depends_on(
    alembic_project: AlembicProject,
) -> None:
    pair = make_pair("add status")
    set_upgrade(pair["expand"]["path"], 'op.create_table("t", sa.Column("id", sa.Integer))')
    alembic_project.cli("upgrade", "contract@head")  # a contract can never run first
    with alembic_project.db.connect() as conn:
        assert conn.execute("SELECT to_regclass('t') IS NOT NULL").fetchone() == (True,)


def test_branches_in_version_location_folders(alembic_project: AlembicProject) -> None:
    versions = alembic_project.versions
    alembic_project.set_option(
        "version_locations",
        os.pathsep.join(f"{versions}{sub}" for sub in ("/expand", "/contract", "")),
    )
    ini = alembic_project.ini.read_text()
    assert re.search(r"^path_separator = os$", ini, re.M)  # the generic template's default
    alembic_project.write_revision("base0", None, BASE_UP, "op.drop_table('users')")
    pairs = [make_pair("add status"), make_pair("drop legacy")]
    for pair in pairs:
        assert Path(pair["expand"]["path"]).parent == versions / "expand"
        assert Path(pair["contract"]["path"]).parent == versions / "contract"
    set_upgrade(pairs[1]["expand"]["path"], 'op.drop_column("users", "legacy")')
    set_upgrade(pairs[1]["contract"]["path"], 'op.drop_column("users", "legacy")')

    # ec lint knows the branch of an unlabelled later revision, from its own file
    [expand] = lint_paths([pairs[1]["expand"]["path"]], LintSettings())
    line = (
        Path(pairs[1]["expand"]["path"])
        .read_text()
        .split("\n")
        .index('    op.drop_column("users", "legacy")')
    )
    assert (line + 1, "expand-phase-destructive") in {(f.line, f.rule) for f in expand.findings}
    [contract] = lint_paths([pairs[1]["contract"]["path"]], LintSettings())
    assert not any(f.rule == "expand-phase-destructive" for f in contract.findings)

    # the expand copy of the drop is only there for lint: take it out, then run both branches
    expand_file = Path(pairs[1]["expand"]["path"])
    expand_file.write_text(
        expand_file.read_text().replace('op.drop_column("users", "legacy")', "pass")
    )
    alembic_project.cli("upgrade", "expand@head")
    assert "legacy" in columns(alembic_project)
    alembic_project.cli("upgrade", "contract@head")
    assert "legacy" not in columns(alembic_project)


def test_several_heads_without_branches_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = Config("alembic.ini")
    command.init(config, "alembic")
    command.revision(config, "a", rev_id="a1")
    command.revision(config, "b", rev_id="b1", head="base", splice=True)
    result = ec_revision("-m", "x")
    assert result.exit_code == 1
    assert "the Alembic history has 2 heads (a1, b1)" in result.output
    assert "alembic merge heads" in result.output
    assert sorted(p.name for p in (tmp_path / "alembic" / "versions").glob("*.py")) == [
        "a1_a.py",
        "b1_b.py",
    ]  # nothing written


def test_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    missing = ec_revision("-m", "x")
    assert missing.exit_code == 2 and "no alembic.ini or pyproject.toml" in missing.output
    missing = ec_revision("-m", "x", "--config", "elsewhere/alembic.ini")
    assert missing.exit_code == 2 and "no Alembic configuration at elsewhere/alembic.ini" in (
        missing.output
    )
    command.init(Config("alembic.ini"), "alembic")
    empty = ec_revision("-m", " ")
    assert empty.exit_code == 2 and "the revision message is empty" in empty.output
    assert list((tmp_path / "alembic" / "versions").glob("*.py")) == []


def test_a_missing_branch_starts_where_the_existing_one_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = Config("alembic.ini")
    command.init(config, "alembic")
    command.revision(config, "base", rev_id="r0")
    command.revision(config, "expand by hand", rev_id="e1", branch_label="expand")
    command.revision(config, "later", rev_id="r1", head="r0", splice=True)
    pair = make_pair("add status")
    scripts = ScriptDirectory.from_config(config)
    expand = scripts.get_revision(pair["expand"]["revision"])
    contract = scripts.get_revision(pair["contract"]["revision"])
    assert (expand.down_revision, expand.module.branch_labels) == ("e1", None)
    assert (contract.down_revision, contract.module.branch_labels) == ("r0", ("contract",))
    result = ec_revision("-m", "again")
    assert result.exit_code == 0 and "created branch" not in result.output
    assert re.search(r"^expand   \w+  .*_expand_again\.py$", result.output, re.M)
