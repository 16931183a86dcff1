"""`op.expand_contract` in an Alembic revision, driven through Alembic itself: upgrade while the
old and the new app version write, `alembic downgrade` (rollback) restores the table exactly,
upgrade again and a later `op.expand_contract_complete()` revision finishes the migration."""

from __future__ import annotations

import itertools
import json
import random
import threading
from dataclasses import dataclass, field
from typing import Any

import psycopg
from click.testing import CliRunner
from psycopg import sql

from expandcontract.cli import cli
from tests.alembic_plugin.conftest import AlembicProject
from tests.engine.harness import Session, schema_shape

ROWS = 10_000
VERSION_SCHEMA = "public_0002"
# Writers pause between writes: unpaced, they leave dead tuples faster than autovacuum removes
# them, and ec's backfill rightly waits for vacuum (max_dead_tuple_ratio).
PACE_S = 0.002
OPERATIONS = """
OPERATIONS = [
    {"rename_column": {"table": "items", "from": "title", "to": "name"}},
    {
        "alter_column": {
            "table": "items", "column": "cents", "type": "bigint",
            "up": "cents::bigint", "down": "cents::integer",
        }
    },
    {
        "add_column": {
            "table": "items",
            "column": {"name": "tier", "type": "text", "nullable": False},
            "up": "CASE WHEN cents > 5000 THEN 'gold' ELSE 'basic' END",
        }
    },
]
"""


def write_base(project: AlembicProject, rows: int = ROWS) -> None:
    """0001: a table with a check constraint, an index and rows."""
    project.write_revision(
        "0001",
        None,
        f"""
        op.create_table(
            "items",
            sa.Column("id", sa.BigInteger, primary_key=True),
            sa.Column("cents", sa.Integer, nullable=False),
            sa.Column("title", sa.Text),
            sa.CheckConstraint("cents >= 0", name="items_cents_positive"),
        )
        op.create_index("items_title_idx", "items", ["title"])
        op.execute("INSERT INTO items SELECT g, g, 'item ' || g FROM generate_series(1, {rows}) g")
        """,
        'op.drop_table("items")',
    )


def write_expand(project: AlembicProject) -> None:
    project.write_revision(
        "0002",
        "0001",
        "op.expand_contract(OPERATIONS)",
        "op.expand_contract_rollback()",
        header=OPERATIONS,
    )


def write_complete(project: AlembicProject) -> None:
    project.write_revision("0003", "0002", "op.expand_contract_complete()", "pass")


