"""``ec.safe_ops`` refuses what cannot be made safe in place, before anything of the revision
runs, names the ec operation to use, and lets a revision opt out explicitly."""

from __future__ import annotations

from io import StringIO

import pytest

from expandcontract.alembic.safe_checks import type_change_is_safe
from expandcontract.errors import ConfigError, ECError
from tests.alembic_plugin.conftest import AlembicProject
from tests.alembic_plugin.test_safe_ops import _offline, _project, _snapshot

# A safe operation first: it commits on its own (CONCURRENTLY), so only a check of the whole
# revision before it runs can leave the database unchanged.
FIRST = "op.create_index('users_age_idx', 'users', ['age'])\n"

REFUSED = {
    "drop_column": ("op.drop_column('users', 'age')", "drop_column"),
    "rename_column": (
        "op.alter_column('users', 'email', new_column_name='mail')", "rename_column"),
    "rewriting_type": ("op.alter_column('users', 'age', type_=sa.BigInteger)", "alter_column"),
    "narrowing_type": ("op.alter_column('users', 'email', type_=sa.String(20))", "alter_column"),
    "not_null_without_default": (
        "op.add_column('users', sa.Column('plan', sa.Text, nullable=False))", "add_column"),
    "volatile_default": (
        "op.add_column('users', sa.Column('r', sa.Float, server_default=sa.text('random()')))",
        "add_column"),
    "rename_table": ("op.rename_table('users', 'people')", "rename_table"),
    "dangerous_sql": ("op.execute('ALTER TABLE users ALTER COLUMN age TYPE bigint')",
                      "changing-column-type"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_an_unsafe_op_is_refused_with_nothing_changed(
    alembic_project: AlembicProject, case: str
) -> None:
    project = _project(alembic_project)
    call, named = REFUSED[case]
    project.write_revision("0002", "0001", FIRST + call)
    before = _snapshot(project)
    with pytest.raises(ECError) as raised:
        project.command("upgrade", "head")
    message = str(raised.value)
    assert "refused by ec.safe_ops" in message and "revision 0002" in message
    assert "op.expand_contract" in message and named in message
    assert "ec_allow" in message  # the hint: how to opt out
    assert _snapshot(project) == before


def test_a_revision_that_needs_the_database_is_checked_op_by_op_and_rolled_back(
    alembic_project: AlembicProject,
) -> None:
    """A revision that reads through op.get_bind() cannot be run dry: each operation is
    checked just before it runs, and the refusal rolls the migration transaction back."""
    project = _project(alembic_project)
    project.write_revision(
        "0002", "0001",
        """
        count = op.get_bind().execute(sa.text("SELECT count(*) FROM users")).scalar()
        op.add_column('users', sa.Column('note', sa.Text, server_default=str(count)))
        op.drop_column('users', 'age')
        """,
    )  # fmt: skip
    before = _snapshot(project)
    with pytest.raises(ECError, match=r"op.drop_column\('users', 'age'\)") as raised:
        project.command("upgrade", "head")
    assert "Alembic rolls back its open migration transaction" in str(raised.value)
    assert _snapshot(project) == before


def test_offline_a_type_change_needs_existing_type(alembic_project: AlembicProject) -> None:
    project = _project(alembic_project)
    project.write_revision("0002", "0001", "op.alter_column('users', 'email', type_=sa.Text)")
    with pytest.raises(ECError, match="pass existing_type"):
        _offline(project)
    project.write_revision(
        "0002", "0001",
        "op.alter_column('users', 'email', type_=sa.Text, existing_type=sa.String(50))",
    )  # fmt: skip
    assert "ALTER COLUMN email TYPE TEXT" in _offline(project)


def test_widening_a_varchar_and_a_fast_default_run(alembic_project: AlembicProject) -> None:
    project = _project(alembic_project)
    project.write_revision(
        "0002", "0001",
        """
        op.alter_column('users', 'email', type_=sa.String(80))
        op.alter_column('users', 'email', type_=sa.Text)
        op.add_column('users', sa.Column('plan', sa.Text, nullable=False, server_default='free'))
        op.add_column('users', sa.Column('at', sa.DateTime, server_default=sa.func.now()))
        """,
    )  # fmt: skip
    project.command("upgrade", "head")
    with project.db.connect() as conn:
        assert conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'users'::regclass AND attname = 'email'"
        ).fetchone() == ("text",)
        assert conn.execute("SELECT plan FROM users WHERE id = 1").fetchone() == ("free",)


def test_operations_on_a_table_created_in_the_same_revision_are_not_refused(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project)
    project.write_revision(
        "0002", "0001",
        """
        op.create_table('t', sa.Column('id', sa.Integer, primary_key=True),
                        sa.Column('x', sa.Integer))
        op.add_column('t', sa.Column('y', sa.Integer, nullable=False))
        op.alter_column('t', 'x', type_=sa.BigInteger)
        op.drop_column('t', 'x')
        op.execute("CREATE INDEX t_y_idx ON t (y)")
        """,
    )  # fmt: skip
    project.command("upgrade", "head")
    with project.db.connect() as conn:
        assert conn.execute("SELECT to_regclass('t_y_idx') IS NOT NULL").fetchone() == (True,)


def test_downgrade_drops_the_column_its_upgrade_added(alembic_project: AlembicProject) -> None:
    project = _project(alembic_project)
    project.write_revision(
        "0002", "0001", "op.add_column('users', sa.Column('note', sa.Text))",
        "op.drop_column('users', 'note')",
    )  # fmt: skip
    project.command("upgrade", "head")
    project.command("downgrade", "0001")
    with project.db.connect() as conn:
        assert conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"
        ).fetchone() == (0,)


