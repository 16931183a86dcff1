"""The fast path (own lexer + strict shape recognizer) must give exactly what the sqlglot path
gives: the same statements and positions, the same IR ops, the same reports. It may decline a
statement (sqlglot then reads it), never disagree."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expandcontract.lint import analyse
from expandcontract.lint.dialect import DIALECT
from expandcontract.lint.engine import lint_sql
from expandcontract.lint.fast import recognize
from expandcontract.lint.fast.values import CALLS, TYPES
from expandcontract.lint.findings import FileReport
from expandcontract.lint.lexer import END, START, UP, LexError, lex, lex_statements
from expandcontract.lint.parse import parse_ops
from expandcontract.lint.registry import all_rules
from expandcontract.lint.rules._ec_migration import EC_MIGRATION
from expandcontract.lint.settings import LintSettings
from expandcontract.lint.splitter import split_sql
from tests.lint.cases import CASES

FIXTURES = Path(__file__).parent / "fixtures"
SHAPES = (FIXTURES / "fast_path" / "shapes.sql").read_text()


def _corpus() -> list[str]:
    texts = [case[1] for case in CASES]
    # the examples of the rules about ec migration files are YAML, not SQL
    texts += [t for r in all_rules() if EC_MIGRATION not in r.tags for t in (r.bad, r.good)]
    texts += [p.read_text() for p in sorted(FIXTURES.rglob("*.sql"))]
    return texts


def _statements(texts: list[str]) -> list[str]:
    found: list[str] = []
    for text in texts:
        try:
            groups = lex_statements(text)
        except LexError:
            continue
        found += [text[g[0][START] : g[-1][END]] for g in groups]
    return list(dict.fromkeys(found))


def _slow(sql: str) -> tuple[list[dict[str, Any]], str | None]:
    ops, error = parse_ops(DIALECT.tokenize(sql), sql)
    return [vars(op) for op in ops], error


def _report(text: str, fast: bool) -> tuple[Any, ...]:
    analyse.FAST_PATH = fast
    try:
        report: FileReport = lint_sql(text, "m.sql", LintSettings())
    finally:
        analyse.FAST_PATH = True
    findings = [(f.line, f.column, f.rule, f.severity, f.message) for f in report.findings]
    return report.status, report.reason, report.statements, findings


@pytest.mark.parametrize("text", [*_corpus(), SHAPES], ids=lambda t: t[:40])
def test_reports_are_identical_with_and_without_the_fast_path(text: str) -> None:
    assert _report(text, fast=True) == _report(text, fast=False)


def test_split_is_identical_to_the_sqlglot_splitter() -> None:
    for text in [*_corpus(), SHAPES]:
        fast, slow = split_sql(text), split_sql(text, fast=False)
        assert [(s.text, s.line, s.column, s.directives) for s in fast.statements] == [
            (s.text, s.line, s.column, s.directives) for s in slow.statements
        ]
        assert fast.file_directives == slow.file_directives


def test_every_accepted_statement_gives_the_sqlglot_ops() -> None:
    accepted = 0
    for sql in _statements([*_corpus(), SHAPES]):
        ops = recognize(lex(sql))
        if ops is None:
            continue
        accepted += 1
        assert ([vars(op) for op in ops], None) == _slow(sql), sql
    assert accepted > 250  # the fast path really reads the common statements


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE users ADD COLUMN email text NOT NULL DEFAULT 'x'",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email)",
        "ALTER TABLE users ALTER COLUMN email SET NOT NULL",
        "ALTER TABLE t ADD CONSTRAINT c CHECK (a IS NOT NULL) NOT VALID",
        "ALTER TABLE t VALIDATE CONSTRAINT c",
        "UPDATE users SET a = 1 WHERE id BETWEEN 1 AND 1000",
        "SET lock_timeout = '2s'",
        "DO $$ BEGIN CREATE TYPE mood AS ENUM ('a'); END $$",
        "CREATE TABLE t (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())",
    ],
)
def test_common_statements_take_the_fast_path(sql: str) -> None:
    assert recognize(lex(sql)) is not None


def _types() -> Iterator[str]:
    for spelling, rendered in TYPES.items():
        yield spelling.lower()
        yield spelling.lower() + "[]"
        if rendered in ("varchar", "char", "timestamp", "timestamptz") and "ZONE" not in spelling:
            yield f"{spelling.lower()}(7)"
        if rendered == "decimal":
            yield f"{spelling}(10)"
            yield f"{spelling}(12,4)"


@pytest.mark.parametrize("spelling", list(_types()))
def test_type_rendering_matches_sqlglot(spelling: str) -> None:
    """Every spelling in the fast path's type table renders as sqlglot renders it."""
    sql = f"ALTER TABLE t ADD COLUMN c {spelling}"
    ops = recognize(lex(sql))
    assert ops is not None
    assert [vars(op) for op in ops] == _slow(sql)[0]


