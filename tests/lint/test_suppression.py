from __future__ import annotations

from tests.lint.helpers import lint


def rules(sql: str) -> set[str]:
    return {f.rule for f in lint(sql)}


def test_ignore_on_preceding_line() -> None:
    sql = "-- ec:ignore ban-drop-table reviewed with the team\nDROP TABLE old;"
    assert "ban-drop-table" not in rules(sql)


def test_ignore_several_rules() -> None:
    sql = "-- ec:ignore ban-drop-table,require-lock-timeout ok\nDROP TABLE old;"
    assert not {"ban-drop-table", "require-lock-timeout"} & rules(sql)


def test_ignore_on_same_line_after_statement() -> None:
    sql = "DROP TABLE old; -- ec:ignore ban-drop-table done\nDROP TABLE other;"
    found = [f for f in lint(sql) if f.rule == "ban-drop-table"]
    assert [f.line for f in found] == [2]


def test_ignore_applies_only_to_next_statement() -> None:
    sql = "-- ec:ignore ban-drop-table\nDROP TABLE a;\nDROP TABLE b;"
    assert [f.line for f in lint(sql) if f.rule == "ban-drop-table"] == [3]


def test_ignore_file() -> None:
    sql = "-- ec:ignore-file ban-drop-table\nDROP TABLE a;\nDROP TABLE b;"
    assert "ban-drop-table" not in rules(sql)


def test_ignore_file_all() -> None:
    assert rules("-- ec:ignore-file\nDROP TABLE a;") == set()


def test_unused_ignore_is_reported() -> None:
    found = lint("-- ec:ignore ban-drop-table\nCREATE TABLE IF NOT EXISTS t (id bigint);")
    assert [(f.rule, f.line) for f in found] == [("unused-ignore", 2)]


def test_used_ignore_is_not_reported_as_unused() -> None:
    assert "unused-ignore" not in rules("-- ec:ignore ban-drop-table x\nDROP TABLE a;")


def test_assume_in_transaction_directive_per_file() -> None:
    sql = "-- ec:assume-in-transaction off\nCREATE INDEX CONCURRENTLY i ON users (a);"
    found = {f.rule for f in lint(sql, tx=True)}
    assert "concurrently-in-transaction" not in found
    sql_on = "-- ec:assume-in-transaction\nCREATE INDEX CONCURRENTLY i ON users (a);"
    assert "concurrently-in-transaction" in {f.rule for f in lint(sql_on)}
