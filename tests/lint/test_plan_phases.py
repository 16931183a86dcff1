"""How the linter reads ec's own plan pattern: `ec plan --format sql` section markers as phases,
drop-and-recreate in one transaction as a replacement, and catalog-only follow-ups while an
ACCESS EXCLUSIVE lock is already held."""

from __future__ import annotations

import pytest

from expandcontract.lint.engine import lint_sql
from tests.lint.helpers import rules

DROP = 'BEGIN;\nALTER TABLE "public"."users" DROP COLUMN IF EXISTS "legacy";\nCOMMIT;\n'


@pytest.mark.parametrize("section", ["contract", "rollback"])
def test_drops_are_expected_in_contract_and_rollback_sections(section: str) -> None:
    assert "ban-drop-column" not in rules(f"-- ==== {section} ====\n{DROP}")


def test_drop_in_expand_section_is_an_error() -> None:
    found = rules(f"-- ==== expand ====\n{DROP}")
    assert {"ban-drop-column", "expand-phase-destructive"} <= found


def test_without_a_marker_a_drop_is_reported() -> None:
    assert "ban-drop-column" in rules(DROP)


def test_the_section_in_force_is_the_last_marker_before_the_statement() -> None:
    sql = f"-- ==== contract ====\n{DROP}\n-- ==== expand ====\n{DROP}"
    lines = {(f.rule, f.line) for f in lint_sql(sql, "p.sql").findings}
    assert ("ban-drop-column", 3) not in lines
    assert ("ban-drop-column", 8) in lines and ("expand-phase-destructive", 8) in lines


def test_unknown_section_names_and_similar_comments_change_nothing() -> None:
    assert "ban-drop-column" in rules(f"-- ==== notes ====\n{DROP}")
    assert "ban-drop-column" in rules(f"-- contract\n{DROP}")
    assert "ban-drop-column" in rules(f"SELECT 1; -- ==== contract ====\n{DROP}")


def test_lock_rules_still_apply_in_contract_sections() -> None:
    sql = "-- ==== contract ====\nDROP INDEX users_email_idx;\n"
    assert "require-concurrent-index-deletion" in rules(sql)


def test_sections_do_not_change_the_files_own_phase() -> None:
    report = lint_sql(f"-- ==== expand ====\nSELECT 1;\n-- ==== contract ====\n{DROP}", "p.sql")
    assert report.phase == ""
    tagged = lint_sql(f"-- ec:phase contract\n-- ==== rollback ====\n{DROP}", "p.sql")
    assert tagged.phase == "contract"


TRIGGER = (
    'DROP TRIGGER IF EXISTS "_ec_dual_write" ON "public"."users";\n'
    'CREATE TRIGGER "{name}" BEFORE INSERT OR UPDATE ON "public"."users" FOR EACH ROW '
    'EXECUTE FUNCTION "public"."_ec_dw_users"();\n'
)


def test_drop_and_recreate_in_one_transaction_is_a_replacement() -> None:
    sql = "BEGIN;\n" + TRIGGER.format(name="_ec_dual_write") + "COMMIT;\n"
    assert "ban-drop-object" not in rules(sql)
    assert "expand-phase-destructive" not in rules("-- ==== expand ====\n" + sql)
    assert "ban-drop-object" not in rules(TRIGGER.format(name="_ec_dual_write"), tx=True)


def test_drop_and_recreate_in_autocommit_leaves_a_gap() -> None:
    assert "ban-drop-object" in rules(TRIGGER.format(name="_ec_dual_write"))


def test_recreating_another_name_is_no_replacement() -> None:
    sql = "BEGIN;\n" + TRIGGER.format(name="other") + "COMMIT;\n"
    assert "ban-drop-object" in rules(sql)
    assert "expand-phase-destructive" in rules("-- ==== expand ====\n" + sql)


def test_a_creation_in_a_later_transaction_is_no_replacement() -> None:
    drop, create = TRIGGER.format(name="_ec_dual_write").splitlines()
    sql = f"BEGIN;\n{drop}\nCOMMIT;\nBEGIN;\n{create}\nCOMMIT;\n"
    assert "ban-drop-object" in rules(sql)


def test_replacing_a_function_in_one_transaction() -> None:
    sql = (
        "BEGIN;\nDROP FUNCTION IF EXISTS touch();\nCREATE FUNCTION touch() RETURNS int "
        "LANGUAGE sql AS 'SELECT 1';\nCOMMIT;\n"
    )
    assert "ban-drop-object" not in rules(sql)


