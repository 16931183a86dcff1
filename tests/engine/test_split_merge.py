"""A column split (`full_name` -> `first_name` + `last_name`) and the reverse merge stay
consistent both ways: both versions insert and update at once, each reads the other's writes
translated, and `full_name = first_name ␣ last_name` holds for every row during expand, after
the backfill, after switch and switch back, after contract, and after rollback.

The migrations are the YAML documented in docs/migrations.md ("Splitting and merging
columns"), read through the same parser as `ec apply FILE`."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from expandcontract.engine.migration import from_spec, parse_text
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, concurrently, engine, schema_shape, schemas

SPLIT_YAML = """
operations:
  - add_column:
      table: people
      column: {name: first_name, type: text}
      up: "split_part(full_name, ' ', 1)"
  - add_column:
      table: people
      column: {name: last_name, type: text}
      up: "CASE WHEN strpos(full_name, ' ') > 0
           THEN substr(full_name, strpos(full_name, ' ') + 1) END"
  - drop_column:
      table: people
      column: full_name
      down: "CASE WHEN first_name IS NULL AND last_name IS NULL THEN NULL
             ELSE concat_ws(' ', first_name, last_name) END"
"""

MERGE_YAML = """
operations:
  - add_column:
      table: people
      column: {name: full_name, type: text}
      up: "CASE WHEN first_name IS NULL AND last_name IS NULL THEN NULL
           ELSE concat_ws(' ', first_name, last_name) END"
  - drop_column:
      table: people
      column: first_name
      down: "split_part(full_name, ' ', 1)"
  - drop_column:
      table: people
      column: last_name
      down: "CASE WHEN strpos(full_name, ' ') > 0
             THEN substr(full_name, strpos(full_name, ' ') + 1) END"
"""

Pair = tuple[str | None, str | None]
FULL_NAMES: list[Any] = [
    "Ada Lovelace",
    "Grace Brewster Hopper",
    "Cher",
    "",
    None,
    " Leading",
    "Double  Space",
    "Trailing ",
]
PAIRS: list[Pair] = [
    ("Alan", "Turing"),
    ("Jean Luc", "Picard"),
    ("Prince", None),
    (None, "Solo"),
    (None, None),
    ("", ""),
]


def split(full: str | None) -> Pair:
    """What the migration's `up` (split) / `down` (merge) computes, in Python."""
    if full is None:
        return (None, None)
    first, _, rest = full.partition(" ")
    return (first, rest if " " in full else None)


def join(pair: Pair) -> str | None:
    if pair == (None, None):
        return None
    return " ".join(p for p in pair if p is not None)


@dataclasses.dataclass
class Side:
    """One app version: reads and writes either the single column or the pair."""

    session: Session
    single: bool  # True: full_name; False: first_name + last_name

    def read(self) -> dict[int, Any]:
        columns = "full_name" if self.single else "first_name, last_name"
        rows = self.session.rows(f"SELECT id, {columns} FROM people ORDER BY id")
        return {r[0]: r[1] if self.single else (r[1], r[2]) for r in rows}


@dataclasses.dataclass
class Model:
    """Per row, the last value written and by which side: the other side must read it
    translated. Rows both sides update at once are only checked for consistency."""

    values: dict[int, tuple[bool, Any]]  # id -> (written as single, value)
    touched: set[int] = dataclasses.field(default_factory=set)
    contested: set[int] = dataclasses.field(default_factory=set)

    def single(self, row: int) -> str | None:
        as_single, value = self.values[row]
        return value if as_single else join(value)

    def pair(self, row: int) -> Pair:
        as_single, value = self.values[row]
        return split(value) if as_single else value


