"""``ec.safe_ops = true``: Alembic's own op.* in their lock-safe forms, through ec's runner, on
real PostgreSQL, driven through Alembic itself."""

from __future__ import annotations

import threading
from io import StringIO
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from alembic.operations import Operations, toimpl

from expandcontract.alembic import safe_ops
from expandcontract.errors import ECError, LockRetryExhausted
from tests.alembic_plugin.conftest import AlembicProject

BASE = """
op.create_table('orgs', sa.Column('id', sa.Integer, primary_key=True))
op.create_table(
    'users',
    sa.Column('id', sa.Integer, primary_key=True),
    sa.Column('email', sa.String(50)),
    sa.Column('age', sa.Integer),
    sa.Column('org_id', sa.Integer),
)
op.execute("INSERT INTO orgs VALUES (1)")
op.execute("INSERT INTO users VALUES (1, 'a@x', 30, 1), (2, 'b@x', 40, 1)")
"""

SAFE = """
op.create_index('users_age_idx', 'users', ['age'])
op.create_unique_constraint('users_email_key', 'users', ['email'])
op.create_foreign_key('users_org_fk', 'users', 'orgs', ['org_id'], ['id'])
op.create_check_constraint('users_age_check', 'users', 'age > 0')
op.alter_column('users', 'email', nullable=False, existing_type=sa.String(50))
op.add_column('users', sa.Column('nick', sa.Text, server_default='anon', nullable=False))
"""


def _project(project: AlembicProject, *, safe: bool = True) -> AlembicProject:
    if safe:
        project.set_option("ec.safe_ops", "true")
    project.write_revision("0001", None, BASE)
    project.command("upgrade", "0001")
    return project


def _snapshot(project: AlembicProject) -> dict[str, Any]:
    """Everything a refused revision must not have changed."""
    with project.db.connect() as conn:
        return {
            "columns": conn.execute(
                "SELECT table_name, column_name, data_type, is_nullable FROM "
                "information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2"
            ).fetchall(),
            "indexes": conn.execute(
                "SELECT indexrelid::regclass::text, indisvalid FROM pg_index i JOIN pg_class c"
                " ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1"
            ).fetchall(),
            "constraints": conn.execute(
                "SELECT conname, convalidated FROM pg_constraint "
                "WHERE connamespace = 'public'::regnamespace ORDER BY 1"
            ).fetchall(),
            "version": conn.execute("SELECT version_num FROM alembic_version").fetchall(),
        }


def _offline(project: AlembicProject, target: str = "0001:head") -> str:
    out = StringIO()
    project.command("upgrade", target, sql=True, output=out)
    return out.getvalue()


# -- the safe forms ---------------------------------------------------------------------------
def test_safe_forms_end_valid_and_validated_with_no_leftover_check(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project)
    project.write_revision("0002", "0001", SAFE)
    project.command("upgrade", "head")
    with project.db.connect() as conn:
        indexes = dict(
            conn.execute(
                "SELECT indexrelid::regclass::text, indisvalid FROM pg_index "
                "WHERE indrelid = 'users'::regclass"
            ).fetchall()
        )
        assert indexes == {"users_pkey": True, "users_age_idx": True, "users_email_key": True}
        constraints = dict(
            conn.execute(
                "SELECT conname, convalidated FROM pg_constraint WHERE conrelid = "
                "'users'::regclass AND contype IN ('f', 'c', 'u')"
            ).fetchall()
        )
        assert constraints == {"users_email_key": True, "users_org_fk": True,
                               "users_age_check": True}  # fmt: skip
        # the unique constraint owns the index it was attached from
        assert conn.execute(
            "SELECT conindid::regclass::text FROM pg_constraint WHERE conname = 'users_email_key'"
        ).fetchone() == ("users_email_key",)
        assert conn.execute(
            "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass "
            "AND attname = 'email'"
        ).fetchone() == (True,)
        assert conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conname LIKE '%ec_not_null%'"
        ).fetchone() == (0,)
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0002",)


