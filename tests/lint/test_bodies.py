from __future__ import annotations

from tests.lint.helpers import lint


def test_ddl_inside_do_block_points_at_the_inner_statement() -> None:
    sql = (
        "SELECT 1;\nDO $$\nBEGIN\n  IF true THEN\n    CREATE INDEX i ON users (email);\n"
        "  END IF;\nEND $$;"
    )
    found = [f for f in lint(sql) if f.rule == "require-concurrent-index-creation"]
    assert [(f.line, f.column) for f in found] == [(5, 5)]
    assert "DO block" in found[0].message


def test_do_block_with_language_clause_and_tagged_quote() -> None:
    sql = "DO LANGUAGE plpgsql $body$ BEGIN ALTER TABLE users DROP COLUMN x; END $body$;"
    assert any(f.rule == "ban-drop-column" for f in lint(sql))


def test_function_body_ddl_is_reported_but_dml_is_not() -> None:
    sql = (
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO audit SELECT * FROM x; DELETE FROM log; "
        "ALTER TABLE users ALTER COLUMN a TYPE bigint; RETURN NEW; END $$;"
    )
    rules = {f.rule for f in lint(sql)}
    assert "changing-column-type" in rules
    assert "update-delete-without-where" not in rules


def test_non_sql_language_body_is_not_inspected() -> None:
    sql = "CREATE FUNCTION f() RETURNS void LANGUAGE plpython3u AS $$ plpy.execute('x') $$;"
    assert not [f for f in lint(sql) if f.rule == "unanalysed-statement"]


def test_do_block_dynamic_sql_is_unanalysed_not_silent() -> None:
    sql = (
        "DO $$ DECLARE t text := 'users'; "
        "BEGIN EXECUTE 'ALTER TABLE ' || t || ' DROP COLUMN a'; END $$;"
    )
    assert "unanalysed-statement" in {f.rule for f in lint(sql)}


def test_do_block_literal_execute_is_analysed() -> None:
    sql = "DO $$ BEGIN EXECUTE 'ALTER TABLE users RENAME COLUMN a TO b'; END $$;"
    assert "renaming-column" in {f.rule for f in lint(sql)}


def test_do_block_transaction_context_applies() -> None:
    sql = (
        "BEGIN;\nALTER TABLE users ADD COLUMN s text;\n"
        "DO $$ BEGIN UPDATE users SET s = 'x' WHERE id = 1; END $$;\nCOMMIT;"
    )
    assert "backfill-in-ddl-transaction" in {f.rule for f in lint(sql)}


def test_function_body_dynamic_sql_is_stored_not_run() -> None:
    """A function's dynamic SQL runs when the function is called, not by the migration that
    creates it: no unanalysed-statement (a DO block's, which runs now, is one — above)."""
    sql = (
        "CREATE OR REPLACE FUNCTION make_part(t text) RETURNS void LANGUAGE plpgsql AS $$\n"
        "BEGIN EXECUTE format('CREATE TABLE %I (id bigint)', t); END $$;"
    )
    assert "unanalysed-statement" not in {f.rule for f in lint(sql)}
