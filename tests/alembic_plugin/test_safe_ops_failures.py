"""ec.safe_ops when a statement fails: what ec added is taken back (through the runner, so a
blocker cannot hang the clean-up), and a rerun after fixing the data goes through."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from alembic.util import CommandError

from tests.alembic_plugin.conftest import AlembicProject

BASE = """
op.create_table('t', sa.Column('id', sa.Integer, primary_key=True), sa.Column('x', sa.Integer))
op.execute("INSERT INTO t VALUES (1, NULL), (2, -5)")
"""


def _project(project: AlembicProject, upgrade: str) -> AlembicProject:
    project.set_option("ec.safe_ops", "true")
    project.write_revision("0001", None, BASE)
    project.command("upgrade", "0001")
    project.write_revision("0002", "0001", upgrade)
    return project


def _sql(project: AlembicProject, statement: str) -> list[Any]:
    with project.db.connect() as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


def _constraints(project: AlembicProject) -> list[Any]:
    return _sql(
        project,
        "SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 't'::regclass "
        "AND contype = 'c' ORDER BY 1",
    )


def test_a_failed_validate_drops_the_not_valid_check_and_a_rerun_works(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project, "op.create_check_constraint('t_x_pos', 't', 'x > 0')")
    with pytest.raises(CommandError, match="VALIDATE CONSTRAINT t_x_pos failed"):
        project.command("upgrade", "head")
    assert _constraints(project) == []
    _sql(project, "INSERT INTO t VALUES (3, -1)")  # the running app's writes still work
    _sql(project, "UPDATE t SET x = 5 WHERE x < 0")
    project.command("upgrade", "head")
    assert _constraints(project) == [("t_x_pos", True)]


def test_a_not_valid_leftover_of_the_same_name_is_only_validated(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project, "op.create_check_constraint('t_x_pos', 't', 'x > 0')")
    _sql(project, "UPDATE t SET x = 5 WHERE x < 0")
    # what a failed run whose clean-up failed too leaves
    _sql(project, "ALTER TABLE t ADD CONSTRAINT t_x_pos CHECK (x > 0) NOT VALID")
    project.command("upgrade", "head")
    assert _constraints(project) == [("t_x_pos", True)]


def test_a_failed_not_null_drops_its_check_and_a_rerun_works(
    alembic_project: AlembicProject,
) -> None:
    project = _project(
        alembic_project, "op.alter_column('t', 'x', nullable=False, existing_type=sa.Integer)"
    )
    with pytest.raises(CommandError, match="VALIDATE CONSTRAINT t_x_ec_not_null failed"):
        project.command("upgrade", "head")
    assert _constraints(project) == []
    _sql(project, "INSERT INTO t VALUES (3, NULL)")
    _sql(project, "UPDATE t SET x = 0 WHERE x IS NULL")
    project.command("upgrade", "head")
    assert _sql(project, "SELECT attnotnull FROM pg_attribute WHERE attrelid = 't'::regclass "
                "AND attname = 'x'") == [(True,)]  # fmt: skip
    assert _constraints(project) == []


def test_a_cleanup_that_cannot_take_its_lock_names_the_invalid_index(
    alembic_project: AlembicProject,
) -> None:
    project = _project(alembic_project, "op.create_index('t_x_idx', 't', ['x'])")
    (project.root / "pyproject.toml").write_text(
        '[tool.expandcontract]\nlock_timeout = "50ms"\nretry_max_attempts = 2\n'
        'retry_max_time = "2s"\n'
    )
    with project.db.connect(autocommit=False) as holder:
        holder.execute("INSERT INTO t VALUES (10, 10)")  # an open writer: CONCURRENTLY waits
        # without lock_timeout the clean-up would wait for the holder: end it after 20 s
        pid = holder.info.backend_pid
        release = threading.Timer(20, _sql, (project, f"SELECT pg_terminate_backend({pid})"))
        release.start()
        try:
            with pytest.raises(CommandError) as raised:
                project.command("upgrade", "head")
        finally:
            release.cancel()
            release.join()
        assert not holder.closed
        holder.rollback()
    message = str(raised.value)
    assert 'ec could not remove the INVALID index "t_x_idx" it left' in message
    assert _sql(project, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x_idx'::regclass"
                ) == [(False,)]  # fmt: skip
    project.command("upgrade", "head")  # the rerun drops the leftover first
    assert _sql(project, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x_idx'::regclass"
                ) == [(True,)]  # fmt: skip
