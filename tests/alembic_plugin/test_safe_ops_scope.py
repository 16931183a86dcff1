"""ec.safe_ops: which revisions and operations get which form, how env.py's transaction
setup is handled, and how errors read."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from alembic.util import CommandError

from expandcontract.alembic.safe_checks import UnsafeOperation
from tests.alembic_plugin.conftest import AlembicProject

BASE = """
op.create_table('t', sa.Column('id', sa.Integer, primary_key=True), sa.Column('x', sa.Integer))
op.create_table('nopk', sa.Column('id', sa.Integer), sa.Column('x', sa.Integer))
op.execute("INSERT INTO t VALUES (1, 1), (2, 2)")
op.execute("INSERT INTO nopk VALUES (1, 1), (2, 2)")
"""

ADD_Z = {"add_column": {"table": "t", "column": {"name": "z", "type": "integer"}}}


def _project(project: AlembicProject, option: str = "true") -> AlembicProject:
    project.set_option("ec.safe_ops", option)
    project.write_revision("0001", None, BASE)
    project.command("upgrade", "0001")
    return project


def _sql(project: AlembicProject, statement: str) -> list[Any]:
    with project.db.connect() as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


def _env(project: AlembicProject, old: str, new: str) -> None:
    env = project.root / "alembic" / "env.py"
    text = env.read_text()
    assert old in text
    env.write_text(text.replace(old, new))


def _version(project: AlembicProject) -> list[Any]:
    return _sql(project, "SELECT version_num FROM alembic_version")


def test_create_primary_key_builds_its_index_concurrently(alembic_project: AlembicProject) -> None:
    project = _project(alembic_project)
    project.write_revision("0002", "0001", "op.create_primary_key('nopk_pkey', 'nopk', ['id'])")
    out = StringIO()
    project.command("upgrade", "0001:head", sql=True, output=out)
    offline = out.getvalue()
    assert "CREATE UNIQUE INDEX CONCURRENTLY nopk_pkey" in offline
    assert '"nopk_pkey" PRIMARY KEY USING INDEX "nopk_pkey"' in offline
    assert offline.count("BEGIN;") == offline.count("COMMIT;")
    project.command("upgrade", "head")
    constraints = "SELECT contype::text, convalidated FROM pg_constraint "
    constraints += "WHERE conrelid = 'nopk'::regclass AND contype <> 'n'"
    assert _sql(project, constraints) == [("p", True)]


@pytest.mark.parametrize(
    ("upgrade", "allow"),
    [
        (
            "op.create_exclude_constraint('t_excl', 't', ('x', '='), using='btree')",
            "exclude_constraint",
        ),
        ("op.drop_table('nopk')", "drop_table"),
    ],
)
def test_exclude_constraints_and_drop_table_are_refused_unless_allowed(
    alembic_project: AlembicProject, upgrade: str, allow: str
) -> None:
    project = _project(alembic_project)
    project.write_revision("0002", "0001", upgrade)
    with pytest.raises(UnsafeOperation, match=f'ec_allow = {{"{allow}"}}'):
        project.command("upgrade", "head")
    assert _version(project) == [("0001",)]
    project.write_revision("0002", "0001", upgrade, header=f"ec_allow = {{{allow!r}}}")
    project.command("upgrade", "head")
    assert _version(project) == [("0002",)]


def test_drop_table_is_not_refused_in_downgrade_nor_for_a_new_table(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project)
    project.write_revision(
        "0002", "0001",
        "op.create_table('n', sa.Column('id', sa.Integer))\nop.drop_table('n')",
        "op.drop_table('nopk')",
    )  # fmt: skip
    project.command("upgrade", "head")
    project.command("downgrade", "0001")
    assert _sql(project, "SELECT to_regclass('nopk')") == [(None,)]


def test_operations_on_a_table_created_in_the_revision_stay_in_its_transaction(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project)
    project.write_revision(
        "0002", "0001",
        "op.create_table('n', sa.Column('id', sa.Integer))\n"
        "op.create_index('n_id_idx', 'n', ['id'])\n"
        "op.create_check_constraint('n_id_pos', 'n', 'id > 0')\n"
        'op.execute("SELECT 1/0")',
    )  # fmt: skip
    with pytest.raises(CommandError) as raised:
        project.command("upgrade", "head")
    assert "op.execute failed: division by zero" in str(raised.value)
    assert _sql(project, "SELECT to_regclass('n')") == [(None,)]
    assert _version(project) == [("0001",)]


def test_a_rename_with_nullable_false_sets_not_null_on_the_new_name(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project)
    project.write_revision(
        "0002", "0001",
        "op.alter_column('t', 'x', new_column_name='y', nullable=False, "
        "existing_type=sa.Integer)",
        header='ec_allow = {"rename_column"}',
    )  # fmt: skip
    project.command("upgrade", "head")
    assert _sql(project, "SELECT attname, attnotnull FROM pg_attribute WHERE attrelid = "
                "'t'::regclass AND attnum = 2") == [("y", True)]  # fmt: skip


@pytest.mark.parametrize(
    "upgrade",
    [
        "op.create_index('t_x_idx', 't', ['x'])",
        f"op.expand_contract([{ADD_Z!r}])",
    ],
)
def test_a_transaction_begun_by_env_py_is_reported_not_asserted(
    alembic_project: AlembicProject, upgrade: str
) -> None:
    project = _project(alembic_project)
    _env(project, "connectable.connect()", "connectable.begin()")
    project.write_revision("0002", "0001", upgrade)
    with pytest.raises(CommandError, match=r"connectable\.connect\(\)") as raised:
        project.command("upgrade", "head")
    assert "engine.begin()" in str(raised.value)
    assert _version(project) == [("0001",)]


def test_an_autocommit_engine_runs_the_safe_forms(alembic_project: AlembicProject) -> None:
    project = _project(alembic_project)
    _env(
        project,
        "poolclass=pool.NullPool,",
        'poolclass=pool.NullPool, isolation_level="AUTOCOMMIT",',
    )
    project.write_revision(
        "0002", "0001",
        "op.add_column('t', sa.Column('note', sa.Text))\n"
        "op.create_index('t_x_idx', 't', ['x'])\n"
        "op.create_check_constraint('t_x_pos', 't', 'x > 0')\n"
        "op.alter_column('t', 'x', nullable=False, existing_type=sa.Integer)",
    )  # fmt: skip
    project.command("upgrade", "head")
    assert _sql(project, "SELECT conname, convalidated FROM pg_constraint WHERE conrelid = "
                "'t'::regclass AND contype = 'c'") == [("t_x_pos", True)]  # fmt: skip


def test_an_expand_contract_first_does_not_run_a_refused_revision(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project)
    schemas = "SELECT nspname FROM pg_namespace ORDER BY 1"
    before = _sql(project, schemas)
    project.write_revision(
        "0002", "0001",
        f"op.expand_contract([{ADD_Z!r}])\n"
        "op.drop_column('t', 'x')",
    )  # fmt: skip
    with pytest.raises(UnsafeOperation, match="Nothing of this revision was run"):
        project.command("upgrade", "head")
    assert _sql(project, schemas) == before
    assert _version(project) == [("0001",)]


@pytest.mark.parametrize(
    ("option", "header", "expected"),
    [
        ("maybe", "", "ec.safe_ops must be true or false"),
        ("true", "ec_allow = {'drop_colum'}", "unknown name(s) in ec_allow"),
    ],
)
def test_config_errors_are_reported_by_the_cli_without_a_traceback(
    alembic_project: AlembicProject, option: str, header: str, expected: str
) -> None:
    project = _project(alembic_project)
    ini = project.ini.read_text().replace("ec.safe_ops = true", f"ec.safe_ops = {option}")
    project.ini.write_text(ini)
    project.write_revision("0002", "0001", "op.create_index('t_x_idx', 't', ['x'])", header=header)
    proc = project.cli("upgrade", "head", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in output
    assert "FAILED: " in output and expected in output


def test_an_online_upgrade_does_not_log_static_sql(alembic_project: AlembicProject) -> None:
    project = _project(alembic_project)
    project.write_revision("0002", "0001", "op.create_index('t_x_idx', 't', ['x'])")
    proc = project.cli("upgrade", "head")
    assert "Running upgrade 0001 -> 0002" in proc.stderr
    assert "Generating static SQL" not in proc.stderr


def test_a_decorated_upgrade_keeps_its_opt_outs(alembic_project: AlembicProject) -> None:
    project = _project(alembic_project)
    header = """
    import functools
    ec_allow = {"drop_column"}


    def logged(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return fn(*args, **kwargs)
        return wrapper


    @logged"""
    project.write_revision("0002", "0001", "op.drop_column('t', 'x')", header=header)
    project.command("upgrade", "head")
    assert _version(project) == [("0002",)]
