"""Accuracy classes of issue 12 that live in the rules: lock knowledge, one finding per action,
noise, ec's own migration files, exact squawk ids."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from expandcontract.lint.registry import all_rules
from tests.lint.helpers import ec_file_rules, lint, rules


def messages(sql: str, rule: str, **kwargs: Any) -> list[str]:
    return [f.message for f in lint(sql, **kwargs) if f.rule == rule]


# -- lock knowledge ------------------------------------------------------------------------


def test_drop_index_waits_for_an_access_exclusive_lock_on_its_table() -> None:
    (message,) = messages("DROP INDEX users_email_idx;", "require-lock-timeout")
    assert "ACCESS EXCLUSIVE lock on the table of index users_email_idx" in message
    assert "require-statement-timeout" in rules("DROP INDEX users_email_idx;")


def test_drop_index_concurrently_or_of_a_new_table_needs_no_lock_timeout() -> None:
    assert "require-lock-timeout" not in rules("DROP INDEX CONCURRENTLY users_email_idx;")
    new = "CREATE TABLE t (id bigint);\nCREATE INDEX t_id ON t (id);\nDROP INDEX t_id;\n"
    assert "require-lock-timeout" not in rules(new)


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE orders (id bigint, user_id bigint REFERENCES users (id));",
        "CREATE TABLE orders (id bigint, user_id bigint, FOREIGN KEY (user_id) REFERENCES users);",
        "CREATE TABLE orders (id bigint, user_id bigint,\n"
        "  CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id));",
    ],
    ids=["inline", "table-level", "named"],
)
def test_a_new_tables_foreign_key_locks_the_referenced_table(sql: str) -> None:
    (message,) = messages(sql, "require-lock-timeout")
    assert "SHARE ROW EXCLUSIVE lock on users" in message and "foreign key" in message
    assert "require-statement-timeout" in rules(sql)


def test_a_foreign_key_to_a_table_of_the_same_file_or_itself_locks_nothing_busy() -> None:
    sql = (
        "CREATE TABLE teams (id bigint PRIMARY KEY);\n"
        "CREATE TABLE members (id bigint PRIMARY KEY, team_id bigint REFERENCES teams (id),\n"
        "  mentor_id bigint REFERENCES members (id));\n"
    )
    assert "require-lock-timeout" not in rules(sql)


def test_create_or_replace_view_locks_the_view_but_create_view_does_not() -> None:
    (message,) = messages("CREATE OR REPLACE VIEW active AS SELECT 1;", "require-lock-timeout")
    assert "ACCESS EXCLUSIVE lock on active" in message
    assert "require-lock-timeout" not in rules("CREATE VIEW active AS SELECT 1;")


def test_add_column_unique_builds_a_unique_index_under_the_lock() -> None:
    (message,) = messages(
        "ALTER TABLE users ADD COLUMN handle text UNIQUE;", "disallowed-unique-constraint"
    )
    assert message.startswith("ADD COLUMN handle … UNIQUE builds a unique index")
    assert "ACCESS EXCLUSIVE" in message
    new = "CREATE TABLE t (id bigint);\nALTER TABLE t ADD COLUMN handle text UNIQUE;\n"
    assert "disallowed-unique-constraint" not in rules(new)


def test_add_column_primary_key_is_adding_a_primary_key() -> None:
    sql = "ALTER TABLE users ADD COLUMN uid bigint PRIMARY KEY;"
    (message,) = messages(sql, "adding-primary-key")
    assert "PRIMARY KEY builds a unique index over every existing row" in message


def test_renaming_a_function_breaks_its_callers_and_locks_no_table() -> None:
    found = lint("ALTER FUNCTION price(int) RENAME TO price_v1;")
    assert [f.rule for f in found] == ["renaming-object"]
    assert "renaming function price to price_v1: every call by the old name fails" in (
        found[0].message
    )


# -- one finding per action ----------------------------------------------------------------


def test_every_dropped_column_is_its_own_finding() -> None:
    columns = [f"c{i}" for i in range(30)]
    sql = "ALTER TABLE users\n" + ",\n".join(f"  DROP COLUMN {c}" for c in columns) + ";\n"
    found = messages(sql, "ban-drop-column")
    assert [m.split()[2] for m in found] == [f"users.{c}" for c in columns]


def test_prefer_robust_stmts_names_the_action() -> None:
    (message,) = messages("ALTER TABLE users DROP COLUMN legacy;", "prefer-robust-stmts")
    assert message.startswith("DROP COLUMN users.legacy without IF EXISTS")
    (message,) = messages("DROP TRIGGER audit ON users;", "prefer-robust-stmts")
    assert message.startswith("DROP TRIGGER audit ON users without IF EXISTS")


# -- noise -----------------------------------------------------------------------------------

AFTER = "statements-after-access-exclusive"


def test_statements_after_access_exclusive_is_reported_once_per_transaction() -> None:
    sql = (
        "BEGIN;\n"  # 1
        "ALTER TABLE users ALTER COLUMN age TYPE bigint;\n"  # 2: takes ACCESS EXCLUSIVE
        "COMMENT ON COLUMN users.age IS 'years';\n"  # 3: catalog only
        "GRANT SELECT ON users TO reporting;\n"  # 4: catalog only
        "CREATE INDEX users_age ON users (age);\n"  # 5: a scan under the lock
        "UPDATE users SET age = 0 WHERE age IS NULL;\n"  # 6
        "CREATE VIEW adults AS SELECT * FROM users WHERE age >= 18;\n"  # 7: catalog only
        "UPDATE orders SET total = 0 WHERE total IS NULL;\n"  # 8
        "COMMIT;\n"
        "BEGIN;\n"
        "ALTER TABLE orders RENAME TO purchases;\n"  # 11
        "SELECT count(*) FROM purchases;\n"  # 12
        "COMMIT;\n"
    )
    found = [f for f in lint(sql) if f.rule == AFTER]
    assert [f.line for f in found] == [5, 12]
    assert found[0].message.startswith("this statement and 2 more after it run while")
    assert "`ALTER TABLE users ALTER COLUMN age TYPE bigint`" in found[0].message
    assert found[1].message.startswith("this statement runs while")
    assert "`ALTER TABLE orders RENAME TO purchases`" in found[1].message


def test_catalog_only_statements_do_not_lengthen_the_hold() -> None:
    sql = (
        "BEGIN;\n"
        "ALTER TABLE users ADD COLUMN note text;\n"
        "ALTER TABLE users ADD COLUMN flag boolean DEFAULT false;\n"  # catalog-only on PG 11+
        "COMMENT ON COLUMN users.note IS 'free text';\n"
        "GRANT SELECT ON users TO reporting;\n"
        "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';\n"
        "CREATE VIEW notes AS SELECT note FROM users;\n"
        "SET search_path = app;\n"
        "CREATE TABLE notes_log (id bigint, user_id bigint REFERENCES users (id));\n"
        "CREATE INDEX notes_log_user ON notes_log (user_id);\n"
        "COMMIT;\n"
    )
    assert AFTER not in rules(sql)
    assert AFTER in rules(sql.replace("DEFAULT false", "DEFAULT false UNIQUE"))
    assert AFTER in rules(sql.replace("REFERENCES users", "REFERENCES orgs"))


def test_statements_after_access_exclusive_honours_ec_ignore_on_the_reported_statement() -> None:
    sql = (
        "BEGIN;\nALTER TABLE users ALTER COLUMN age TYPE bigint;\n"
        f"-- ec:ignore {AFTER}\nUPDATE users SET age = 0 WHERE age IS NULL;\nCOMMIT;\n"
    )
    assert AFTER not in rules(sql)


ENUM = "enum-add-value-in-transaction"


def test_a_new_enum_value_only_matters_when_used_in_the_same_transaction() -> None:
    added = "BEGIN;\nALTER TYPE mood ADD VALUE 'meh' AFTER 'ok';\n"
    assert ENUM not in rules(added + "COMMIT;\n")
    assert ENUM not in rules(added + "UPDATE people SET note = 'meh?';\nCOMMIT;\n")
    used = added + "UPDATE people SET mood = 'meh' WHERE mood IS NULL;\nCOMMIT;\n"
    (finding,) = [f for f in lint(used) if f.rule == ENUM]
    assert finding.line == 3
    assert finding.message.startswith("uses 'meh', added to mood earlier in the same transaction")
    assert ENUM not in rules(added + "COMMIT;\nUPDATE people SET mood = 'meh';\n")


def test_before_postgresql_12_any_add_value_in_a_transaction_is_reported() -> None:
    (message,) = messages("BEGIN;\nALTER TYPE mood ADD VALUE 'meh';\nCOMMIT;\n", ENUM, pg=11)
    assert "cannot run inside a transaction block before PostgreSQL 12" in message


def test_a_value_with_a_quote_is_matched_as_written_in_sql() -> None:
    sql = "BEGIN;\nALTER TYPE mood ADD VALUE 'it''s ok';\nINSERT INTO p VALUES ('it''s ok');\n"
    assert ENUM in rules(sql)


def test_postgresql_refuses_only_the_use_of_a_value_added_in_the_same_transaction(
    ec_conn: psycopg.Connection[Any],
) -> None:
    # what the rule relies on, on the server the tests run on (PostgreSQL 12+)
    ec_conn.autocommit = True
    ec_conn.execute("CREATE TYPE accuracy_mood AS ENUM ('ok')")
    ec_conn.execute("CREATE TABLE accuracy_people (mood accuracy_mood)")
    with ec_conn.transaction():  # added, not used: commits
        ec_conn.execute("ALTER TYPE accuracy_mood ADD VALUE 'meh' AFTER 'ok'")
    with pytest.raises(psycopg.errors.UnsafeNewEnumValueUsage), ec_conn.transaction():
        ec_conn.execute("ALTER TYPE accuracy_mood ADD VALUE 'bad' AFTER 'meh'")
        ec_conn.execute("INSERT INTO accuracy_people VALUES ('bad')")
    ec_conn.execute("INSERT INTO accuracy_people VALUES ('meh')")  # after COMMIT: usable


def test_drop_trigger_is_worded_as_a_behaviour_change() -> None:
    (message,) = messages("DROP TRIGGER audit ON users;", "ban-drop-object")
    assert message.startswith("DROP TRIGGER audit ON users: a behaviour change, not a breakage")
    (message,) = messages("DROP VIEW active_users;", "ban-drop-object")
    assert message == "DROP VIEW active_users: clients and stored code that use it break"


# -- ec's own migration files --------------------------------------------------------------

NOT_VALID_PATTERN = """\
operations:
  - sql:
      up: ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id)
        REFERENCES users (id) NOT VALID;
      down: ALTER TABLE orders DROP CONSTRAINT orders_user_fk;
  - sql:
      up: ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;
      on: contract
  - sql:
      up: ALTER TABLE users ADD CONSTRAINT users_age_chk CHECK (age >= 0) NOT VALID;
      down: ALTER TABLE users DROP CONSTRAINT users_age_chk;
  - sql:
      up: ALTER TABLE users VALIDATE CONSTRAINT users_age_chk;
      on: contract