def test_offline_sql_shows_the_safe_forms_and_lock_timeout(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project)
    project.write_revision("0002", "0001", SAFE)
    out = _offline(project)
    assert "SET lock_timeout = '500ms';" in out
    assert "COMMIT;" in out and "BEGIN;" in out  # the autocommit blocks
    assert "CREATE INDEX CONCURRENTLY users_age_idx ON users (age);" in out
    assert "CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);" in out
    assert (
        'ALTER TABLE "users" ADD CONSTRAINT "users_email_key" UNIQUE USING INDEX '
        '"users_email_key";' in out
    )
    assert "FOREIGN KEY(org_id) REFERENCES orgs (id) NOT VALID;" in out
    assert 'ALTER TABLE "users" VALIDATE CONSTRAINT "users_org_fk";' in out
    assert "CHECK (age > 0) NOT VALID;" in out
    assert '"users_email_ec_not_null" CHECK ("email" IS NOT NULL) NOT VALID;' in out
    assert 'ALTER TABLE "users" ALTER COLUMN "email" SET NOT NULL;' in out
    assert 'ALTER TABLE "users" DROP CONSTRAINT "users_email_ec_not_null";' in out
    assert "DROP INDEX CONCURRENTLY IF EXISTS" in out  # how to clean an INVALID leftover
    # the statements come in the safe order: SET lock_timeout first, VALIDATE after NOT VALID
    assert out.index("SET lock_timeout") < out.index("CREATE INDEX CONCURRENTLY")
    assert out.index("users_org_fk") < out.index('VALIDATE CONSTRAINT "users_org_fk"')


def test_an_invalid_leftover_index_is_dropped_and_built_again(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project)
    with project.db.connect() as conn:
        conn.execute("UPDATE users SET email = 'same'")
        with pytest.raises(Exception, match="could not create unique index"):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY users_email_uq ON users (email)")
        assert conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email_uq'::regclass"
        ).fetchone() == (False,)
        conn.execute("UPDATE users SET email = id::text")
    project.write_revision(
        "0002", "0001", "op.create_index('users_email_uq', 'users', ['email'], unique=True)"
    )
    project.command("upgrade", "head")
    with project.db.connect() as conn:
        assert conn.execute(
            "SELECT indisvalid, indisunique FROM pg_index "
            "WHERE indexrelid = 'users_email_uq'::regclass"
        ).fetchone() == (True, True)


def test_a_column_added_with_a_foreign_key_and_an_index_gets_their_safe_forms(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project)
    project.write_revision(
        "0002", "0001",
        "op.add_column('users', sa.Column('team_id', sa.Integer, sa.ForeignKey('orgs.id'), "
        "index=True))",
    )  # fmt: skip
    out = _offline(project)
    assert "users_team_id_fkey FOREIGN KEY(team_id) REFERENCES orgs (id) NOT VALID;" in out
    assert 'VALIDATE CONSTRAINT "users_team_id_fkey"' in out
    assert "CREATE INDEX CONCURRENTLY ix_users_team_id ON users (team_id);" in out
    project.command("upgrade", "head")
    with project.db.connect() as conn:
        assert conn.execute(
            "SELECT convalidated FROM pg_constraint WHERE conname = 'users_team_id_fkey'"
        ).fetchone() == (True,)
        assert conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_users_team_id'::regclass"
        ).fetchone() == (True,)


# -- the runner -------------------------------------------------------------------------------
def test_a_held_lock_is_retried_then_reported_with_its_holder(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project)
    (project.root / "pyproject.toml").write_text(
        '[tool.expandcontract]\nlock_timeout = "50ms"\nretry_max_attempts = 3\n'
        'retry_max_time = "5s"\n'
    )
    project.write_revision("0002", "0001", "op.add_column('users', sa.Column('note', sa.Text))")
    before = _snapshot(project)
    with project.db.connect(autocommit=False) as holder:
        holder.execute("SET application_name = 'the-blocker'")
        holder.execute("LOCK TABLE users IN ACCESS SHARE MODE")
        pid = holder.info.backend_pid
        with pytest.raises(LockRetryExhausted) as raised:
            project.command("upgrade", "head")
        holder.rollback()
    message = str(raised.value)
    assert "after 3 attempt(s)" in message
    assert "lock_timeout 50ms each" in message
    assert f"blocked by pid {pid}" in message and "'the-blocker'" in message
    assert f"pg_cancel_backend({pid})" in message
    assert _snapshot(project) == before
    assert not [t for t in threading.enumerate() if t.name.endswith("(_run)")]  # watcher


