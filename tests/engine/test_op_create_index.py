"""create_index: storage parameters, operator classes (with parameters), collations, ordering,
expression keys, INCLUDE, NULLS NOT DISTINCT, every access method. Lifecycle + refusals."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from expandcontract.operations import MigrationInvalid
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, engine, migration, schema_shape
from tests.engine.lifecycle import Lifecycle, indexes, run_lifecycle, sqlstate

SEED = [
    "CREATE TABLE docs (id bigint PRIMARY KEY, title text, body text, tags text[], score int,"
    " created timestamptz)",
    "INSERT INTO docs SELECT g, 'Doc ' || g, 'body of ' || g, ARRAY['t' || (g % 5)],"
    " CASE WHEN g = 7 THEN NULL ELSE g END, now() - g * interval '1 hour'"
    " FROM generate_series(1, 200) g",
]
INDEX_63 = "i" * 57 + "_ü_ü"  # 63 bytes
assert len(INDEX_63.encode()) == 63


@pytest.fixture
def docs(ec_db: EcDatabase) -> EcDatabase:
    with ec_db.connect() as conn:
        for statement in SEED:
            conn.execute(statement)
    return ec_db


def _index(name: str, columns: list[Any], **fields: Any) -> dict[str, Any]:
    return {"create_index": {"name": name, "table": "docs", "columns": columns, **fields}}


INDEXES = [
    _index("docs_title_hash", ["title"], method="hash", storage_parameters={"fillfactor": 70}),
    _index(
        "docs_lower_title",
        [{"expression": "lower(title)", "sort": "desc", "nulls": "last"}],
        include=["score"],
        storage_parameters={"deduplicate_items": False},
    ),
    _index("docs_title_pattern", [{"column": "title", "opclass": "text_pattern_ops"}]),
    _index("docs_title_c", [{"column": "title", "collate": "C"}, "id"]),
    _index("docs_score_key", ["score"], unique=True, nulls_not_distinct=True),
    _index("docs_tags_gin", ["tags"], method="gin", storage_parameters={"fastupdate": "off"}),
    _index(
        "docs_created_brin",
        ["created"],
        method="brin",
        storage_parameters={"pages_per_range": 32, "autosummarize": True},
    ),
    _index(
        "docs_body_gist",
        [
            {
                "expression": "to_tsvector('simple', body)",
                "opclass": "tsvector_ops",
                "opclass_params": {"siglen": 100},
            }
        ],
        method="gist",
        storage_parameters={"fillfactor": 80, "buffering": "auto"},
        where="score > 10",
    ),
    _index(INDEX_63, ["id"], include=["title"]),
]

EXPECTED = {
    "docs_title_hash": "CREATE INDEX docs_title_hash ON public.docs USING hash (title)"
    " WITH (fillfactor='70')",
    "docs_lower_title": "CREATE INDEX docs_lower_title ON public.docs USING btree"
    " (lower(title) DESC NULLS LAST) INCLUDE (score) WITH (deduplicate_items='false')",
    "docs_title_pattern": "CREATE INDEX docs_title_pattern ON public.docs USING btree"
    " (title text_pattern_ops)",
    "docs_title_c": 'CREATE INDEX docs_title_c ON public.docs USING btree (title COLLATE "C", id)',
    "docs_score_key": "CREATE UNIQUE INDEX docs_score_key ON public.docs USING btree (score)"
    " NULLS NOT DISTINCT",
    "docs_tags_gin": "CREATE INDEX docs_tags_gin ON public.docs USING gin (tags)"
    " WITH (fastupdate='false')",
    "docs_created_brin": "CREATE INDEX docs_created_brin ON public.docs USING brin (created)"
    " WITH (pages_per_range='32', autosummarize='true')",
    "docs_body_gist": "CREATE INDEX docs_body_gist ON public.docs USING gist"
    " (to_tsvector('simple'::regconfig, body) tsvector_ops (siglen='100'))"
    " WITH (fillfactor='80', buffering=auto) WHERE (score > 10)",
    INDEX_63: f'CREATE INDEX "{INDEX_63}" ON public.docs USING btree (id) INCLUDE (title)',
    "docs_pkey": "CREATE UNIQUE INDEX docs_pkey ON public.docs USING btree (id)",
}


def _valid(conn: psycopg.Connection[Any]) -> list[tuple[str, bool]]:
    return conn.execute(
        "SELECT indexrelid::regclass::text, indisvalid FROM pg_index"
        " WHERE indrelid = 'docs'::regclass ORDER BY 1"
    ).fetchall()


def test_every_kind_of_index_through_the_lifecycle(docs: EcDatabase) -> None:
    def during(old: Session, new: Session) -> None:
        with psycopg.connect(docs.url) as conn:
            assert indexes(conn, "docs") == EXPECTED
            assert all(valid for _, valid in _valid(conn))
        # The unique index binds both versions; NULLS NOT DISTINCT: one NULL score only.
        assert sqlstate(new, "INSERT INTO docs (id, score) VALUES (900, NULL)") == "23505"
        assert sqlstate(old, "INSERT INTO docs (id, score) VALUES (901, 5)") == "23505"
        plan = old.rows("EXPLAIN SELECT id FROM docs WHERE tags @> ARRAY['t1']")
        assert plan  # the gin index is usable (a plan exists; no assertion on the planner's pick)

    def final(conn: psycopg.Connection[Any]) -> None:
        assert indexes(conn, "docs") == EXPECTED

    run_lifecycle(
        docs,
        Lifecycle(
            INDEXES,
            old_writes=["INSERT INTO docs (id, title, score) VALUES (1001, 'Old', 1001)"],
            new_writes=["INSERT INTO docs (id, title, score) VALUES (1002, 'New', 1002)"],
            during=during,
            final=final,
        ),
    )


def test_expression_index_on_a_column_renamed_in_the_same_migration(docs: EcDatabase) -> None:
    def during(old: Session, new: Session) -> None:
        with psycopg.connect(docs.url) as conn:
            assert indexes(conn, "docs")["docs_headline_lower"] == (
                "CREATE INDEX docs_headline_lower ON public.docs USING btree (lower(title))"
            )

    def final(conn: psycopg.Connection[Any]) -> None:
        assert indexes(conn, "docs")["docs_headline_lower"] == (
            "CREATE INDEX docs_headline_lower ON public.docs USING btree (lower(headline))"
        )

    run_lifecycle(
        docs,
        Lifecycle(
            [
                {"rename_column": {"table": "docs", "from": "title", "to": "headline"}},
                {
                    "create_index": {
                        "name": "docs_headline_lower",
                        "table": "docs",
                        "columns": [{"expression": "lower(headline)"}],
                    }
                },
            ],
            during=during,
            final=final,
        ),
    )


REFUSED = [
    ("hostile expression", [{"expression": "title); DROP TABLE docs; --"}], {}, "closes a bracket"),
    ("two statements", [{"expression": "lower(title); DROP TABLE docs"}], {}, "contains ';'"),
    ("expression reads unknown column", [{"expression": "lower(nope)"}], {}, "is not valid"),
    ("column and expression", [{"column": "title", "expression": "1"}], {}, "exactly one"),
    ("unknown opclass", [{"column": "title", "opclass": "no_such_ops"}], {}, "does not exist"),
    ("opclass of another method", [{"column": "tags", "opclass": "jsonb_path_ops"}], {}, "btree"),
    ("unknown collation", [{"column": "title", "collate": "no-such"}], {}, "does not exist"),
    ("params without opclass", [{"column": "title", "opclass_params": {"a": 1}}], {}, "needs"),
    ("hostile opclass", [{"column": "title", "opclass": "a b; DROP"}], {}, "does not exist"),
    ("hash ordering", [{"column": "title", "sort": "desc"}], {"method": "hash"}, "only btree"),
    ("hash unique", ["title"], {"method": "hash", "unique": True}, "only btree"),
    ("hash include", ["title"], {"method": "hash", "include": ["id"]}, "no INCLUDE"),
    ("nnd without unique", ["title"], {"nulls_not_distinct": True}, "needs unique"),
    ("gin fillfactor", ["tags"], {"method": "gin", "storage_parameters": {"fillfactor": 50}},
     "does not exist for gin"),
    ("raw storage text", ["title"], {"storage_parameters": "fillfactor = 70"}, "a mapping"),
    ("bad value", ["title"], {"storage_parameters": {"fillfactor": "70); DROP"}}, "integer"),
    ("include unknown column", ["title"], {"include": ["nope"]}, "does not exist"),
    ("name of 64 bytes", ["title"], {"name": INDEX_63 + "x"}, "longer than 63 bytes"),
    ("mutable expression", [{"expression": "date_trunc('day', created)"}], {}, "IMMUTABLE"),
    ("gist over a plain scalar", ["score"], {"method": "gist"}, "no default operator class"),
    ("hostile where", ["title"], {"where": "true) WITH (fillfactor=1"}, "closes a bracket"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("columns", "fields", "message"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_bad_create_index_is_refused_before_anything_runs(
    docs: EcDatabase, columns: list[Any], fields: dict[str, Any], message: str
) -> None:
    with docs.connect() as conn:
        before = schema_shape(conn)
    body = {"name": "docs_x", "table": "docs", "columns": columns, **fields}
    with pytest.raises(MigrationInvalid, match=message):
        engine(docs.url).apply(migration("bad", {"create_index": body}))
    with docs.connect() as conn:
        assert schema_shape(conn) == before


def test_spec_of_plain_columns_is_unchanged() -> None:
    """Migrations written before stay byte-identical in their checksum input."""
    plain = {"name": "i", "table": "t", "columns": ["a", "b"], "unique": True}
    assert migration("m", {"create_index": plain}).operations[0].to_spec() == plain
    rich = INDEXES[7]["create_index"]
    m = migration("m", {"create_index": rich})
    assert migration("m", {"create_index": m.operations[0].to_spec()}).checksum == m.checksum
