"""`ec verify --alembic alembic.ini --revision REV`: the revision's op.expand_contract, on the
schema Alembic builds from the revisions before it, through click on real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from click.testing import CliRunner

from expandcontract.cli.verify_cmd import verify
from expandcontract.dsn import to_psycopg, to_sqlalchemy
from expandcontract.pytest_plugin import EcDatabase
from expandcontract.servers.base import PostgresServer
from expandcontract.verify.alembic_source import load_revision
from expandcontract.verify.api import verify_migration
from tests.alembic_plugin.conftest import AlembicProject
from tests.verify.apps import notes

OLD = "tests.verify.apps.notes:v1"
NEW = "tests.verify.apps.notes:v2"
CREATE_NOTES = """
op.create_table(
    "notes",
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("body", sa.Text),
    sa.Column("score", sa.Integer, nullable=False, server_default=sa.text("0")),
)
"""
RENAME_BODY = """
op.expand_contract([
    {"rename_column": {"table": "notes", "from": "body", "to": "content"}},
    {"create_index": {"name": "notes_score_idx", "table": "notes", "columns": ["score"]}},
])
"""
NOT_NULL_TENANT = """
op.expand_contract([{"sql": {
    "up": "ALTER TABLE notes ADD COLUMN tenant_id integer NOT NULL DEFAULT 1; "
          "ALTER TABLE notes ALTER COLUMN tenant_id DROP DEFAULT",
    "down": "ALTER TABLE notes DROP COLUMN tenant_id",
}}])
"""


@pytest.fixture
def project(ec_db: EcDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AlembicProject:
    """A fresh `alembic init` project (its alembic.ini points at ec_db) whose first revision
    creates the notes table."""
    monkeypatch.chdir(tmp_path)  # no ec settings from the repository's pyproject.toml
    project = AlembicProject(tmp_path, ec_db)
    project.write_revision("base0001", None, CREATE_NOTES, 'op.drop_table("notes")')
    return project


@pytest.fixture
def run(ec_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("EC_DATABASE_URL", ec_server.url)  # --server url: throwaway dbs there

    def invoke(project: AlembicProject, *args: str) -> Any:
        argv = ["--alembic", str(project.ini), *args, "--server", "url", "--rows", "30"]
        return CliRunner().invoke(verify, argv, catch_exceptions=False)

    return invoke


def tables_in(db: EcDatabase) -> set[str]:
    with psycopg.connect(to_psycopg(db.url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_compatible_revision_passes_and_leaves_the_projects_database_alone(
    project: AlembicProject, run: Any
) -> None:
    project.write_revision("expand0002", "base0001", RENAME_BODY)
    result = run(project, "--revision", "expand", "--old", OLD, "--new", NEW, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["compatible"] is True
    assert data["migration"] == "expand0002"  # named after the revision, as the runtime op does
    assert data["alembic"]["revision"] == "expand0002"
    static = {c["detail"] for c in data["checks"] if c["kind"] == "static" and c["ok"]}
    assert "schema public_expand0002 matches" in static
    assert tables_in(project.db) == set()  # Alembic ran on verify's throwaway database only


def test_breaking_revision_reports_the_incompatibility(project: AlembicProject, run: Any) -> None:
    project.write_revision("expand0002", "base0001", NOT_NULL_TENANT)
    result = run(project, "--revision", "head", "--old", OLD, "--new", OLD)
    assert result.exit_code == 1, result.output
    assert "NOT compatible" in result.output
    assert "after expand / old / static: NOT NULL without default: notes.tenant_id" in result.output
    assert "statement: INSERT INTO notes" in result.output


def test_operations_before_expand_contract_build_the_base_and_a_file_gives_the_operations(
    project: AlembicProject, run: Any
) -> None:
    (project.versions / "label.yaml").write_text(
        "operations:\n  - create_index: {name: notes_label_idx, table: notes, columns: [label]}\n"
    )
    upgrade = """
        op.add_column("notes", sa.Column("label", sa.Text))
        op.expand_contract("label.yaml", name="notes_label")
        op.execute("COMMENT ON TABLE notes IS 'labelled'")
    """
    project.write_revision("expand0002", "base0001", upgrade)
    result = run(project, "--revision", "expand0002", "--old", OLD, "--new", OLD)
    # the index on label needs the add_column that runs before op.expand_contract
    assert result.exit_code == 0, result.output
    assert "ec verify notes_label" in result.output and "verdict: compatible" in result.output
    assert (
        "note: revision expand0002 runs other operations after op.expand_contract; "
        "ec verify does not check them"
    ) in result.output


def test_revision_without_expand_contract_is_a_usage_error(
    project: AlembicProject, run: Any
) -> None:
    result = run(project, "--revision", "base0001", "--old", OLD, "--new", NEW)
    assert result.exit_code == 2
    assert "revision base0001" in result.output
    assert "does not call op.expand_contract" in result.output
    assert "give --revision the revision whose upgrade() calls op.expand_contract" in result.output


def test_completing_revision_is_a_usage_error_that_names_what_it_calls(
    project: AlembicProject, run: Any
) -> None:
    project.write_revision("expand0002", "base0001", RENAME_BODY)
    project.write_revision("contract03", "expand0002", "op.expand_contract_complete()")
    result = run(project, "--revision", "contract03", "--old", OLD, "--new", NEW)
    assert result.exit_code == 2
    assert "calls op.expand_contract_complete but not op.expand_contract" in result.output


def test_unknown_revision_is_a_usage_error(project: AlembicProject, run: Any) -> None:
    result = run(project, "--revision", "nope", "--old", OLD, "--new", NEW)
    assert result.exit_code == 2
    assert "--revision 'nope': Can't locate revision identified by 'nope'" in result.output
    assert "history" in result.output


def test_upgrade_that_needs_a_database_to_build_the_operations_is_explained(
    project: AlembicProject, run: Any
) -> None:
    upgrade = """
        count = op.get_bind().execute(sa.text("SELECT count(*) FROM notes")).scalar()
        op.expand_contract([{"create_index": {"name": f"i{count}", "table": "notes",
                                              "columns": ["score"]}}])
    """
    project.write_revision("expand0002", "base0001", upgrade)
    result = run(project, "--revision", "expand0002", "--old", OLD, "--new", OLD)
    assert result.exit_code == 2
    assert "running upgrade() without a database failed before op.expand_contract" in result.output


def test_env_py_that_ignores_the_given_url_is_refused_before_it_runs_anything(
    project: AlembicProject, run: Any
) -> None:
    env = project.dir / "env.py"
    url = to_sqlalchemy(project.db.url)
    env.write_text(
        env.read_text().replace(
            'config.get_section(config.config_ini_section, {}),\n        prefix="sqlalchemy.",',
            f"{{'sqlalchemy.url': {url!r}}},\n        prefix='sqlalchemy.',",
        )
    )
    assert repr(url) in env.read_text()
    project.write_revision("expand0002", "base0001", RENAME_BODY)
    result = run(project, "--revision", "expand0002", "--old", OLD, "--new", NEW)
    assert result.exit_code == 2, result.output
    assert f"env.py connected to database '{project.db.name}'" in result.output
    assert "make env.py use one of them" in result.output
    assert tables_in(project.db) == set()


@pytest.mark.parametrize(
    "args, message",
    [
        (["m.yaml", "--alembic", "alembic.ini"], "either MIGRATION or --alembic"),
        (["--revision", "head"], "--revision needs --alembic"),
        ([], "nothing to verify"),
        (["--alembic", "missing.ini"], "--alembic missing.ini: no such file"),
    ],
)
def test_argument_mistakes_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(verify, [*args, "--old", OLD, "--new", NEW])
    assert result.exit_code == 2
    assert message in result.output


class PyprojectProject(AlembicProject):
    """`alembic init -t pyproject`: [tool.alembic] in pyproject.toml, the URL in alembic.ini
    (the shared harness only makes the generic template)."""

    def __init__(self, root: Path, db: EcDatabase) -> None:
        self.root, self.db = root, db
        self.dir, self.versions = root / "alembic", root / "alembic" / "versions"
        config = Config(str(root / "alembic.ini"), toml_file=str(root / "pyproject.toml"))
        command.init(config, str(self.dir), template="pyproject")
        url = to_sqlalchemy(db.url).replace("%", "%%")
        self.ini.write_text(
            self.ini.read_text().replace("driver://user:pass@localhost/dbname", url)
        )


def test_pyproject_project_is_verified_through_its_pyproject_toml(
    ec_db: EcDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    project = PyprojectProject(tmp_path, ec_db)
    assert "script_location" not in project.ini.read_text()  # only pyproject.toml has it
    project.write_revision("base0001", None, CREATE_NOTES)
    project.write_revision("expand0002", "base0001", RENAME_BODY)
    argv = ["--alembic", str(tmp_path / "pyproject.toml"), "--old", OLD, "--new", NEW]
    result = CliRunner().invoke(
        verify, [*argv, "--server", "url", "--rows", "30"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output  # --revision defaults to head
    assert "ec verify expand0002" in result.output and "verdict: compatible" in result.output
    assert tables_in(project.db) == set()


def test_two_expand_contract_calls_and_base_sql_with_alembic_are_usage_errors(
    project: AlembicProject, run: Any
) -> None:
    project.write_revision("expand0002", "base0001", RENAME_BODY + RENAME_BODY)
    result = run(project, "--revision", "expand0002", "--old", OLD, "--new", NEW)
    assert result.exit_code == 2
    assert "calls op.expand_contract 2 times" in result.output
    project.write_revision("expand0002", "base0001", RENAME_BODY)
    result = run(project, "--old", OLD, "--new", NEW, "--base-sql", "base.sql")
    assert result.exit_code == 2
    assert "--alembic builds the schema before the migration" in result.output


def test_relative_script_location_is_found_next_to_the_config_file(
    project: AlembicProject, run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = project.ini.read_text()
    project.ini.write_text(
        text.replace("script_location = %(here)s/alembic", "script_location = alembic")
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = run(project, "--revision", "base0001", "--old", OLD, "--new", NEW)
    assert result.exit_code == 2
    assert (
        "revision base0001" in result.output and "does not call op.expand_contract" in result.output
    )


def test_python_api_upgrades_through_depends_on_before_the_revision(
    project: AlembicProject, ec_server: PostgresServer
) -> None:
    """The revision depends on a branch that creates the table its ec migration indexes."""
    project.write_revision(
        "tags0001",
        None,
        'op.create_table("tags", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("label", sa.Text))',
        branch_labels=("tags",),
    )
    upgrade = """
        op.expand_contract([{"create_index": {"name": "tags_label_idx", "table": "tags",
                                              "columns": ["label"]}}], name="tag_labels")
    """
    project.write_revision("expand0002", "base0001", upgrade, depends_on="tags0001")
    revision = load_revision(project.ini, "expand0002")
    assert revision.needs == ("base0001", "tags0001")
    report = verify_migration(
        revision, old=notes.v1, new=notes.v1, server=ec_server, rows=20, rounds=1
    )
    assert report.compatible, report.text()
    assert report.migration == "tag_labels"
    assert report.meta["alembic"]["unchecked_operations_after"] is False


def _completed_migration_then_an_index(project: AlembicProject) -> None:
    """expand0002 (an ec migration), contract03 (its completion), expand0004 (the next one)."""
    project.write_revision("expand0002", "base0001", RENAME_BODY)
    project.write_revision("contract03", "expand0002", "op.expand_contract_complete()")
    upgrade = """
        op.expand_contract([{"create_index": {"name": "notes_content_idx", "table": "notes",
                                              "columns": ["content"]}}])
    """
    project.write_revision("expand0004", "contract03", upgrade)


def test_revision_after_an_earlier_completed_ec_migration(
    project: AlembicProject, run: Any
) -> None:
    """Alembic runs the earlier op.expand_contract and its completion for real while building
    the base; the old version then lives where ec left the schema."""
    _completed_migration_then_an_index(project)
    result = run(project, "--revision", "expand0004", "--old", NEW, "--new", NEW, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["compatible"] is True and data["migration"] == "expand0004"
    static = {c["detail"] for c in data["checks"] if c["kind"] == "static"}
    assert static == {"schema public_expand0002 matches", "schema public_expand0004 matches"}
    assert tables_in(project.db) == set()


COOKBOOK_ENV = """
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config


def run_migrations_online():
    connectable = config.attributes.get("connection", None)
    if connectable is None:  # Alembic's cookbook: "Sharing a Connection across one or more
        connectable = engine_from_config(  # programmatic migration commands"
            config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        ).connect()
    context.configure(connection=connectable, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
"""


def test_env_py_from_the_cookbook_takes_the_given_connection_through_ec_directives(
    project: AlembicProject, run: Any
) -> None:
    """An env.py that uses ``config.attributes["connection"]``: the earlier op.expand_contract
    and its completion run for real on the connection verify hands over (they commit what
    Alembic did and work outside its transaction, which a caller-begun transaction forbids)."""
    (project.dir / "env.py").write_text(COOKBOOK_ENV)
    _completed_migration_then_an_index(project)
    result = run(project, "--revision", "expand0004", "--old", NEW, "--new", NEW)
    assert result.exit_code == 0, result.output
    assert tables_in(project.db) == set()
