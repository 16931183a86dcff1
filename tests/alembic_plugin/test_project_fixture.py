"""The test harness itself: a fresh `alembic init` project migrates the throwaway database,
in-process and through the `alembic` executable."""

from __future__ import annotations

from tests.alembic_plugin.conftest import AlembicProject


def test_a_fresh_project_upgrades_in_process_and_through_the_cli(
    alembic_project: AlembicProject,
) -> None:
    alembic_project.write_revision(
        "0001", None, "op.create_table('users', sa.Column('id', sa.Integer, primary_key=True))",
        "op.drop_table('users')",
    )  # fmt: skip
    alembic_project.command("upgrade", "head")
    with alembic_project.db.connect() as conn:
        assert conn.execute("SELECT to_regclass('users') IS NOT NULL").fetchone() == (True,)
    alembic_project.cli("downgrade", "base")
    with alembic_project.db.connect() as conn:
        assert conn.execute("SELECT to_regclass('users') IS NULL").fetchone() == (True,)