def _writer(
    side: Side,
    model: Model,
    rng: random.Random,
    inserts: range,
    updates: list[int],
    pending: set[int],
) -> Callable[[], None]:
    """One version's inserts then updates, recorded in the model as they commit.

    ``pending``: rows not computed yet (before the backfill). The trigger cannot tell a column
    the new version sets to the NULL it already holds from one it leaves alone, and fills it
    through `up`: the new version writes no NULL into such rows here (see the report)."""

    def choose(values: list[Any], row: int) -> Any:
        if side.session.version_schema and row in pending:
            values = [
                v for v in values if v is not None and not (isinstance(v, tuple) and None in v)
            ]
        return rng.choice(values)

    def run() -> None:
        with side.session.connect() as conn:
            for row in inserts:
                value: Any
                if side.single:
                    value = rng.choice(FULL_NAMES)
                    conn.execute("INSERT INTO people (id, full_name) VALUES (%s, %s)", (row, value))
                else:
                    value = rng.choice(PAIRS)
                    conn.execute(
                        "INSERT INTO people (id, first_name, last_name) VALUES (%s, %s, %s)",
                        (row, *value),
                    )
                model.values[row] = (side.single, value)
                model.touched.add(row)
            for row in updates:
                if side.single:
                    value = choose(FULL_NAMES, row)
                    conn.execute("UPDATE people SET full_name = %s WHERE id = %s", (value, row))
                elif rng.random() < 0.5 or row in pending:
                    value = choose(PAIRS, row)
                    conn.execute(
                        "UPDATE people SET first_name = %s, last_name = %s WHERE id = %s",
                        (*value, row),
                    )
                else:  # only the last name: the first name the row has stays
                    last = rng.choice(PAIRS)[1]
                    conn.execute("UPDATE people SET last_name = %s WHERE id = %s", (last, row))
                    # A row the other version updates too may have another first name by now.
                    first = None if row in model.contested else model.pair(row)[0]
                    value = (first, last)
                model.values[row] = (side.single, value)
                model.touched.add(row)

    return run


@dataclasses.dataclass
class Lifecycle:
    db: EcDatabase
    migration_yaml: str
    old_is_single: bool
    model: Model
    rounds: int = 0

    @property
    def schema(self) -> str:
        return "public_people"

    def migration(self) -> Any:
        data = parse_text(self.migration_yaml, source="split_merge.yaml", json_format=False)
        return from_spec(data, default_name="people")

    def sides(self, *, old: bool = True) -> list[Side]:
        new = Side(Session(self.db.url, self.schema), not self.old_is_single)
        return [Side(Session(self.db.url, None), self.old_is_single), new] if old else [new]

    def write(self, *, old: bool = True, pending: bool = False) -> None:
        """Both versions at once: each inserts 15 rows and updates its own rows plus rows the
        other version updates too."""
        self.rounds += 1
        sides = self.sides(old=old)
        rows = sorted(self.model.values)
        shared = rows[2::7]
        self.model.contested |= set(shared) if old else set()
        work = []
        for i, side in enumerate(sides):
            own = [r for r in rows if r % 7 == i and r not in self.model.contested]
            start = 100_000 * self.rounds + 10_000 * i
            rng = random.Random(f"{self.rounds}-{i}")
            waiting = set(rows) - self.model.touched if pending else set()
            inserts = range(start, start + 15)
            work.append(_writer(side, self.model, rng, inserts, own[:40] + shared, waiting))
        concurrently(*work)

    def check(self, *, touched_only: bool = False, old: bool = True) -> None:
        """Every row: both versions agree (full = first ␣ last); rows one version wrote last,
        the other reads translated exactly."""
        views = {side.single: side.read() for side in self.sides(old=old)}
        single, pair = views.get(True), views.get(False)
        for name, view in views.items():
            assert set(view) == set(self.model.values), f"rows seen as single={name}"
        rows = self.model.touched if touched_only else set(self.model.values)
        for row in sorted(rows):
            if single is not None and pair is not None:
                assert single[row] == join(pair[row]), (row, single[row], pair[row])
            if row in self.model.contested:
                continue
            if single is not None:
                assert single[row] == self.model.single(row), row
            if pair is not None:
                assert pair[row] == self.model.pair(row), row


