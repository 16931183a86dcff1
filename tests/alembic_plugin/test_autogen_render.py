"""`alembic revision --autogenerate` with the ec plugin enabled writes revisions that keep the
running app working: concurrent indexes, one ec migration for type/nullability changes, drops
and the columns added with them, and a rename hint for a drop + add of the same type."""

from __future__ import annotations

import pytest

from expandcontract.engine.migration import from_spec
from tests.alembic_plugin.autogen_support import (
    autogenerate,
    base_revision,
    lint_findings,
    load_revision,
    record,
    write_env,
    write_models,
)
from tests.alembic_plugin.conftest import AlembicProject

pytestmark = pytest.mark.postgres

USERS_V1 = """\
users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.Text, nullable=True),
)
"""

USERS_V2_INDEX = USERS_V1.replace(
    'sa.Column("email", sa.Text, nullable=True),',
    'sa.Column("email", sa.Text, nullable=True),\n    sa.Index("users_email_idx", "email"),',
)


def _columns(project: AlembicProject, table: str) -> list[tuple[str, str, bool]]:
    with project.db.connect() as conn:
        rows = conn.execute(
            "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
            (table,),
        ).fetchall()
    return [tuple(r) for r in rows]


def test_a_new_index_is_built_concurrently_outside_the_transaction(
    alembic_project: AlembicProject,
) -> None:
    base_revision(alembic_project, USERS_V1)
    write_models(alembic_project, USERS_V2_INDEX)
    path = autogenerate(alembic_project, "index")
    text = path.read_text()
    assert "    with op.get_context().autocommit_block():\n        op.create_index(" in text
    upgrade = record(load_revision(path), "upgrade")
    ((args, kwargs),) = upgrade.named("create_index")
    assert args[:3] == ("users_email_idx", "users", ["email"])
    assert kwargs["postgresql_concurrently"] is True
    ((args, kwargs),) = record(load_revision(path), "downgrade").named("drop_index")
    assert args == ("users_email_idx",) and kwargs["postgresql_concurrently"] is True
    # ec lint passes; its remarks (info, upgrade and downgrade) ask for IF [NOT] EXISTS, left
    # out on purpose: a failed concurrent build leaves an INVALID index, which a re-run must
    # not silently keep.
    assert lint_findings(path) == [("prefer-robust-stmts", "info")] * 2

    alembic_project.command("upgrade", "head")
    with alembic_project.db.connect() as conn:
        valid = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email_idx'::regclass"
        ).fetchone()
    assert valid == (True,)
    alembic_project.command("check")  # the model and the database agree
    alembic_project.command("downgrade", "-1")
    with alembic_project.db.connect() as conn:
        gone = conn.execute("SELECT to_regclass('users_email_idx') IS NULL").fetchone()
    assert gone == (True,)


ORDERS_V1 = """\
orders = sa.Table(
    "orders", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("amount", sa.Integer, nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("legacy", sa.Boolean, nullable=False),
    sa.Column("email", sa.Text, nullable=True),
)
old_stuff = sa.Table("old_stuff", metadata, sa.Column("id", sa.Integer, primary_key=True))
"""

ORDERS_V2 = """\
orders = sa.Table(
    "orders", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("email_address", sa.Text, nullable=True),
)
"""

EXPECTED_V2 = [
    {"add_column": {"table": "orders", "column": {"name": "email_address", "type": "text"}}},
    {
        "alter_column": {
            "table": "orders",
            "column": "amount",
            "type": "bigint",
            "up": "amount::bigint",
            "down": "amount::integer",
        }
    },
    {"alter_column": {"table": "orders", "column": "note", "nullable": False, "up": "note"}},
    {"drop_column": {"table": "orders", "column": "email"}},
    {"drop_column": {"table": "orders", "column": "legacy", "down": "false"}},
    {"drop_table": {"name": "old_stuff"}},
]