AFTER = "statements-after-access-exclusive"
RENAMES = (
    'BEGIN;\nALTER TABLE users RENAME COLUMN "email" TO "_ec_swap_0";\n'
    'ALTER TABLE users RENAME COLUMN "_ec_swap_0" TO "email_address";\nCOMMIT;\n'
)


def test_catalog_only_follow_ups_on_the_locked_table_do_not_extend_the_outage() -> None:
    assert AFTER not in rules(RENAMES)
    sql = (
        "BEGIN;\nALTER TABLE users ADD COLUMN token uuid;\n"
        "ALTER TABLE users ALTER COLUMN token SET DEFAULT gen_random_uuid();\nCOMMIT;\n"
    )
    assert AFTER not in rules(sql)


def test_work_after_the_lock_is_still_reported() -> None:
    update = RENAMES.replace("COMMIT;", "UPDATE users SET note = 'x' WHERE id < 10;\nCOMMIT;")
    assert AFTER in rules(update)
    other_table = RENAMES.replace("COMMIT;", "ALTER TABLE orders RENAME COLUMN a TO b;\nCOMMIT;")
    assert AFTER in rules(other_table)


CHECKED = (
    "ALTER TABLE users ADD CONSTRAINT nn CHECK (status IS NOT NULL) NOT VALID;\n"
    "ALTER TABLE users VALIDATE CONSTRAINT nn;\n"
)


def test_proved_set_not_null_and_dropping_its_check_are_catalog_only() -> None:
    sql = (
        f"{CHECKED}BEGIN;\nALTER TABLE users ALTER COLUMN status SET NOT NULL;\n"
        "ALTER TABLE users DROP CONSTRAINT nn;\nCOMMIT;\n"
    )
    assert AFTER not in rules(sql, pg=15)


def test_unproved_set_not_null_scans_while_the_lock_is_held() -> None:
    sql = (
        "BEGIN;\nALTER TABLE users RENAME COLUMN a TO b;\n"
        "ALTER TABLE users ALTER COLUMN status SET NOT NULL;\nCOMMIT;\n"
    )
    assert AFTER in rules(sql)
    proved_too_old = (
        f"{CHECKED}BEGIN;\nALTER TABLE users RENAME COLUMN a TO b;\n"
        "ALTER TABLE users ALTER COLUMN status SET NOT NULL;\nCOMMIT;\n"
    )
    assert AFTER in rules(proved_too_old, pg=11)


def test_dropping_a_constraint_of_unknown_kind_is_still_reported() -> None:
    sql = (
        "BEGIN;\nALTER TABLE users RENAME COLUMN a TO b;\n"
        "ALTER TABLE users DROP CONSTRAINT users_org_fk;\nCOMMIT;\n"
    )
    assert AFTER in rules(sql)


def test_drop_trigger_takes_access_exclusive_on_its_table() -> None:
    # measured on PG 18: DROP TRIGGER locks the table ACCESS EXCLUSIVE (CREATE TRIGGER: SRE)
    (finding,) = [
        f
        for f in lint_sql("DROP TRIGGER audit ON users;\n", "t.sql").findings
        if f.rule == "require-lock-timeout"
    ]
    assert "ACCESS EXCLUSIVE" in finding.message and "users" in finding.message
    messages = [f.message for f in lint_sql("DROP TRIGGER audit ON users;\n", "t.sql").findings]
    assert any(
        m.startswith("DROP TRIGGER audit ON users: a behaviour change, not a breakage")
        for m in messages
    )


def test_drop_trigger_of_a_table_created_in_the_file_is_fine() -> None:
    sql = "CREATE TABLE t (id bigint);\nDROP TRIGGER audit ON t;\n"
    assert "ban-drop-object" not in rules(sql)


def test_work_after_drop_trigger_is_reported() -> None:
    sql = (
        "BEGIN;\nDROP TRIGGER audit ON users;\n"
        "UPDATE users SET note = 'x' WHERE id < 10;\nCOMMIT;\n"
    )
    assert AFTER in rules(sql)


def test_function_changes_after_the_lock_lock_no_relation() -> None:
    drop = "BEGIN;\nDROP TRIGGER audit ON users;\nDROP FUNCTION IF EXISTS audit_fn(){};\nCOMMIT;\n"
    assert AFTER not in rules(drop.format(""))
    assert AFTER in rules(drop.format(" CASCADE"))  # may drop triggers on other tables
