from __future__ import annotations

from expandcontract.lint.masking import mask_templates
from tests.lint.helpers import lint


def test_masking_keeps_length_and_lines() -> None:
    sql = "ALTER TABLE {{ schema }}.users ADD COLUMN x int DEFAULT ${default_value};\nSELECT 1;"
    masked = mask_templates(sql)
    assert len(masked.text) == len(sql)
    assert masked.text.count("\n") == sql.count("\n")
    assert "{{" not in masked.text and "${" not in masked.text


def test_multiline_placeholder_keeps_line_count() -> None:
    sql = "SELECT {{\n value\n}};\nDROP TABLE t;"
    masked = mask_templates(sql)
    assert masked.text.count("\n") == sql.count("\n")
    assert [f.line for f in lint(sql) if f.rule == "ban-drop-table"] == [4]


def test_templated_migration_is_linted_and_names_restored() -> None:
    findings = lint("CREATE INDEX idx ON {{ table_name }} (email);")
    rule = [f for f in findings if f.rule == "require-concurrent-index-creation"]
    assert rule and "{{ table_name }}" in rule[0].message


def test_dollar_brace_placeholder() -> None:
    findings = lint("ALTER TABLE ${tbl} DROP COLUMN legacy;")
    assert any(f.rule == "ban-drop-column" and "${tbl}" in f.message for f in findings)


def test_text_without_placeholders_is_untouched() -> None:
    assert mask_templates("SELECT $$ {x} $$;").text == "SELECT $$ {x} $$;"