"""


def test_the_not_valid_then_validate_pattern_in_an_ec_migration_is_clean() -> None:
    assert ec_file_rules(NOT_VALID_PATTERN) == set()


def test_ec_sql_operations_get_the_runners_timeouts_and_transaction() -> None:
    text = (
        "operations:\n"
        "  - sql:\n"
        "      up: |\n"
        "        ALTER TABLE users ADD COLUMN note text;\n"
        "        UPDATE users SET note = '' WHERE note IS NULL;\n"
    )
    found = ec_file_rules(text)
    assert not found & {"require-lock-timeout", "require-statement-timeout"}
    # the runner runs the text in one transaction: the UPDATE holds the ALTER's lock
    assert {"backfill-in-ddl-transaction", AFTER} <= found
    assert "prefer-robust-stmts" not in found


def test_an_ec_sql_operation_with_concurrently_runs_in_autocommit() -> None:
    from expandcontract.lint.settings import LintSettings
    from expandcontract.lint.sources import lint_ec_file

    text = (
        "operations:\n"
        "  - sql:\n"
        "      up: CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n"
        "      down: DROP INDEX CONCURRENTLY users_email_idx;\n"
    )
    report = lint_ec_file("0001_index.yaml", LintSettings(), content=text.encode())
    found = {(f.rule, f.line, f.column) for f in report.findings}
    # autocommit: a re-run after a failed build meets the INVALID index it left
    assert found == {("prefer-robust-stmts", 3, 1), ("prefer-robust-stmts", 4, 1)}
    assert "concurrently-in-transaction" not in {f.rule for f in report.findings}


def test_the_down_of_a_contract_sql_operation_never_runs_and_is_not_linted() -> None:
    text = (
        "operations:\n"
        "  - sql:\n"
        "      up: SELECT 1;\n"
        "      down: DROP TABLE users;\n"
        "      on: contract\n"
    )
    assert ec_file_rules(text) == set()
    # on: expand, the same down runs at rollback (and is linted as rollback: no compat rules)
    expand = ec_file_rules(text.replace("on: contract", "on: expand"))
    assert "require-lock-timeout" not in expand and "ban-drop-table" not in expand
    up_drops = text.replace("on: contract", "on: expand").replace("SELECT 1;", "DROP TABLE users;")
    assert "ban-drop-table" in ec_file_rules(up_drops)


def test_fix_texts_say_what_ec_really_does() -> None:
    by_id = {r.id: r for r in all_rules()}
    unique = by_id["disallowed-unique-constraint"].suggestion
    assert "attached in contract" not in unique and "create_constraint" in unique
    assert "create_constraint" in by_id["adding-primary-key"].suggestion
    assert (
        "primary keys and identity columns included" in by_id["prefer-bigint-over-int"].suggestion
    )


# -- squawk ids ------------------------------------------------------------------------------

# squawk 2.70's rule ids, as `squawk --reporter json` names them (its binary's rule table);
# tests/lint/test_squawk_compare.py checks the list against the installed squawk.
_SQUAWK_RULES = """
require-concurrent-index-creation require-concurrent-index-deletion constraint-missing-not-valid
adding-field-with-default adding-foreign-key-constraint changing-column-type
adding-not-nullable-field adding-serial-primary-key-field renaming-column renaming-table
disallowed-unique-constraint ban-drop-database prefer-bigint-over-int prefer-bigint-over-smallint
prefer-identity prefer-repack prefer-robust-stmts prefer-text-field prefer-timestamp-tz
ban-char-field ban-drop-column ban-drop-table ban-drop-not-null transaction-nesting
adding-required-field ban-concurrent-index-creation-in-transaction unused-ignore
ban-create-domain-with-constraint ban-alter-domain-with-add-constraint ban-truncate-cascade
require-timeout-settings ban-uncommitted-transaction require-enum-value-ordering
require-table-schema identifier-too-long require-concurrent-partition-detach
require-concurrent-reindex require-lock-timeout require-statement-timeout ban-drop-view
ban-drop-function ban-drop-type ban-drop-schema ban-drop-sequence ban-drop-domain
ban-drop-constraint ban-drop-generated-expression renaming-object ban-set-schema
ban-alter-identity ban-drop-extension ban-alter-generated-expression ban-drop-index
ban-set-default ban-disable-trigger ban-replica-identity ban-drop-policy ban-revoke
ban-replace-view-function ban-alter-policy-condition ban-alter-policy-roles ban-create-policy
ban-alter-function-options ban-alter-view-options ban-alter-role-options
ban-alter-database-options ban-alter-row-level-security ban-new-write-restriction
ban-add-enum-value ban-add-composite-attribute ban-add-column ban-detach-inheritance
ban-alter-sequence-values ban-alter-system-options ban-alter-extension
ban-duplicate-column-assignments ban-drop-trigger ban-drop-default syntax-error
"""
SQUAWK_RULES = frozenset(_SQUAWK_RULES.split())


def test_every_squawk_equivalent_is_a_squawk_rule_id() -> None:
    named = {(r.id, s) for r in all_rules() for s in r.equivalents.get("squawk", [])}
    assert {(rule, s) for rule, s in named if s not in SQUAWK_RULES} == set()


def test_add_column_serial_maps_to_squawks_rewrite_rule() -> None:
    (rule,) = [r for r in all_rules() if r.id == "add-column-serial"]
    assert rule.equivalents["squawk"] == ["adding-field-with-default"]