def ec_status(url: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["status", "--json", "-d", url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def alembic_version(project: AlembicProject) -> list[str]:
    with project.db.connect() as conn:
        return [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]


@dataclass
class Writers:
    """The old version writes the base table; the new version writes through its schema as
    soon as the migration's views exist. Updates: old even ids, new odd ids (one writer per
    row, so the last value of each row is known)."""

    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)
    old: dict[int, tuple[int, str]] = field(default_factory=dict)  # id -> (cents, title)
    new: dict[int, tuple[int, str, str]] = field(default_factory=dict)  # id -> (cents, name, tier)
    old_writes: int = 0
    new_writes: int = 0
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self.threads = [
            threading.Thread(target=self._guard, args=(self._old,)),
            threading.Thread(target=self._guard, args=(self._new,)),
        ]
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads), "a writer did not stop"

    def _guard(self, work: Any) -> None:
        try:
            work()
        except BaseException as exc:
            self.errors.append(exc)

    def _old(self) -> None:
        rng, ids = random.Random(1), itertools.count(1_000_000)
        with Session(self.url, None).connect() as conn:
            while not self.stop.is_set():
                cents = rng.randrange(0, 10_000)
                if rng.random() < 0.3:
                    row_id, title = next(ids), f"old insert {cents}"
                    conn.execute(
                        "INSERT INTO items (id, cents, title) VALUES (%s, %s, %s)",
                        (row_id, cents, title),
                    )
                else:
                    row_id, title = rng.randrange(1, ROWS // 2) * 2, f"old update {cents}"
                    conn.execute(
                        "UPDATE items SET cents = %s, title = %s WHERE id = %s",
                        (cents, title, row_id),
                    )
                self.old[row_id] = (cents, title)
                self.old_writes += 1
                self.stop.wait(PACE_S)

    def _new(self) -> None:
        rng, ids = random.Random(2), itertools.count(2_000_000)
        with psycopg.connect(self.url, autocommit=True) as probe:
            while not self.stop.is_set():
                found = probe.execute("SELECT to_regclass(%s)", (f"{VERSION_SCHEMA}.items",))
                if found.fetchone() != (None,):
                    break
                self.stop.wait(0.005)
        if self.stop.is_set():
            return
        with Session(self.url, VERSION_SCHEMA).connect() as conn:
            while not self.stop.is_set():
                cents = rng.randrange(0, 2_000_000_000)  # bigint now; down() casts to integer
                tier = rng.choice(["gold", "basic", "vip"])
                if rng.random() < 0.3:
                    row_id, name = next(ids), f"new insert {cents}"
                    conn.execute(
                        "INSERT INTO items (id, cents, name, tier) VALUES (%s, %s, %s, %s)",
                        (row_id, cents, name, tier),
                    )
                else:
                    row_id, name = rng.randrange(0, ROWS // 2) * 2 + 1, f"new update {cents}"
                    conn.execute(
                        "UPDATE items SET cents = %s, name = %s, tier = %s WHERE id = %s",
                        (cents, name, tier, row_id),
                    )
                self.new[row_id] = (cents, name, tier)
                self.new_writes += 1
                self.stop.wait(PACE_S)


def catalog_and_rows(project: AlembicProject, table: str = "items") -> tuple[Any, Any]:
    """The public schema's catalog (tables, columns, indexes, constraints, triggers) and the
    table's rows."""
    query = sql.SQL("SELECT * FROM {} ORDER BY 1").format(sql.Identifier(table))
    with project.db.connect() as conn:
        return schema_shape(conn), conn.execute(query).fetchall()


def test_upgrade_with_both_versions_writing_then_downgrade_restores_then_complete(
    alembic_project: AlembicProject,
) -> None:
    project, url = alembic_project, alembic_project.db.url
    write_base(project)
    write_expand(project)
    project.command("upgrade", "0001")
    shape_before, _ = catalog_and_rows(project)

    writers = Writers(url)
    writers.start()
    try:
        project.cli("upgrade", "head")  # the alembic executable: the plugin loads by entry point
        new_writes_during_upgrade = writers.new_writes
        old_writes_during_upgrade = writers.old_writes
        while writers.new_writes < new_writes_during_upgrade + 50 and not writers.errors:
            writers.stop.wait(0.01)
    finally:
        writers.join()
    assert writers.errors == []
    assert old_writes_during_upgrade > 0
    assert new_writes_during_upgrade > 0, "the new version must have written during the upgrade"
    assert alembic_version(project) == ["0002"]

    old, new = Session(url, None), Session(url, VERSION_SCHEMA)
    old_rows = {r[0]: r[1:] for r in old.rows("SELECT id, cents, title FROM items")}
    new_rows = {r[0]: r[1:] for r in new.rows("SELECT id, cents, name, tier FROM items")}
    for row_id, (cents, title) in writers.old.items():
        assert old_rows[row_id] == (cents, title)
        assert new_rows[row_id][:2] == (cents, title)
    for row_id, (cents, name, tier) in writers.new.items():
        assert new_rows[row_id] == (cents, name, tier)
        assert old_rows[row_id] == (cents, name)
    assert all(tier in ("gold", "basic", "vip") for _, _, tier in new_rows.values())

    status = ec_status(url)  # `ec status` sees the migration Alembic started
    assert status["migration"] == "0002" and status["new_schema"] == VERSION_SCHEMA
    assert status["pending_rows"] == {"public.items": 0}

    # Downgrade = rollback: catalog and data exactly as the old version last wrote them.
    _, rows_before_rollback = catalog_and_rows(project)
    rows_before_rollback = [r[:3] for r in rows_before_rollback]  # expand added columns
    project.command("downgrade", "-1")
    with project.db.connect() as conn:
        conn.execute("VACUUM items")  # the writers' dead rows, as autovacuum would (see PACE_S)
    shape_after, rows_after = catalog_and_rows(project)
    assert shape_after == shape_before
    assert rows_after == rows_before_rollback
    assert alembic_version(project) == ["0001"]
    assert ec_status(url)["migration"] is None

    # Upgrade again, through the later revision that completes it.
    write_complete(project)
    project.command("upgrade", "head")
    assert alembic_version(project) == ["0003"]
    with project.db.connect() as conn:
        columns = conn.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = 'items' ORDER BY ordinal_position"
        ).fetchall()
        final = conn.execute("SELECT id, cents, name FROM items ORDER BY id").fetchall()
        version_schema = conn.execute("SELECT to_regnamespace(%s)", (VERSION_SCHEMA,)).fetchone()
    assert sorted(columns) == [
        ("cents", "bigint", "NO"),
        ("id", "bigint", "NO"),
        ("name", "text", "YES"),
        ("tier", "text", "NO"),
    ]
    assert final == rows_before_rollback
    assert version_schema == (VERSION_SCHEMA,)  # the new version's schema stays: apps use it
    done = [m for m in ec_status(url)["migrations"] if m["name"] == "0002"]
    assert done[-1]["phases"]["contract"]["status"] == "done" and not done[-1]["active"]

    # The completing revision has nothing to undo; the expanding one refuses: contract is final.
    project.cli("downgrade", "-1")
    refused = project.cli("downgrade", "-1", check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert (
        "FAILED: ec: op.expand_contract_rollback in revision 0002: ec migration '0002' was "
        "completed" in output
    )
    assert "Traceback" not in output
    assert alembic_version(project) == ["0002"]

    # An upgrade re-run after the version stamp was lost: both directives see in the ledger
    # that their work is done and change nothing.
    shape_done, rows_done = catalog_and_rows(project)
    project.command("stamp", "0001")
    project.command("upgrade", "head")
    assert alembic_version(project) == ["0003"]
    assert catalog_and_rows(project) == (shape_done, rows_done)
    assert [m["name"] for m in ec_status(url)["migrations"]] == ["0002"]