def test_misplaced_type_modifiers_decline() -> None:
    assert recognize(lex("ALTER TABLE t ADD COLUMN c timestamp with time zone(3)")) is None


_DEFAULTS = [
    "0", "-1", "1.50", "1e3", "'x'", "'it''s'", "''", "true", "FALSE", "null",
    "CURRENT_TIMESTAMP", "current_date", "LOCALTIMESTAMP", "localtime", "current_user",
    *(f"{name.lower()}()" for name in CALLS),
    *(f"'1'::{spelling.lower()}" for spelling in TYPES),
]  # fmt: skip


@pytest.mark.parametrize("default", _DEFAULTS)
def test_default_rendering_and_volatility_match_sqlglot(default: str) -> None:
    """Every DEFAULT form the fast path reads (literals, keywords, known calls, casts to every
    table type) renders, and is judged volatile or not, as on the sqlglot path."""
    sql = f"ALTER TABLE t ADD COLUMN c text DEFAULT {default}"
    ops = recognize(lex(sql))
    assert ops is not None
    assert [vars(op) for op in ops] == _slow(sql)[0]


_VOCABULARY = ["(", ")", ",", "NOT", "NULL", "VALID", "DEFAULT", "'x'", "1", "-", "::", "text",
               "int", "CONSTRAINT", "c", "ON", "IF", "EXISTS", "CASCADE", "AND", "=", "WHERE",
               "SET", "TO", "USING", "ONLY", ".", "[", "]", "COLUMN", "TYPE", "KEY", "PRIMARY",
               "IS", "IN", "BETWEEN", "SELECT", "$$ x $$", "WITH", "CURRENT_DATE", "EXEC",
               "LATERAL", "name", "type", "t.a", ".5", "<<="]  # fmt: skip
_SEEDS = _statements([*_corpus(), SHAPES])


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_statements_are_read_the_same_or_declined(data: st.DataObject) -> None:
    """Near-miss statements (a token dropped, doubled, inserted or swapped): whenever the fast
    path accepts one, sqlglot reads it without error into the same ops."""
    sql = data.draw(st.sampled_from(_SEEDS))
    words = [sql[t[START] : t[END]] for t in lex(sql)]
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(words) - 1))
        action = data.draw(st.sampled_from(["drop", "double", "insert", "swap"]))
        if action == "drop" and len(words) > 1:
            del words[i]
        elif action == "double":
            words.insert(i, words[i])
        elif action == "insert":
            words.insert(i, data.draw(st.sampled_from(_VOCABULARY)))
        else:
            j = data.draw(st.integers(0, len(words) - 1))
            words[i], words[j] = words[j], words[i]
    mutated = " ".join(words)
    try:
        tokens = lex(mutated)
    except LexError:
        return
    if any(t[UP] == ";" for t in tokens):
        return
    ops = recognize(tokens)
    if ops is not None:
        assert ([vars(op) for op in ops], None) == _slow(mutated), mutated


def test_every_single_token_drop_or_double_is_read_the_same_or_declined() -> None:
    """Exhaustive near misses of the fixture shapes: each token dropped, each doubled."""
    for sql in _statements([SHAPES]):
        words = [sql[t[START] : t[END]] for t in lex(sql)]
        for i in range(len(words)):
            for mutated in (words[:i] + words[i + 1 :], words[: i + 1] + words[i:]):
                text = " ".join(mutated)
                ops = recognize(lex(text)) if mutated else None
                if ops is not None:
                    assert ([vars(op) for op in ops], None) == _slow(text), text


_PIECES = ["SELECT 1", ";", " ", "\n", "'a;b'", "'it''s'", '"x;y"', "$$ a; b $$", "$t$ ; $t$",
           "-- c;\n", "/* c; */", "E'a\\';b'", "/* a /* b */ c; */", "\\set x 1\n", "BEGIN ATOMIC",
           "END", "x", "'", "$1", "::", "U&'a'", "B'01'", "(", ")", "\t"]  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=25))
def test_lexer_splits_like_sqlglot_or_declines(pieces: list[str]) -> None:
    text = "".join(pieces)
    try:
        lex(text)
    except LexError:
        return  # the sqlglot splitter reads it
    fast, slow = split_sql(text), split_sql(text, fast=False)
    if slow.error is None:
        assert [(s.text, s.line, s.column) for s in fast.statements] == [
            (s.text, s.line, s.column) for s in slow.statements
        ]


def test_a_sqlglot_crash_is_an_unparsed_statement_not_a_crash() -> None:
    # sqlglot 30 raises TypeError on this; the lint run must go on
    report = lint_sql("CREATE FUNCTION f() DEFAULT RETURNS int AS $$ SELECT 1 $$;\nDROP TABLE t;")
    assert "ban-drop-table" in {f.rule for f in report.findings}


