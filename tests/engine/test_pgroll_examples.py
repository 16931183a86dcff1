"""pgroll's 56 example migrations, translated to ec (tests/engine/pgroll_examples/), applied in
order on one database as pgroll runs them: each one expand → backfill → rollback (the schema is
as before) → expand → backfill → complete, then a fact of the resulting catalog (and, where
rows were added, of the data that `up` rewrote).

pgroll's examples build on each other (04 renames 01's table, 06 changes 05's), so the tests
share one database and run in file order; a test fails at once if an earlier example did not
complete. All 56 run. Where pgroll's file relies on behaviour ec refuses on purpose, the
translation differs (the YAML says why) and ``PGROLL_ONLY`` asserts that ec refuses pgroll's
own spelling with a clear error, on the same database, before anything runs.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from expandcontract.engine.migration import from_spec, load
from expandcontract.errors import ECError
from expandcontract.lint.settings import LintSettings, at_least
from expandcontract.lint.sources import lint_ec_file
from expandcontract.servers import PostgresServer
from tests.engine.harness import Session, engine, schema_shape

EXAMPLES = sorted((Path(__file__).parent / "pgroll_examples").glob("*.yaml"))


@dataclasses.dataclass(frozen=True)
class PgrollOnly:
    """pgroll's operation as pgroll's file writes it, which ec refuses, and why."""

    example: int
    why: str
    operation: dict[str, Any]
    error: str  # a regular expression the error must match


PGROLL_ONLY = [
    PgrollOnly(
        16,
        "pgroll pastes `up` into a PL/pgSQL assignment, so a query works there; ec takes one "
        "expression (checked before anything runs)",
        {
            "alter_column": {
                "table": "reviews",
                "column": "review",
                "nullable": False,
                "up": "SELECT CASE WHEN review IS NULL THEN product || ' is good' ELSE review END",
                "down": "review",
            }
        },
        r"up .* is not one SQL expression",
    ),
    PgrollOnly(
        35,
        "pgroll's `down: event_name` names no column: pgroll accepts it and fails on the first "
        "new-version write; ec parses `down` against the new version's columns first",
        {
            "alter_column": {
                "table": "events",
                "column": "name",
                "type": "text",
                "nullable": False,
                "up": "CASE WHEN name IS NULL OR length(name) <= 3 THEN 'placeholder'"
                " ELSE name END",
                "down": "event_name",
            }
        },
        r'down .event_name. is not valid: column "event_name" does not exist',
    ),
]

_COLUMN = (
    "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns"
    " WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position"
)
_CONSTRAINT = (
    "SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint"
    " WHERE conrelid = to_regclass(%s) AND contype <> 'n' ORDER BY conname"
)
_INDEX = "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexname = %s"


def _columns(table: str) -> tuple[str, Any]:
    return (_COLUMN, (table,))


def _constraints(table: str) -> tuple[str, Any]:
    return (_CONSTRAINT, (f"public.{table}",))


def _index(name: str) -> tuple[str, Any]:
    return (_INDEX, (name,))


def _column_facts(table: str, column: str) -> tuple[str, Any]:
    return (
        "SELECT is_nullable, column_default FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = %s AND column_name = %s",
        (table, column),
    )


def _exists(relation: str) -> tuple[str, Any]:
    return ("SELECT to_regclass(%s) IS NOT NULL", (relation,))


def _comment(table: str, column: str | None = None) -> tuple[str, Any]:
    if column is None:
        return ("SELECT obj_description(to_regclass(%s), 'pg_class')", (f"public.{table}",))
    return (
        "SELECT col_description(to_regclass(%s),"
        " (SELECT attnum FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s))",
        (f"public.{table}", f"public.{table}", column),
    )


V = "character varying"
SERIAL = "nextval('{}_id_seq'::regclass)"
TRUE = [(True,)]
FALSE = [(False,)]

# Example number → [(query, params), expected rows]: what the catalog (or the data) must say
# once the example has completed. Rows are read through the base schema.
FACTS: dict[int, list[tuple[tuple[str, Any], list[tuple[Any, ...]]]]] = {
    1: [
        (_constraints("sellers"), [("sellers_pkey", "PRIMARY KEY (name, zip)", True)]),
        (
            _columns("customers"),
            [
                ("id", "integer", "NO", None),
                ("name", V, "NO", None),
                ("credit_card", "text", "YES", None),
            ],
        ),
    ],
    2: [
        (
            _columns("products"),
            [
                ("id", "integer", "NO", SERIAL.format("products")),
                ("name", V, "NO", None),
                ("price", "numeric", "NO", None),
            ],
        ),
        (
            ("SELECT pg_get_serial_sequence('public.products', 'id')", None),
            [("public.products_id_seq",)],
        ),
    ],
    3: [
        (
            _columns("products"),
            [
                ("id", "integer", "NO", SERIAL.format("products")),
                ("name", V, "NO", None),
                ("price", "numeric", "NO", None),
                ("description", V, "YES", None),
                ("stock", "integer", "NO", "100"),
                ("category", V, "NO", None),
            ],
        ),
        (("SELECT description, category FROM products", None), [("PEAR", "pear-category")]),
    ],
    4: [(_exists("public.customers"), FALSE), (_exists("public.clients"), TRUE)],
    5: [(_exists("public_05_sql.users"), TRUE)],
    6: [
        (
            ("SELECT * FROM public_06_add_column_to_sql_table.users", None),
            [(1, "ann", "ANN")],
        )
    ],
    7: [(_exists("public.products"), FALSE)],
    8: [
        (
            (
                "SELECT attidentity FROM pg_attribute WHERE attrelid = 'public.fruits'::regclass"
                " AND attname = 'id'",
                None,
            ),
            [("d",)],
        )
    ],
    9: [(_columns("fruits"), [("id", "bigint", "NO", None), ("name", V, "NO", None)])],
    10: [
        (
            _index("idx_fruits_name"),
            [("CREATE INDEX idx_fruits_name ON public.fruits USING btree (name)",)],
        )
    ],
    11: [(_index("idx_fruits_name"), [])],
    12: [
        (_comment("employees"), [("This is a comment for the employees table",)]),
        (_comment("employees", "role"), [("This is a comment for the role column",)]),
    ],
    13: [
        (
            _columns("employees"),
            [("id", "integer", "NO", SERIAL.format("employees")), ("job_title", V, "NO", None)],
        ),
        (_comment("employees", "job_title"), [("This is a comment for the role column",)]),
    ],
    14: [
        (
            _columns("reviews"),
            [
                ("id", "integer", "NO", SERIAL.format("reviews")),
                ("username", "text", "NO", None),
                ("product", "text", "NO", None),
                ("review", "text", "YES", None),
            ],
        )
    ],
    15: [
        (
            _constraints("reviews"),
            [
                ("reviews_pkey", "PRIMARY KEY (id)", True),
                ("reviews_review_unique", "UNIQUE (review)", True),
            ],
        ),
        # up gave every existing review a suffix: the two equal reviews became distinct.
        (("SELECT count(DISTINCT review), count(review) FROM reviews", None), [(2, 2)]),
    ],
    16: [
        (("SELECT review FROM reviews WHERE product = 'lamp'", None), [("lamp is good",)]),
        (_column_facts("reviews", "review"), [("NO", None)]),
    ],
    17: [
        (_column_facts("reviews", "rating"), [("NO", "'0'::text")]),
        (("SELECT DISTINCT rating FROM reviews", None), [("0",)]),
    ],
    18: [
        (_column_facts("reviews", "rating"), [("NO", "0")]),
        (("SELECT DISTINCT rating FROM reviews", None), [(0,)]),
    ],
    19: [
        (
            _constraints("orders"),
            [
                ("fk_users_id", "FOREIGN KEY (user_id) REFERENCES users(id)", True),
                ("orders_pkey", "PRIMARY KEY (id)", True),
            ],
        )
    ],
    20: [
        (
            _columns("posts"),
            [
                ("id", "integer", "NO", SERIAL.format("posts")),
                ("title", V, "NO", None),
                ("user_id", "integer", "YES", None),
            ],
        )
    ],
    21: [
        (
            _constraints("posts"),
            [
                (
                    "fk_users_id",
                    "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
                    True,
                ),
                ("posts_pkey", "PRIMARY KEY (id)", True),
            ],
        ),
        # up cleared the reference to a user that does not exist.
        (("SELECT title, user_id FROM posts ORDER BY id", None), [("ab", 1), ("orphan", None)]),
    ],
    22: [
        (
            _constraints("posts"),
            [
                (
                    "fk_users_id",
                    "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
                    True,
                ),
                ("posts_pkey", "PRIMARY KEY (id)", True),
                ("title_length", "CHECK ((length((title)::text) > 3))", True),
            ],
        ),
        (("SELECT title FROM posts ORDER BY id", None), [("--ab",), ("orphan",)]),
    ],
    23: [
        (
            _constraints("posts"),
            [
                (
                    "fk_users_id",
                    "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
                    True,
                ),
                ("posts_pkey", "PRIMARY KEY (id)", True),
            ],
        )
    ],
    24: [
        (_constraints("posts"), [("posts_pkey", "PRIMARY KEY (id)", True)]),
        # orders keeps its own constraint of the same name
        (("SELECT count(*) FROM pg_constraint WHERE conname = 'fk_users_id'", None), [(1,)]),
    ],
    25: [
        (
            _constraints("people"),
            [
                ("name_length", "CHECK ((length((name)::text) > 3))", True),
                ("people_pkey", "PRIMARY KEY (id)", True),
            ],
        )
    ],
    26: [
        (
            _constraints("people"),
            [
                ("age_check", "CHECK ((age >= 18))", True),
                ("name_length", "CHECK ((length((name)::text) > 3))", True),
                ("people_pkey", "PRIMARY KEY (id)", True),
            ],
        ),
        (("SELECT age FROM people", None), [(18,)]),
    ],
    27: [
        (_constraints("reviews"), [("reviews_pkey", "PRIMARY KEY (id)", True)]),
        (_index("reviews_review_unique"), []),
    ],
    28: [
        (
            _columns("items"),
            [
                ("id", "integer", "NO", SERIAL.format("items")),
                ("name", V, "NO", "'unnamed'::character varying"),
                ("price", "numeric", "NO", "0.00"),
                ("created_at", "timestamp with time zone", "NO", "now()"),
            ],
        )
    ],
    29: [
        (
            ("SELECT relreplident FROM pg_class WHERE oid = 'public.fruits'::regclass", None),
            [("i",)],
        ),
        (
            (
                "SELECT indisreplident FROM pg_index"
                " WHERE indexrelid = 'public.fruits_pkey'::regclass",
                None,
            ),
            TRUE,
        ),
    ],
    30: [
        (_comment("people", "description"), [("This is a comment for the description column",)]),
        (("SELECT description FROM people", None), [("temporary-description",)]),
    ],
    31: [(_column_facts("posts", "title"), [("YES", None)])],
    32: [
        (
            _columns("people"),
            [
                ("id", "integer", "NO", None),
                ("name", V, "NO", None),
                ("age", "integer", "NO", "18"),
                ("description", V, "NO", None),
                ("birth_date", "timestamp without time zone", "YES", None),
            ],
        ),
        # the current version's view shows the column the raw SQL added
        (
            ("SELECT birth_date FROM public_32_sql_on_complete.people", None),
            [(None,)],
        ),
    ],
    33: [
        (
            _constraints("people"),
            [
                ("age_check", "CHECK ((age >= 18))", True),
                ("name_length_check", "CHECK ((length((name)::text) > 3))", True),
                ("people_pkey", "PRIMARY KEY (id)", True),
            ],
        )
    ],
    34: [
        (
            _columns("events"),
            [
                ("id", "integer", "NO", SERIAL.format("events")),
                ("name", V, "YES", "'<placeholder>'::character varying"),
            ],
        ),
        (_comment("events", "name"), [("the name of the event",)]),
    ],
    35: [
        (
            _columns("events"),
            [
                ("id", "integer", "NO", SERIAL.format("events")),
                ("name", "text", "NO", "'unknown event'::text"),
            ],
        ),
        (
            _constraints("events"),
            [
                ("event_name_length", "CHECK ((length(name) > 3))", True),
                ("events_event_name_unique", "UNIQUE (name)", True),
                ("events_pkey", "PRIMARY KEY (id)", True),
            ],
        ),
        (_comment("events", "name"), [("the full name of the event",)]),
        (("SELECT name FROM events ORDER BY id", None), [("placeholder",), ("concert",)]),
    ],
    36: [(_comment("events", "name"), [(None,)])],
    37: [
        (
            _index("idx_fruits_id_gt_10"),
            [
                (
                    "CREATE INDEX idx_fruits_id_gt_10 ON public.fruits USING btree (id)"
                    " WHERE (id > 10)",
                )
            ],
        )
    ],
    38: [
        (
            _index("idx_fruits_name"),
            [
                (
                    "CREATE INDEX idx_fruits_name ON public.fruits USING hash (name)"
                    " WITH (fillfactor='70')",
                )
            ],
        )
    ],
    39: [
        (
            _columns("sellers"),
            [
                ("name", V, "NO", None),
                ("zip", "integer", "NO", None),
                ("description", V, "YES", None),
                ("rating", "integer", "NO", "10"),
            ],
        )
    ],
    40: [(("SELECT enum_range(NULL::fruit_size)::text", None), [("{small,medium,large}",)])],
    41: [(("SELECT DISTINCT size::text FROM fruits", None), [("small",)])],
    42: [
        (
            _index("idx_fruits_unique_name"),
            [("CREATE UNIQUE INDEX idx_fruits_unique_name ON public.fruits USING btree (name)",)],
        )
    ],
    43: [
        (
            _columns("tickets"),
            [
                ("ticket_id", "integer", "NO", "nextval('tickets_ticket_id_seq'::regclass)"),
                ("sellers_name", V, "NO", None),
                ("sellers_zip", "integer", "NO", None),
                ("ticket_type", V, "NO", "'paper'::character varying"),
            ],
        )
    ],
    44: [
        (
            _constraints("tickets"),
            [
                ("tickets_pkey", "PRIMARY KEY (ticket_id)", True),
                ("unique_zip_name", "UNIQUE (sellers_name, sellers_zip)", True),
            ],
        )
    ],
    45: [
        (
            _constraints("tickets"),
            [
                (
                    "check_zip_name",
                    "CHECK ((((sellers_name)::text = 'alice'::text) OR (sellers_zip > 0)))",
                    True,
                ),
                ("tickets_pkey", "PRIMARY KEY (ticket_id)", True),
                ("unique_zip_name", "UNIQUE (sellers_name, sellers_zip)", True),
            ],
        ),
        # up moved bob's zip 0 to 123; alice may keep hers.
        (
            ("SELECT sellers_name, sellers_zip FROM tickets ORDER BY ticket_id", None),
            [("bob", 123), ("alice", 0)],
        ),
    ],
    46: [
        (_column_facts("tickets", "ticket_type"), [("NO", None)]),
    ],
    47: [
        (
            (
                "SELECT pg_get_constraintdef(oid), convalidated FROM pg_constraint"
                " WHERE conname = 'fk_sellers'",
                None,
            ),
            [("FOREIGN KEY (sellers_name, sellers_zip) REFERENCES sellers(name, zip)", True)],
        )
    ],
    48: [
        (
            _constraints("tickets"),
            [
                (
                    "fk_sellers",
                    "FOREIGN KEY (sellers_name, sellers_zip) REFERENCES sellers(name, zip)",
                    True,
                ),
                ("tickets_pkey", "PRIMARY KEY (ticket_id)", True),
                ("unique_zip_name", "UNIQUE (sellers_name, sellers_zip)", True),
            ],
        )
    ],
    49: [
        (_column_facts("fruits", "name"), [("YES", None)]),
        # the hash index of 38 and the unique index of 42 are on the new column, as they were
        (
            (
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'fruits'"
                " AND indexname IN ('idx_fruits_name', 'idx_fruits_unique_name') ORDER BY 1",
                None,
            ),
            [
                (
                    "CREATE INDEX idx_fruits_name ON public.fruits USING hash (name)"
                    " WITH (fillfactor='70')",
                ),
                ("CREATE UNIQUE INDEX idx_fruits_unique_name ON public.fruits USING btree (name)",),
            ],
        ),
    ],
    50: [
        (
            _constraints("telephone_providers"),
            [
                ("name_must_be_present", "CHECK ((length((name)::text) > 0))", True),
                ("provider_pk", "PRIMARY KEY (id)", True),
                ("unique_tax_id", "UNIQUE (tax_id)", True),
            ],
        )
    ],
    51: [
        (
            _constraints("phonebook"),
            [
                ("name_must_be_present", "CHECK ((length((name)::text) > 0))", True),
                ("phonebook_pk", "PRIMARY KEY (id)", True),
                (
                    "provider_fk",
                    "FOREIGN KEY (provider_id) REFERENCES telephone_providers(id)"
                    " ON UPDATE CASCADE ON DELETE CASCADE",
                    True,
                ),
                ("unique_numbers", "UNIQUE (phone) INCLUDE (name)", True),
            ],
        )
    ],
    52: [
        (
            _constraints("library"),
            [
                (
                    "forbid_duplicated_titles",
                    "EXCLUDE USING btree (title WITH =) WHERE ((title IS NOT NULL))",
                    True,
                ),
                ("rooms_pk", "PRIMARY KEY (id)", True),
            ],
        )
    ],
    53: [
        (
            _column_facts("library", "value"),
            [("NO", "((random() * (1000)::double precision))::integer")],
        ),
        (("SELECT count(*) FROM library WHERE value BETWEEN 0 AND 1000", None), [(2,)]),
    ],
    54: [
        (
            (
                "SELECT opcname FROM pg_index JOIN pg_opclass ON pg_opclass.oid = indclass[0]"
                " WHERE indexrelid = 'public.idx_fruits_custom_opclass'::regclass",
                None,
            ),
            [("int8_ops",)],
        )
    ],
    55: [(_constraints("tasks"), [("tasks_pkey", "PRIMARY KEY (id)", True)])],
    56: [(_exists("with_version_schema.products"), TRUE), (_exists("public.products"), TRUE)],
}

# Example number → rows written through the base schema once it completed, so later examples
# move real data (pgroll's examples run on empty tables).
ROWS: dict[int, list[str]] = {
    1: ["INSERT INTO sellers (name, zip) VALUES ('bob', 123), ('alice', 0)"],
    2: ["INSERT INTO products (name, price) VALUES ('pear', 1.50)"],
    5: ["INSERT INTO users VALUES (1, 'ann')"],
    8: ["INSERT INTO fruits (name, price) VALUES ('apple', 1), ('kiwi', 2)"],
    14: [
        "INSERT INTO reviews (username, product, review) VALUES ('u1', 'chair', 'good'),"
        " ('u2', 'desk', 'good'), ('u3', 'lamp', NULL)"
    ],
    20: ["INSERT INTO posts (title, user_id) VALUES ('ab', 1), ('orphan', 99)"],
    25: ["INSERT INTO people (id, name) VALUES (1, 'carol')"],
    34: ["INSERT INTO events (name) VALUES (NULL), ('concert')"],
    43: ["INSERT INTO tickets (sellers_name, sellers_zip) VALUES ('bob', 0), ('alice', 0)"],
    52: [
        "INSERT INTO library (returned, title, summary) VALUES (now(), 'a', 's'), (now(), 'b', 's')"
    ],
}


def _number(path: Path) -> int:
    return int(path.name[:2])


@dataclasses.dataclass
class Journey:
    """The one database every example runs on, and which examples have completed."""

    url: str
    completed: set[int] = dataclasses.field(default_factory=set)


@pytest.fixture(scope="module")
def journey(ec_server: PostgresServer, ec_template: str) -> Iterator[Journey]:
    name = f"ec_pgroll_{uuid.uuid4().hex[:12]}"
    url = ec_server.create_database(name, template=ec_template)
    try:
        yield Journey(url)
    finally:
        ec_server.drop_database(name)


def test_all_56_examples_are_translated() -> None:
    assert [_number(p) for p in EXAMPLES] == list(range(1, 57))
    assert set(FACTS) == set(range(1, 57))


def test_ec_lint_passes_every_translation() -> None:
    """The linter reads every new operation's fields as ec plan does: nothing at error level
    (32's raw SQL adds a `timestamp` column, as pgroll's file does: a warning)."""
    loud = []
    for path in EXAMPLES:
        report = lint_ec_file(str(path), LintSettings())
        assert report.status == "ok", (path.name, report.reason)
        loud += [(path.name, f.rule) for f in report.findings if at_least(f.severity, "warning")]
    assert loud == [("32_sql_on_complete.yaml", "prefer-timestamptz")]


def _facts_hold(url: str, number: int) -> None:
    with Session(url, None).connect() as conn:
        for (query, params), expected in FACTS[number]:
            assert conn.execute(query, params).fetchall() == expected, f"{number}: {query}"
        # nothing of ec is left behind in the base schema, and every index is usable
        shape = schema_shape(conn)
    leftovers = [
        (table, column[0])
        for table, info in shape.items()
        for column in info["columns"]
        if column[0].startswith("_ec_")
    ]
    assert leftovers == []
    assert [t for t, info in shape.items() if info["triggers"]] == []
    assert [i for info in shape.values() for i in info["indexes"] if not i[2]] == []
    assert [c for info in shape.values() for c in info["constraints"] if not c[2]] == []


def _refused(url: str, refused: PgrollOnly) -> None:
    with Session(url, None).connect() as conn:
        before = schema_shape(conn)
    with pytest.raises(ECError) as refusal:
        engine(url).plan(from_spec({"operations": [refused.operation]}, default_name="pgroll"))
    assert re.search(refused.error, str(refusal.value)), str(refusal.value)
    with Session(url, None).connect() as conn:
        assert schema_shape(conn) == before


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_pgroll_example(journey: Journey, path: Path) -> None:
    number = _number(path)
    earlier = set(range(1, number))
    assert earlier <= journey.completed, (
        f"earlier examples did not complete: {sorted(earlier - journey.completed)}"
    )
    for refused in PGROLL_ONLY:
        if refused.example == number:
            _refused(journey.url, refused)
    ec = engine(journey.url)
    with Session(journey.url, None).connect() as conn:
        before = schema_shape(conn)
    ec.apply(load(path))
    ec.rollback()  # undoes it exactly: the example then runs for real
    with Session(journey.url, None).connect() as conn:
        assert schema_shape(conn) == before
    ec.apply(load(path))
    ec.complete()
    _facts_hold(journey.url, number)
    Session(journey.url, None).run(*ROWS.get(number, []))
    journey.completed.add(number)