# -- opting out -------------------------------------------------------------------------------
def test_ec_allow_lifts_one_refusal_and_keeps_the_safe_forms(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project)
    project.write_revision(
        "0002", "0001", FIRST + "op.drop_column('users', 'age')",
        header='ec_allow = {"drop_column"}',
    )  # fmt: skip
    out = _offline(project)
    assert "CREATE INDEX CONCURRENTLY users_age_idx" in out
    assert "ALTER TABLE users DROP COLUMN age;" in out
    project.write_revision(
        "0002", "0001", FIRST + "op.drop_column('users', 'age')"
        "\nop.alter_column('users', 'email', new_column_name='mail')",
        header='ec_allow = {"drop_column"}',
    )  # fmt: skip
    with pytest.raises(ECError, match="rename_column"):
        _offline(project)


def test_ec_safe_ops_false_runs_the_revision_as_plain_alembic(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project)
    project.write_revision(
        "0002", "0001", FIRST + "op.drop_column('users', 'email')", header="ec_safe_ops = False"
    )
    out = _offline(project)
    assert "CREATE INDEX users_age_idx ON users (age);" in out
    assert "CONCURRENTLY" not in out and "lock_timeout" not in out
    project.command("upgrade", "head")
    with project.db.connect() as conn:
        assert conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE column_name = 'email'"
        ).fetchone() == (0,)


def test_a_misspelt_opt_out_is_an_error(alembic_project: AlembicProject) -> None:
    project = _project(alembic_project)
    project.write_revision(
        "0002", "0001", "op.drop_column('users', 'age')", header='ec_allow = {"drop_colum"}'
    )
    with pytest.raises(ConfigError, match=r"unknown name.*drop_colum.*known names are"):
        project.command("upgrade", "head")


def test_dangerous_sql_can_be_allowed_by_rule_or_by_an_ignore_comment(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project)
    sql = "ALTER TABLE users ALTER COLUMN age TYPE bigint"
    project.write_revision(
        "0002", "0001", f"op.execute({sql!r})", header='ec_allow = {"changing-column-type"}'
    )
    assert sql in _offline(project)
    comment = f"-- ec:ignore changing-column-type small table\n{sql}"
    project.write_revision("0002", "0001", f"op.execute({comment!r})")
    assert sql in _offline(project)


# -- the alembic executable -------------------------------------------------------------------
def test_the_cli_prints_a_refusal_without_a_traceback_and_runs_the_fixed_revision(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project)
    project.write_revision("0002", "0001", FIRST + "op.drop_column('users', 'age')")
    refused = project.cli("upgrade", "head", check=False)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "FAILED: op.drop_column('users', 'age') in revision 0002" in output
    assert "op.expand_contract" in output and "Traceback" not in output
    project.write_revision("0002", "0001", FIRST)
    project.cli("upgrade", "head")
    with project.db.connect() as conn:
        assert conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_age_idx'::regclass"
        ).fetchone() == (True,)
    out = project.cli("upgrade", "0001:head", "--sql").stdout
    assert "SET lock_timeout = '500ms';" in out and "CREATE INDEX CONCURRENTLY" in out


# -- which type changes are safe --------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "safe"),
    [
        ("character varying(10)", "VARCHAR(20)", True),
        ("character varying(10)", "TEXT", True),
        ("character varying(10)", "VARCHAR", True),
        ("text", "VARCHAR", True),
        ("numeric(10,2)", "NUMERIC(12, 2)", True),
        ("numeric(10,2)", "NUMERIC", True),
        ("bit varying(4)", "VARBIT(8)", True),
        ("cidr", "INET", True),
        ("integer", "INTEGER", True),
        ("character varying(20)", "VARCHAR(10)", False),
        ("text", "VARCHAR(10)", False),
        ("integer", "BIGINT", False),
        ("numeric(10,2)", "NUMERIC(12, 3)", False),
        ("timestamp without time zone", "TIMESTAMP WITH TIME ZONE", False),
        ("character varying(10)[]", "TEXT[]", False),
        ("character(5)", "TEXT", False),
    ],
)
def test_type_changes_without_a_rewrite(old: str, new: str, safe: bool) -> None:
    assert type_change_is_safe(old, new) is safe


def test_offline_output_is_not_changed_by_a_refusal_check(alembic_project: AlembicProject) -> None:
    """Checking happens before rendering: a refused revision prints no SQL of its own."""
    project = _project(alembic_project)
    project.write_revision("0002", "0001", "op.drop_column('users', 'age')")
    out = StringIO()
    with pytest.raises(ECError):
        project.command("upgrade", "0001:head", sql=True, output=out)
    assert "DROP COLUMN" not in out.getvalue()