def test_random_bench_like_files_agree() -> None:
    rng = random.Random(7)
    forms = _statements([SHAPES])
    for _ in range(40):
        text = ";\n".join(rng.choice(forms) for _ in range(rng.randint(1, 12))) + ";\n"
        assert _report(text, fast=True) == _report(text, fast=False)


_NAME_POSITIONS = [
    "ALTER TABLE {w} ADD COLUMN a int", "ALTER TABLE t ADD COLUMN {w} int",
    "ALTER TABLE t ALTER COLUMN {w} SET NOT NULL", "ALTER TABLE t DROP COLUMN {w}",
    "ALTER TABLE t RENAME COLUMN a TO {w}", "CREATE INDEX {w} ON t (a)",
    "CREATE INDEX i ON {w} (a)", "CREATE INDEX i ON t ({w})", "UPDATE {w} SET a = 1 WHERE id = 1",
    "UPDATE t SET {w} = 1 WHERE id = 1", "UPDATE t SET a = {w} WHERE id = 1",
    "UPDATE t AS {w} SET a = 1", "DELETE FROM t WHERE {w} = 1", "DELETE FROM t {w} WHERE a = 1",
    "SET {w} = 1", "SET lock_timeout = {w}", "RESET {w}", "CREATE TABLE {w} (a int)",
    "CREATE TABLE t ({w} int)", "ALTER TABLE t ADD CONSTRAINT {w} CHECK (a IS NOT NULL) NOT VALID",
    "ALTER TABLE t ADD CONSTRAINT c CHECK ({w} IS NOT NULL) NOT VALID",
    "INSERT INTO t ({w}) VALUES (1)", "INSERT INTO {w} (a) VALUES (1)", "DROP TABLE {w}",
    "ALTER TABLE t ADD COLUMN a int REFERENCES {w} (id)",
    "ALTER TABLE t ALTER COLUMN a SET DEFAULT {w}",
    "CREATE INDEX i ON t (a) WHERE {w} IS NULL", "ALTER TABLE {w}.t ADD COLUMN a int",
    "ALTER TABLE s.{w} ADD COLUMN a int", "RESET {w}.y", "RESET x.{w}", "SET {w}.y = 1",
    "SET x.{w} = 1", "SET LOCAL {w} = 1", "UPDATE s.{w} SET a = 1 WHERE id = 1",
    "UPDATE t SET a = b.{w} WHERE id = 1", "CREATE INDEX i ON {w}.t (a)", "DROP TABLE {w}.t",
    "DROP INDEX {w}.i", "DROP INDEX CONCURRENTLY {w}", "CREATE TABLE {w}.t (a int)",
    "DELETE FROM {w}.t WHERE a = 1", "INSERT INTO {w}.t (a) VALUES (1)",
    "ALTER TABLE t ADD CONSTRAINT c FOREIGN KEY (a) REFERENCES {w}.u (id)",
    "ALTER TABLE t ADD COLUMN a {w}", "REFRESH MATERIALIZED VIEW {w}",
    "ALTER TABLE t VALIDATE CONSTRAINT {w}", "ALTER TABLE t DROP CONSTRAINT {w}",
    "ALTER TABLE t RENAME TO {w}", "CREATE TYPE {w} AS ENUM ('a')", "SET lock_timeout TO {w}",
    "ALTER TABLE t ADD {w} int", "INSERT INTO {w} VALUES (1)", "ALTER TABLE t ALTER {w} TYPE int",
    "DELETE FROM t RETURNING {w}", "INSERT INTO t VALUES ({w})",
    "ALTER TABLE t ALTER COLUMN a TYPE int USING {w}",
    "ALTER TABLE t ADD CONSTRAINT c PRIMARY KEY ({w})", "CREATE TABLE t (a int, PRIMARY KEY ({w}))",
]  # fmt: skip


def _sqlglot_words() -> list[str]:
    from sqlglot.dialects.postgres import Postgres

    words = {k for k in Postgres.Tokenizer.KEYWORDS if k.replace("_", "").isalnum()}
    words |= {getattr(t, "name", str(t)) for t in Postgres.Parser.NO_PAREN_FUNCTIONS}
    parser_tables = ("NO_PAREN_FUNCTION_PARSERS", "FUNCTION_PARSERS", "PROPERTY_PARSERS",
                     "STATEMENT_PARSERS", "CONSTRAINT_PARSERS", "RANGE_PARSERS")  # fmt: skip
    for table in parser_tables:
        for key in getattr(Postgres.Parser, table):
            word = key if isinstance(key, str) else getattr(key, "name", str(key))
            if word.replace("_", "").isalnum():
                words.add(word)
    return sorted(words | {"COLUMNS", "FORMAT", "SIMILAR"})