def _seed(db: EcDatabase, single: bool) -> Model:
    rng = random.Random(7)
    values: dict[int, tuple[bool, Any]] = {}
    with db.connect() as conn:
        if single:
            conn.execute("CREATE TABLE people (id int PRIMARY KEY, full_name text, note text)")
        else:
            conn.execute(
                "CREATE TABLE people (id int PRIMARY KEY, first_name text, last_name text,"
                " note text)"
            )
        for row in range(1, 301):
            if single:
                value: Any = rng.choice(FULL_NAMES)
                conn.execute("INSERT INTO people (id, full_name) VALUES (%s, %s)", (row, value))
            else:
                value = rng.choice(PAIRS)
                conn.execute(
                    "INSERT INTO people (id, first_name, last_name) VALUES (%s, %s, %s)",
                    (row, *value),
                )
            values[row] = (single, value)
    return Model(values)


def _shape(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    return schema_shape(conn), schemas(conn) - {"expandcontract"}


@pytest.mark.parametrize(
    ("yaml_text", "old_is_single", "final_columns"),
    [
        (SPLIT_YAML, True, ["id", "note", "first_name", "last_name"]),
        (MERGE_YAML, False, ["id", "note", "full_name"]),
    ],
    ids=["split", "merge"],
)
def test_both_versions_stay_consistent_through_every_phase(
    ec_db: EcDatabase, yaml_text: str, old_is_single: bool, final_columns: list[str]
) -> None:
    model = _seed(ec_db, old_is_single)
    life = Lifecycle(ec_db, yaml_text, old_is_single, model)
    ec = engine(ec_db.url)
    with ec_db.connect() as conn:
        before = _shape(conn)

    # During expand, before the backfill: rows either version wrote are consistent.
    ec.apply(life.migration(), through="expand")
    life.write(pending=True)
    life.check(touched_only=True)
    ec.apply(life.migration(), through="backfill")
    life.check()
    life.write()
    life.check()

    # Rollback: the schema as before; every write of both versions is in the old columns.
    seen_before = life.sides()[0].read()
    ec.rollback()
    with ec_db.connect() as conn:
        assert _shape(conn) == before
    old = life.sides()[0].read()
    assert old == seen_before
    for row in set(model.values) - model.contested:
        assert old[row] == (model.single(row) if old_is_single else model.pair(row)), row
    # From here on the old version's columns hold the truth for every row.
    model.values = {row: (old_is_single, value) for row, value in old.items()}
    model.contested.clear()

    # Again: backfill, switch, switch back, switch, complete.
    ec.apply(life.migration(), through="backfill")
    life.check()
    life.write()
    life.check()
    ec.switch()
    life.write()
    life.check()
    ec.switch(back=True)
    life.write()
    life.check()
    ec.switch()
    ec.complete()

    # After contract only the new version is left; its writes and every earlier one are there.
    life.check(old=False)
    life.write(old=False)
    life.check(old=False)
    with ec_db.connect() as conn:
        assert [c[0] for c in schema_shape(conn)["people"]["columns"]] == final_columns
        assert not schema_shape(conn)["people"]["triggers"]


def test_known_limit_a_null_written_into_a_row_not_yet_backfilled_is_filled_by_up(
    ec_db: EcDatabase,
) -> None:
    """Pins a documented limit of the row trigger: before the backfill reaches a row, its new
    columns hold NULL, and an UPDATE that sets one of them to NULL looks like one that leaves it
    alone, so `up` fills it from the old column. Both versions still agree on the row."""
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE people (id int PRIMARY KEY, full_name text, note text)")
        conn.execute("INSERT INTO people VALUES (1, 'Ada Lovelace', NULL)")
    life = Lifecycle(ec_db, SPLIT_YAML, True, Model({}))
    engine(ec_db.url).apply(life.migration(), through="expand")
    old, new = life.sides()
    new.session.run("UPDATE people SET first_name = 'Ada', last_name = NULL WHERE id = 1")
    assert new.read() == {1: ("Ada", "Lovelace")}
    assert old.read() == {1: "Ada Lovelace"}
    # Once the row is computed, the same write keeps its NULL.
    new.session.run("UPDATE people SET first_name = 'Ada', last_name = NULL WHERE id = 1")
    assert new.read() == {1: ("Ada", None)}
    assert old.read() == {1: "Ada"}