def test_the_lock_timeout_is_set_for_each_statement_and_put_back(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project)
    (project.root / "pyproject.toml").write_text('[tool.expandcontract]\nlock_timeout = "1234ms"\n')
    project.write_revision(
        "0002", "0001",
        """
        op.execute("CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS v")
        op.get_bind().exec_driver_sql(
            "INSERT INTO seen SELECT current_setting('lock_timeout')")
        """,
    )  # fmt: skip
    project.command("upgrade", "head")
    with project.db.connect() as conn:
        assert conn.execute("SELECT v FROM seen").fetchall() == [("1234ms",), ("0",)]


# -- the setting ------------------------------------------------------------------------------
def _alembic_only() -> None:
    for op_class, original in safe_ops._ORIGINALS.items():
        Operations.implementation_for(op_class, replace=True)(original)


def test_without_the_setting_alembic_renders_exactly_what_it_renders_alone(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project, safe=False)
    project.write_revision("0002", "0001", SAFE + "\nop.drop_column('users', 'age')")
    plugin_off = _offline(project)
    project.set_option("ec.safe_ops", "false")
    explicitly_off = _offline(project)
    _alembic_only()
    try:
        assert (
            Operations._to_impl.dispatch(
                __import__("alembic").operations.ops.CreateIndexOp("i", "t", ["c"])
            )
            is toimpl.create_index
        )
        alone = _offline(project)
    finally:
        safe_ops.register()
    assert plugin_off == alone == explicitly_off
    assert "CREATE INDEX users_age_idx ON users (age);" in alone
    assert "lock_timeout" not in alone and "CONCURRENTLY" not in alone
    project.command("upgrade", "head")  # and online it runs as Alembic runs it
    with project.db.connect() as conn:
        assert conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' "
            "AND column_name = 'age'"
        ).fetchone() == (0,)


@pytest.mark.parametrize(
    "toml",
    ["[tool.alembic]\nec.safe_ops = true\n", '[tool.alembic]\n"ec.safe_ops" = true\n'],
    ids=["dotted-key", "quoted-key"],
)
def test_the_setting_is_read_from_pyproject_toml(
    alembic_project: AlembicProject, toml: str
) -> None:
    project = _project(alembic_project, safe=False)
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(toml)
    project.write_revision("0002", "0001", "op.create_index('users_age_idx', 'users', ['age'])")
    out = StringIO()
    config = Config(str(project.ini), toml_file=str(pyproject), output_buffer=out)
    config.set_main_option("script_location", str(project.dir))
    command.upgrade(config, "0001:head", sql=True)
    assert "CREATE INDEX CONCURRENTLY users_age_idx" in out.getvalue()
    pyproject.write_text(toml.replace("true", "false"))
    out = StringIO()
    config = Config(str(project.ini), toml_file=str(pyproject), output_buffer=out)
    config.set_main_option("script_location", str(project.dir))
    command.upgrade(config, "0001:head", sql=True)
    assert "CREATE INDEX users_age_idx" in out.getvalue()


def test_a_setting_that_is_not_a_boolean_is_an_error(alembic_project: AlembicProject) -> None:
    project = _project(alembic_project, safe=False)
    project.set_option("ec.safe_ops", "maybe")
    project.write_revision("0002", "0001", "op.create_index('users_age_idx', 'users', ['age'])")
    with pytest.raises(ECError, match=r"ec\.safe_ops must be true or false, got 'maybe'"):
        project.command("upgrade", "head")


def test_batch_operations_run_through_the_safe_forms_too(alembic_project: AlembicProject) -> None:
    project = _project(alembic_project)
    project.write_revision(
        "0002", "0001",
        """
        with op.batch_alter_table('users') as batch:
            batch.add_column(sa.Column('z', sa.Text))
            batch.create_index('users_z_idx', ['z'])
        """,
    )  # fmt: skip
    out = _offline(project)
    assert "ALTER TABLE users ADD COLUMN z TEXT;" in out
    assert "CREATE INDEX CONCURRENTLY users_z_idx ON users (z);" in out
    project.command("upgrade", "head")
    with project.db.connect() as conn:
        assert conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_z_idx'::regclass"
        ).fetchone() == (True,)
