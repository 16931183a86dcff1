from __future__ import annotations

from expandcontract.lint.splitter import split_sql, strip_meta_commands


def texts(sql: str) -> list[str]:
    return [s.text for s in split_sql(sql).statements]


def test_semicolons_in_strings_comments_and_quotes_do_not_split() -> None:
    sql = (
        "SELECT 'a;b';\n"
        "/* outer /* nested ; */ still comment ; */ SELECT 2;\n"
        "SELECT E'it\\'s;';\n"
        'SELECT 1 AS "x;y";\n'
        "-- line comment ;\nSELECT 3;"
    )
    assert len(texts(sql)) == 5


def test_dollar_quoted_bodies() -> None:
    sql = (
        "CREATE FUNCTION f() RETURNS int AS $fn$ BEGIN RETURN 1; END; $fn$ LANGUAGE plpgsql;\n"
        "DO $$ BEGIN PERFORM 1; END $$;\n"
        "SELECT $a$ x; $b$ y; $b$ $a$;"
    )
    assert len(texts(sql)) == 3


def test_begin_atomic_body_is_one_statement() -> None:
    sql = (
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN "
        "true THEN 1 END; END;\nALTER TABLE t ADD COLUMN a int;"
    )
    parts = texts(sql)
    assert len(parts) == 2
    assert parts[1].startswith("ALTER TABLE")


def test_positions_are_one_based_line_and_column() -> None:
    sql = "SELECT 1;\n\n   ALTER TABLE t\n  ADD COLUMN a int;"
    stmts = split_sql(sql).statements
    assert [(s.line, s.column) for s in stmts] == [(1, 1), (3, 4)]


def test_meta_commands_are_blanked_with_offsets_kept() -> None:
    sql = "\\set ON_ERROR_STOP on\nSELECT 1;\n\\i other.sql\nSELECT 2;"
    stripped = strip_meta_commands(sql)
    assert len(stripped) == len(sql) and "\\" not in stripped
    stmts = split_sql(sql).statements
    assert [s.line for s in stmts] == [2, 4]


def test_meta_command_lookalike_inside_dollar_quote_is_kept() -> None:
    sql = "DO $$\n\\not_meta\n$$;"
    assert "\\not_meta" in strip_meta_commands(sql)


def test_no_trailing_semicolon_and_empty_statements() -> None:
    assert texts(";;SELECT 1;;SELECT 2") == ["SELECT 1", "SELECT 2"]


def test_unterminated_string_reports_error() -> None:
    result = split_sql("SELECT 'oops;\nSELECT 2;")
    assert result.error is not None


def test_directives_attach_to_the_right_statement() -> None:
    sql = (
        "-- ec:ignore-file prefer-robust-stmts\n"
        "SELECT 1; -- ec:ignore a-rule same line\n"
        "-- ec:ignore b-rule next\n"
        "SELECT 2;"
    )
    result = split_sql(sql)
    first, second = result.statements
    assert ("ec:ignore", "a-rule same line") in first.directives
    assert [d for d in second.directives if d[0] == "ec:ignore"] == [("ec:ignore", "b-rule next")]
    assert ("ec:ignore-file", "prefer-robust-stmts") in result.file_directives
