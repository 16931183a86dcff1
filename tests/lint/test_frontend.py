"""The front end: one sqlglot parse path, one builder, a token fallback that never drops an
action, a canonical typed IR, and syntax errors for invalid SQL."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from expandcontract.lint.engine import lint_sql
from expandcontract.lint.ir import K, Op
from expandcontract.lint.parse import parse_text
from expandcontract.lint.pgtypes import PgType, from_text

ROOT = Path(__file__).resolve().parents[2]


def ops(sql: str) -> list[Op]:
    return parse_text(sql)


def rules(sql: str) -> list[str]:
    return [f.rule for f in lint_sql(sql).findings]


def messages(sql: str, rule: str) -> list[str]:
    return [f.message for f in lint_sql(sql).findings if f.rule == rule]


def test_sqlglot_is_the_compiled_build_inside_the_declared_range() -> None:
    import sqlglot.parser

    declared = next(
        d
        for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
        if d.startswith("sqlglot")
    )
    low, high = re.findall(r">=([\d.]+),<([\d.]+)", declared)[0]

    def version(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in text.split(".")[:3])

    assert version(low) <= version(sqlglot.__version__) < version(high)
    assert "[c]" in declared
    assert sqlglot.parser.__file__.endswith(".so")  # sqlglotc: the mypyc build of the same code


def test_the_own_lexer_and_fast_recognizer_are_gone() -> None:
    package = ROOT / "expandcontract" / "lint"
    assert not (package / "lexer.py").exists()
    assert not (package / "fast").exists()


def test_mixed_alter_keeps_every_action() -> None:
    """sqlglot has no tree for the mixed form; each action is read on its own, none dropped."""
    sql = "ALTER TABLE t ALTER COLUMN c TYPE text USING c::text, VALIDATE CONSTRAINT k"
    kinds = [op.kind for op in ops(sql)]
    assert kinds == [K.ALTER_TYPE, K.VALIDATE_CONSTRAINT]
    assert "changing-column-type" in rules(sql + ";")


def test_an_action_nobody_reads_makes_the_statement_unanalysed() -> None:
    found = ops("ALTER TABLE t ADD COLUMN a bigint, FROBNICATE x")
    assert [op.kind for op in found] == [K.ADD_COLUMN, K.UNKNOWN]
    assert "unanalysed-statement" in rules("ALTER TABLE t ADD COLUMN a bigint, FROBNICATE x;")


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE c DROP COLUMN a DROP COLUMN b;",  # missing comma
        "DROP INDEX IF NOT EXISTS x;",
        "DROP INDEX a b;",
        "ALTER TABLE t VALIDATE CONSTRAINT k extra;",
        "CREATE TABLE broken (id int;",
    ],
)
def test_invalid_sql_is_a_syntax_error(sql: str) -> None:
    report = lint_sql(sql)
    assert [f.rule for f in report.findings] == ["syntax-error"]
    assert report.status == "unparsed"


@pytest.mark.parametrize(
    "sql",
    [
        "DROP INDEX CONCURRENTLY IF EXISTS a;",
        "DROP INDEX a, b CASCADE;",
        "ALTER TABLE t DROP COLUMN a CASCADE, VALIDATE CONSTRAINT k;",
    ],
)
def test_valid_forms_read_by_the_fallback_are_not_syntax_errors(sql: str) -> None:
    assert "syntax-error" not in rules(sql)


def test_pg18_table_not_null_constraint_is_valid_and_read() -> None:
    found = ops("CREATE TABLE p (a bigint, b text, CONSTRAINT p_a_nn NOT NULL a)")
    assert [op.kind for op in found] == [K.CREATE_TABLE]
    columns = {c.name: c for c in found[0].columns}
    assert columns["a"].not_null and not columns["b"].not_null
    assert "syntax-error" not in rules("CREATE TABLE p (a bigint, CONSTRAINT p_a_nn NOT NULL a);")


@pytest.mark.parametrize("written", ["int", "integer", "int4", "INTEGER"])
def test_integer_spellings_are_one_canonical_type(written: str) -> None:
    (op,) = ops(f"ALTER TABLE t ADD COLUMN c {written}")
    assert op.column is not None and op.column.pgtype == PgType("integer")
    assert op.column.type == written  # the user's own text, for messages
    assert messages(f"ALTER TABLE t ADD COLUMN c {written};", "prefer-bigint-over-int") == [
        f"int column (may overflow): c {written}"
    ]


def test_types_carry_modifiers_and_arrays() -> None:
    (op,) = ops("ALTER TABLE t ADD COLUMN c character varying(20)[]")
    assert op.column is not None
    assert op.column.pgtype == PgType("character varying", ("20",), array=True)
    (alter,) = ops("ALTER TABLE t ALTER COLUMN c SET DATA TYPE numeric(10, 2) USING c::numeric")
    assert alter.column is not None and alter.column.pgtype == PgType("numeric", ("10", "2"))
    assert alter.column.type == "numeric(10, 2)"
    assert from_text("timestamptz") == from_text("timestamp with time zone")
    assert from_text("citext") == PgType("citext")


def test_fallback_types_are_canonical_too() -> None:
    """A type read by the token fallback (mixed ALTER) is the same canonical type."""
    found = ops("ALTER TABLE t ALTER COLUMN c TYPE int8 USING c::int8, VALIDATE CONSTRAINT k")
    assert found[0].column is not None and found[0].column.pgtype == PgType("bigint")


def test_defaults_keep_the_users_text_and_volatility() -> None:
    (op,) = ops("ALTER TABLE t ADD COLUMN c bigint NOT NULL DEFAULT nextval('s'::regclass)")
    assert op.column is not None
    assert op.column.default == "nextval('s'::regclass)"
    assert op.column.volatile_default and op.column.not_null
    (stable,) = ops("ALTER TABLE t ADD COLUMN c timestamptz DEFAULT now() NOT NULL")
    assert stable.column is not None and stable.column.default == "now()"
    assert not stable.column.volatile_default


def test_inline_unique_and_references_and_view_replace_are_facts() -> None:
    (add,) = ops("ALTER TABLE t ADD COLUMN x text UNIQUE")
    assert add.column is not None and add.column.unique
    (table,) = ops(
        "CREATE TABLE a (id bigint REFERENCES b(id), c_id bigint, "
        "FOREIGN KEY (c_id) REFERENCES c(id))"
    )
    assert table.detail["ref_tables"] == "b,c"
    (view,) = ops("CREATE OR REPLACE VIEW v AS SELECT 1")
    assert view.detail.get("replace") == "yes"
    (plain,) = ops("CREATE VIEW v AS SELECT 1")
    assert "replace" not in plain.detail


def test_alter_function_rename_is_a_rename() -> None:
    (op,) = ops("ALTER FUNCTION f(integer, text) RENAME TO g")
    assert op.kind == K.RENAME_OBJECT and op.name == "g" and op.detail["object"] == "FUNCTION"


def test_every_action_is_its_own_finding_at_its_own_position() -> None:
    sql = "ALTER TABLE t DROP COLUMN a,\n  DROP COLUMN b, DROP COLUMN c;"
    found = [(f.line, f.column, f.message) for f in lint_sql(sql).findings]
    drops = [f for f in found if "deletes its data" in f[2]]
    assert [(line, col) for line, col, _ in drops] == [(1, 1), (2, 3), (2, 18)]
    assert ["t.a" in drops[0][2], "t.b" in drops[1][2], "t.c" in drops[2][2]] == [True] * 3
    assert sum("lock_timeout" in m for _, _, m in found) == 1  # statement-wide: once


def test_identical_template_placeholders_are_one_name() -> None:
    sql = "CREATE TABLE {{ .NS }}.t (id bigint);\nCREATE INDEX t_id ON {{ .NS }}.t (id);\n"
    assert "require-concurrent-index-creation" not in rules(sql)  # the table is new
    other = "CREATE TABLE {{ .A }}.t (id bigint);\nCREATE INDEX t_id ON {{ .B }}.t (id);\n"
    assert "require-concurrent-index-creation" in rules(other)


def test_both_sqlglot_tree_shapes_of_is_not_null_are_read() -> None:
    """sqlglot 30.10 reads CHECK (c IS NOT NULL) as Not(Is(..)), later versions as a negated
    Is: the builder knows both (CI runs this file on both ends of the range)."""
    (op,) = ops("ALTER TABLE t ADD CONSTRAINT k CHECK (email IS NOT NULL) NOT VALID")
    assert op.detail.get("not_null_column") == "email"


def test_keyword_pairs_sqlglot_keeps_as_one_token_are_read_word_by_word() -> None:
    (op,) = ops("ALTER TABLE t ADD PRIMARY   KEY USING INDEX t_pk")
    assert op.kind == K.ADD_CONSTRAINT and op.using_index
    assert op.detail["type"] == "primary_key"


def test_bit_varying_and_quoted_type_names() -> None:
    assert from_text("bit varying(5)") == PgType("bit varying", ("5",))
    assert from_text("varbit[]") == PgType("bit varying", (), array=True)
    assert from_text('public."MyType"') == PgType("public.MyType")
    assert from_text("Public.Mood") == PgType("public.mood")


def test_role_level_alter_is_understood() -> None:
    assert [op.kind for op in ops("ALTER USER bob SET search_path = app")] == [K.HARMLESS]


def test_pg18_not_null_constraints_next_to_a_primary_key() -> None:
    """The statement is parsed again without the NOT NULL elements: its "PRIMARY KEY" (one
    sqlglot token) must reach sqlglot as it came (lemmy writes exactly this)."""
    sql = (
        "CREATE TABLE person_ban (\n  person_id integer REFERENCES person (id) ON DELETE CASCADE,\n"
        "  published_at timestamptz DEFAULT now(),\n"
        "  CONSTRAINT ban_person_nn NOT NULL person_id,\n"
        "  CONSTRAINT ban_published_nn NOT NULL published_at,\n  PRIMARY KEY (person_id)\n)"
    )
    (op,) = ops(sql)
    assert op.kind == K.CREATE_TABLE
    assert [(c.name, c.not_null) for c in op.columns] == [
        ("person_id", True),
        ("published_at", True),
    ]
    assert "syntax-error" not in rules(sql + ";")


def test_mixed_alter_with_a_primary_key_action_keeps_it() -> None:
    found = ops("ALTER TABLE t ADD PRIMARY KEY (id), VALIDATE CONSTRAINT k")
    assert [op.kind for op in found] == [K.ADD_CONSTRAINT, K.VALIDATE_CONSTRAINT]
    assert found[0].detail["type"] == "primary_key"


def test_a_comment_after_a_default_does_not_make_it_volatile() -> None:
    """lemmy writes `DEFAULT now() -- why` inside a multi-line ALTER: sqlglot keeps the
    comment on the expression; volatility reads the function, not the comment."""
    found = ops(
        "ALTER TABLE t ADD COLUMN a timestamptz NOT NULL DEFAULT now() -- re-fetch\n,"
        " ADD COLUMN b float8 DEFAULT random() -- jitter\n"
    )
    assert [(op.column.default, op.column.volatile_default) for op in found if op.column] == [
        ("now()", False),
        ("random()", True),
    ]


def test_constraint_names_inside_create_table_are_checked_for_length() -> None:
    long = "c" * 64
    sql = f"CREATE TABLE t (id bigint, a bigint, CONSTRAINT {long} FOREIGN KEY (a) REFERENCES b);"
    assert messages(sql, "identifier-too-long") == [
        f"identifier longer than 63 bytes is silently truncated: {long}"
    ]


def test_several_unique_constraints_in_one_alter_are_several_findings() -> None:
    sql = "ALTER TABLE t ADD CONSTRAINT a_key UNIQUE (a), ADD CONSTRAINT b_key UNIQUE (b);"
    found = messages(sql, "disallowed-unique-constraint")
    assert len(found) == 2 and "a_key" in found[0] and "b_key" in found[1]


def test_drop_policy_targets_its_table() -> None:
    (op,) = ops("DROP POLICY IF EXISTS account_update ON app.account")
    assert (op.kind, op.table, op.name, op.detail.get("on")) == (
        K.DROP,
        "app.account",
        "account_update",
        "yes",
    )
    assert "require-lock-timeout" in rules("DROP POLICY account_update ON account;")


@pytest.mark.parametrize(
    ("sql", "names"),
    [
        ("DROP SCHEMA a, b CASCADE", ["a", "b"]),
        ("DROP TYPE a, b", ["a", "b"]),
        ("DROP SEQUENCE IF EXISTS a, b", ["a", "b"]),
        ("DROP FUNCTION f(int), g(text) CASCADE", ["f", "g"]),
        ("DROP TABLE a, b", ["a", "b"]),
    ],
)
def test_every_object_of_a_multi_object_drop_is_an_op(sql: str, names: list[str]) -> None:
    assert [op.name for op in ops(sql)] == names


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE t ALTER COLUMN a TYPE bigint ALTER COLUMN b TYPE bigint;",
        "ALTER TABLE t ALTER COLUMN a SET NOT NULL SET DEFAULT 1;",
        "ALTER TABLE t ADD COLUMN a bigint, , DROP COLUMN b;",
        "ALTER TABLE t ADD COLUMN a bigint,;",
        "DROP TABLE IF NOT EXISTS t;",
        "DROP TABLE t u;",
        "DROP TYPE a b;",
        "DROP POLICY p;",
        "CREATE INDEX CONCURRENTLY IF EXISTS i ON t (a);",
    ],
)
def test_more_invalid_sql_is_a_syntax_error(sql: str) -> None:
    assert [f.rule for f in lint_sql(sql).findings] == ["syntax-error"]


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("serial8", PgType("bigserial")),
        ("serial4", PgType("serial")),
        ("serial2", PgType("smallserial")),
        ("pg_catalog.int4", PgType("integer")),
        ("pg_catalog.timestamp", PgType("timestamp without time zone")),
        ("float(10)", PgType("real")),
        ("float(25)", PgType("double precision")),
        ("mood", PgType("mood")),
    ],
)
def test_postgres_aliases_and_qualified_builtins_are_canonical(
    written: str, canonical: PgType
) -> None:
    assert from_text(written) == canonical
    (op,) = ops(f"ALTER TABLE t ADD COLUMN c {written}")
    assert op.column is not None and op.column.pgtype == canonical


def test_serial8_add_column_is_an_identity_fill() -> None:
    assert "add-column-serial" in rules("ALTER TABLE x ADD COLUMN a serial8;")


@pytest.mark.parametrize(
    "sql",
    [
        "DROP ROLE IF EXISTS :role_name;",  # a psql variable: masked like a template
        "CREATE ROLE :role_name LOGIN PASSWORD :'role_password';",
        "DROP DATABASE grafana WITH (FORCE);",
        "DROP EVENT TRIGGER IF EXISTS api_restart;",
        "DROP FOREIGN TABLE IF EXISTS remote_users;",
        "DROP USER MAPPING IF EXISTS FOR app SERVER remote;",
        "create index {{ if not .Transactional }}concurrently{{end}} t_seq"
        ' on "{{.Schema}}".t (id);',
        'SELECT \'{"a":"b"}\'::jsonb, x::int, a[1:n] FROM t;',
    ],
)
def test_valid_forms_around_the_strict_readers_stay_valid(sql: str) -> None:
    report = lint_sql(sql)
    assert report.status == "ok", report.reason
    assert not {"syntax-error", "unanalysed-statement"} & {f.rule for f in report.findings}


def test_psql_variables_are_shown_as_written() -> None:
    found = messages("DROP TABLE :target;", "ban-drop-table")
    assert found and ":target" in found[0]


def test_array_written_with_the_array_keyword_is_an_array_everywhere() -> None:
    (add,) = ops("ALTER TABLE x ADD COLUMN a int8 ARRAY")
    (table,) = ops("CREATE TABLE x (a int8 ARRAY)")
    assert add.column is not None and add.column.pgtype == PgType("bigint", array=True)
    assert table.columns[0].pgtype == PgType("bigint", array=True)


def test_a_pg18_not_null_constraint_is_worded_as_one() -> None:
    found = messages(
        "ALTER TABLE t ADD CONSTRAINT t_a_nn NOT NULL a;", "constraint-missing-not-valid"
    )
    assert found and found[0].startswith("ADD CONSTRAINT t_a_nn NOT NULL without NOT VALID")