def test_breaking_changes_become_one_expand_contract_that_applies_and_rolls_back(
    alembic_project: AlembicProject,
) -> None:
    base_revision(alembic_project, ORDERS_V1)
    with alembic_project.db.connect() as conn:
        conn.execute(
            "INSERT INTO orders (amount, note, legacy, email)"
            " SELECT i, 'n' || i, true, 'e' || i FROM generate_series(1, 50) i"
        )
    before = _columns(alembic_project, "orders")
    write_models(alembic_project, ORDERS_V2)
    path = autogenerate(alembic_project, "breaking")
    text = path.read_text()
    module = load_revision(path)
    ((args, kwargs),) = record(module, "upgrade").named("expand_contract")
    assert (args, kwargs) == ((EXPECTED_V2,), {})
    from_spec({"operations": args[0]}, default_name="valid")  # ec's own reading of the file
    assert record(module, "downgrade").named("expand_contract_rollback") == [((), {})]
    for marker in (
        '"up": "amount::bigint",  # REVIEW: up',
        '"down": "amount::integer",  # REVIEW: down',
    ):
        assert marker in text
    assert "op.expand_contract_complete()" in text  # the two-deploy sequence is explained
    assert lint_findings(path) == []

    alembic_project.command("upgrade", "head")
    with alembic_project.db.connect() as conn:
        twin = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE _ec_new_amount = amount) FROM orders"
        ).fetchone()
        conn.execute("INSERT INTO orders (amount, note, legacy) VALUES (7, 'old app', false)")
    assert twin == (50, 50)
    alembic_project.command("downgrade", "-1")
    assert _columns(alembic_project, "orders") == before
    with alembic_project.db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (51,)


RENAME_V1 = """\
people = sa.Table(
    "people", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.Text),
    sa.Column("age", sa.Integer),
)
"""

RENAME_V2 = """\
people = sa.Table(
    "people", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email_address", sa.Text),
    sa.Column("born", sa.Date),
)
"""

RENAME_HINT = '# {"rename_column": {"table": "people", "from": "email", "to": "email_address"}},'


def test_a_drop_and_add_of_the_same_type_gets_a_rename_hint(
    alembic_project: AlembicProject,
) -> None:
    base_revision(alembic_project, RENAME_V1)
    write_models(alembic_project, RENAME_V2)
    path = autogenerate(alembic_project, "rename")
    text = path.read_text()
    assert text.count(RENAME_HINT) == 1
    assert '"from": "age"' not in text  # integer -> date is not a rename
    hint_line = text.index(RENAME_HINT)
    assert text.index('"column": "email",') > hint_line  # on the drop_column it concerns
    ((args, _),) = record(load_revision(path), "upgrade").named("expand_contract")
    kinds = [next(iter(entry)) for entry in args[0]]
    assert kinds == ["add_column", "add_column", "drop_column", "drop_column"]
    assert lint_findings(path) == []


FLAGS_V2 = USERS_V1.replace(
    'sa.Column("email", sa.Text, nullable=True),',
    'sa.Column("email", sa.Text, nullable=True),\n'
    '    sa.Column("nickname", sa.Text, nullable=True),\n'
    '    sa.Column("active", sa.Boolean, nullable=False),',
)


def test_safe_changes_stay_alembic_and_not_null_without_default_goes_to_ec(
    alembic_project: AlembicProject,
) -> None:
    base_revision(alembic_project, USERS_V1)
    write_models(
        alembic_project, FLAGS_V2.replace('sa.Column("active", sa.Boolean, nullable=False),', "")
    )
    path = autogenerate(alembic_project, "nullable column")
    upgrade = record(load_revision(path), "upgrade")
    assert [name for name, _, _ in upgrade.calls] == ["add_column"]  # already safe
    path.unlink()

    with alembic_project.db.connect() as conn:
        conn.execute("INSERT INTO users (email) VALUES ('a@example.com')")
    write_models(alembic_project, FLAGS_V2)
    path = autogenerate(alembic_project, "not null column")
    ((args, _),) = record(load_revision(path), "upgrade").named("expand_contract")
    active = {"name": "active", "type": "boolean", "nullable": False}
    assert {"add_column": {"table": "users", "column": active, "up": "false"}} in args[0]
    alembic_project.command("upgrade", "head")  # Alembic's ADD COLUMN would fail on the row
    with alembic_project.db.connect() as conn:
        assert conn.execute("SELECT active FROM users").fetchall() == [(False,)]


def test_without_the_plugin_alembic_writes_its_own_forms(alembic_project: AlembicProject) -> None:
    base_revision(alembic_project, USERS_V1, plugin=False)
    write_models(alembic_project, USERS_V2_INDEX)
    write_env(alembic_project, plugin=False)
    text = autogenerate(alembic_project, "index").read_text()
    assert "op.create_index(" in text and "concurrently" not in text
