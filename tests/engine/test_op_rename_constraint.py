"""rename_constraint: both versions see the old name while the migration runs, contract
renames it (a unique constraint's index too); later operations use the new name."""

from __future__ import annotations

from typing import Any

import pytest

from expandcontract.operations.base import MigrationInvalid
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.constraint_lifecycle import Case, run, seed
from tests.engine.harness import engine, migration, schema_shape

EXTRA = [
    "ALTER TABLE tickets ADD CONSTRAINT price_positive CHECK (price > 0)",
    "ALTER TABLE tickets ADD CONSTRAINT tickets_code_key UNIQUE (code)",
]
PK = ("tickets_pkey", "p", "PRIMARY KEY (id)", True)
NAMES = (
    "SELECT conname FROM pg_constraint WHERE conrelid = 'public.tickets'::regclass"
    " AND contype <> 'n' ORDER BY 1"
)
NAME_63 = "r" * 60 + "ü" + "r"  # 63 bytes


def rename(old: str, new: str) -> dict[str, Any]:
    return {"rename_constraint": {"table": "tickets", "from": old, "to": new}}


def seeded(db: EcDatabase) -> EcDatabase:
    seed(db)
    with db.connect() as conn:
        for statement in EXTRA:
            conn.execute(statement)
    return db


CASES = [
    Case(
        "check",
        [rename("price_positive", NAME_63)],
        during=[
            ("old", NAMES, [("price_positive",), ("tickets_code_key",), ("tickets_pkey",)]),
            ("new", NAMES, [("price_positive",), ("tickets_code_key",), ("tickets_pkey",)]),
        ],
        refused=[("new", "UPDATE tickets SET price = -1 WHERE id = 1", "23514")],
        final_constraints=[
            PK,
            (NAME_63, "c", "CHECK ((price > 0))", True),
            ("tickets_code_key", "u", "UNIQUE (code)", True),
        ],
    ),
    Case(
        "unique_renames_its_index",
        [rename("tickets_code_key", "tickets_code_uq")],
        final=[
            (
                "SELECT indexname FROM pg_indexes WHERE tablename = 'tickets' ORDER BY 1",
                [("tickets_code_uq",), ("tickets_pkey",)],
            ),
        ],
        final_constraints=[
            PK,
            ("price_positive", "c", "CHECK ((price > 0))", True),
            ("tickets_code_uq", "u", "UNIQUE (code)", True),
        ],
    ),
    Case(
        "rename_then_reuse_the_old_name",
        [
            rename("price_positive", "price_above_zero"),
            {
                "create_constraint": {
                    "table": "tickets",
                    "name": "price_positive",
                    "type": "check",
                    "check": "price < 1000",
                }
            },
            {"drop_constraint": {"table": "tickets", "name": "tickets_code_key"}},
            rename("tickets_pkey", "tickets_code_key"),
        ],
        final_constraints=[
            ("price_above_zero", "c", "CHECK ((price > 0))", True),
            ("price_positive", "c", "CHECK ((price < 1000))", True),
            ("tickets_code_key", "p", "PRIMARY KEY (id)", True),
        ],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rename_constraint_lifecycle(ec_db: EcDatabase, case: Case) -> None:
    run(seeded(ec_db), case)


BAD = [
    ([rename("nope", "x")], "has no constraint 'nope'"),
    ([rename("price_positive", "tickets_code_key")], "already has a constraint"),
    ([rename("price_positive", "r" * 64)], "longer than 63 bytes"),
    ([rename("tickets_code_key", "people_pkey")], "already the name of a table or index"),
    ([rename("price_positive", "_ec_mine")], "reserved for ec"),
    ([rename("price_positive", "price_positive")], "the same name"),
    (
        [
            {
                "alter_column": {
                    "table": "tickets",
                    "column": "price",
                    "nullable": False,
                    "up": "coalesce(price, 0)",
                }
            },
            rename("price_positive", "p2"),
        ],
        "changed or dropped by another operation",
    ),
]


@pytest.mark.parametrize(("ops", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_refused_before_anything_runs(ec_db: EcDatabase, ops: Any, message: str) -> None:
    seeded(ec_db)
    with ec_db.connect() as conn:
        before = schema_shape(conn)
    with pytest.raises(MigrationInvalid) as info:
        engine(ec_db.url).apply(migration("bad", *ops))
    assert message in str(info.value), str(info.value)
    with ec_db.connect() as conn:
        assert schema_shape(conn) == before
