"""The rule set covers every default-on squawk rule and the PostgreSQL safety checks of
strong_migrations (lint_catalog.md), through the rules' ``equivalents``."""

from __future__ import annotations

from expandcontract.lint.registry import all_rules

_SQUAWK_DEFAULT = """
adding-field-with-default adding-foreign-key-constraint adding-not-nullable-field
adding-required-field adding-serial-primary-key-field ban-alter-domain-with-add-constraint
ban-char-field ban-concurrent-index-creation-in-transaction ban-create-domain-with-constraint
ban-drop-column ban-drop-database ban-drop-not-null ban-drop-table
ban-duplicate-column-assignments ban-truncate-cascade ban-uncommitted-transaction
changing-column-type constraint-missing-not-valid disallowed-unique-constraint
identifier-too-long prefer-bigint-over-int prefer-bigint-over-smallint prefer-identity
prefer-repack prefer-robust-stmts prefer-text-field prefer-timestamp-tz renaming-column
renaming-table require-concurrent-index-creation require-concurrent-index-deletion
require-concurrent-partition-detach require-concurrent-reindex require-enum-value-ordering
require-lock-timeout require-statement-timeout transaction-nesting unused-ignore ban-drop-view
ban-drop-function ban-drop-type ban-drop-default ban-drop-schema ban-drop-sequence
ban-drop-domain ban-drop-constraint ban-drop-generated-expression renaming-object
ban-set-schema ban-alter-identity ban-drop-extension
"""
SQUAWK_DEFAULT = _SQUAWK_DEFAULT.split()

# strong_migrations checks about PostgreSQL locks, rewrites, compatibility and transactions
# (Rails-only API checks and MySQL checks left out; see the report for the few not covered)
_STRONG_MIGRATIONS_PG = """
add_column_default add_column_default_callable add_column_json add_column_generated_stored
add_column_auto_incrementing change_column remove_column rename_column rename_enum_value
rename_schema rename_table add_reference add_index remove_index execute change_column_null
change_column_null_postgresql add_foreign_key validate_foreign_key add_check_constraint
validate_check_constraint add_exclusion_constraint add_unique_constraint
"""
STRONG_MIGRATIONS_PG = _STRONG_MIGRATIONS_PG.split()


def covered(tool: str) -> set[str]:
    return {i for r in all_rules() for i in r.equivalents.get(tool, [])}


def test_every_default_squawk_rule_is_covered() -> None:
    assert len(SQUAWK_DEFAULT) == 51
    assert set(SQUAWK_DEFAULT) - covered("squawk") == set()


def test_strong_migrations_postgres_checks_are_covered() -> None:
    assert set(STRONG_MIGRATIONS_PG) - covered("strong_migrations") == set()


def test_rule_ids_are_unique_and_stable_looking() -> None:
    ids = [r.id for r in all_rules()]
    assert len(ids) == len(set(ids))
    assert all(i == i.lower() and " " not in i for i in ids)