def test_every_sqlglot_keyword_in_every_name_position_is_read_the_same_or_declined() -> None:
    """sqlglot reads some keywords where a name stands as something else (CURRENT_DATE, XOR,
    RESET exec.y …): the fast path's RESERVED list must send those to sqlglot. A sqlglot upgrade
    that adds keywords fails here, not in users' reports."""
    for word in _sqlglot_words():
        for template in _NAME_POSITIONS:
            sql = template.format(w=word.lower())
            ops = recognize(lex(sql))
            if ops is not None:
                assert ([vars(op) for op in ops], None) == _slow(sql), sql


_ACTIONS = [
    "ADD COLUMN a int", "ADD a int", "ADD CONSTRAINT c CHECK (a > 0)", "ADD CHECK (a > 0)",
    "ADD PRIMARY KEY (a)", "ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id)",
    "ADD CONSTRAINT q UNIQUE (a)", "DROP COLUMN b", "DROP COLUMN b CASCADE", "DROP CONSTRAINT c",
    "ALTER COLUMN a TYPE bigint", "ALTER COLUMN a TYPE bigint USING a::bigint",
    "ALTER COLUMN a SET NOT NULL", "ALTER COLUMN a DROP NOT NULL", "ALTER COLUMN a SET DEFAULT 1",
    "ALTER COLUMN a DROP DEFAULT", "VALIDATE CONSTRAINT c", "RENAME COLUMN a TO b",
    "RENAME a TO b", "RENAME TO u",
]  # fmt: skip


def test_every_pair_of_alter_table_actions_is_read_the_same_or_declined() -> None:
    for first in _ACTIONS:
        for second in _ACTIONS:
            sql = f"ALTER TABLE t {first}, {second}"
            ops = recognize(lex(sql))
            if ops is not None:
                assert ([vars(op) for op in ops], None) == _slow(sql), sql
    assert recognize(lex("ALTER TABLE t ADD COLUMN a int, ADD COLUMN b text")) is not None


@pytest.mark.parametrize(
    "text",
    [
        "ALTER TABLE users ADD COLUMN c timestamptz DEFAULT now() /* on insert */ NOT NULL;",
        "CREATE TABLE t (\n  id bigint PRIMARY KEY, -- the key\n  n numeric(12, -- x\n 2)\n);",
        "ALTER TABLE t ADD FOREIGN /**/ KEY (a) REFERENCES u (id);",
        "DO $$ BEGIN -- a comment in the body is fine\n ALTER TABLE t DROP COLUMN a; END $$;",
        "SET lock_timeout = '1s';\r-- note\rDROP TABLE old_users;\r",
        "SELECT 1;\nSELECT 1;\nUPDATE t SET a = WHERE b = 1;\n",  # error position: line 3
        "ALTER TABLE t ALTER COLUMN a SET DEFAULT -1::int;\nSET x = .5;\n",
        "ALTER TABLE t ADD CONSTRAINT c CHECK (t.a IS NOT NULL);\n"
        "ALTER TABLE t ADD CONSTRAINT d CHECK (current_date IS NOT NULL);\n",
        "UPDATE t SET a = lower(a, b) WHERE a <<= b;\nUPDATE t SET a = 1 WHERE a IS NULL || b;\n",
        'DROP SEQUENCE a, b;\nDROP SCHEMA a.b.c;\nREFRESH MATERIALIZED VIEW "concurrently";\n',
    ],
)
def test_review_findings_lint_the_same_with_and_without_the_fast_path(text: str) -> None:
    """Inputs on which an independent review caught the fast path differing (comments inside a
    statement, CR line ends, error positions, sqlglot failing on a statement alone, rendering
    and keyword corner cases): the reports must be the same either way, and nothing crashes."""
    assert _report(text, fast=True) == _report(text, fast=False)


def test_syntax_error_names_the_file_line_not_the_statement_line() -> None:
    status, reason, _, _ = _report("SELECT 1;\nSELECT 1;\nUPDATE t SET a = WHERE b = 1;\n", True)
    assert status == "unparsed"
    assert "line 3" in reason and "Line 3" in reason


def test_a_statement_sqlglot_cannot_tokenize_alone_is_still_linted() -> None:
    """sqlglot's tokenizer fails on "$1 ''" at the very end of its input, which a statement read
    on its own (fast lexer split, sqlglot for the statement) can be; the file is still linted."""
    text = "PREPARE p(int) AS UPDATE t SET a = $1 WHERE b = '';\nDROP TABLE t;\n"
    fast, slow = _report(text, fast=True), _report(text, fast=False)
    assert [(f[0], f[2]) for f in fast[3]] == [(f[0], f[2]) for f in slow[3]]
    assert "ban-drop-table" in {f[2] for f in fast[3]}
