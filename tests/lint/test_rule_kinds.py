"""A rule's ``kinds`` is a promise the engine relies on (it calls the rule for those op kinds
only): prove that no rule reports on an op of another kind, whatever the op's other fields."""

from __future__ import annotations

import itertools

import pytest

from expandcontract.lint.context import Context
from expandcontract.lint.ir import ALL_KINDS, ColumnSpec, Kind, Op, Statement
from expandcontract.lint.registry import all_rules, rule_dispatch
from expandcontract.lint.settings import LintSettings

# every field set, and a name longer than any identifier limit
_COLUMN = ColumnSpec(
    "c" * 70, "char(1)", not_null=True, default="RANDOM()", volatile_default=True,
    generated_stored=True, identity=True, primary_key=True, references="users",
)  # fmt: skip
_DETAILS = [
    {},
    {"type": "foreign_key", "ref_table": "users", "full": "yes", "check": "yes", "object": "TABLE",
     "action": "ADD GENERATED", "select": "yes", "duplicate_assignments": "a", "new_type": "json"},
    {"type": "unique", "object": "SCHEMA", "mode": "ACCESS EXCLUSIVE", "value": "0"},
    {"type": "primary_key", "object": "DATABASE"},
    {"type": "exclude", "object": "INDEX"},
    {"type": "check", "not_null_column": "c"},
]  # fmt: skip


def _ops(kind: Kind) -> list[Op]:
    ops = []
    for detail, flags, column in itertools.product(_DETAILS, (False, True), (None, _COLUMN)):
        flag_fields = dict.fromkeys(
            ("concurrently", "if_exists", "not_valid", "cascade", "unique", "has_where"), flags
        )
        ops.append(
            Op(
                kind,
                "users",
                "a" * 70,
                column=column,
                detail=dict(detail),
                columns=(_COLUMN,),
                **flag_fields,
            )
        )
    return ops


def _contexts() -> list[Context]:
    out = []
    for phase, assume, depth in itertools.product(("", "expand", "contract"), (0, 1), (0, 1)):
        ctx = Context(LintSettings(pg_version=11), bool(assume), phase=phase)
        ctx.depth = depth
        out.append(ctx)
    return out


@pytest.mark.parametrize("rule", [r for r in all_rules() if r.kinds], ids=lambda r: r.id)
def test_rule_reports_only_on_its_kinds(rule: object) -> None:
    stmt = Statement("x", 1, 1)
    for kind in set(ALL_KINDS) - rule.kinds:  # type: ignore[attr-defined]
        for op, ctx in itertools.product(_ops(kind), _contexts()):
            assert rule.check(op, stmt, ctx) is None, (kind, op)  # type: ignore[attr-defined]


def test_every_rule_still_reachable_for_its_kinds() -> None:
    live, gone = rule_dispatch(LintSettings(select=frozenset({"ALL"})))
    for rule in all_rules():
        for kind in rule.kinds or set(ALL_KINDS):
            assert rule in live[kind]
            assert (rule in gone[kind]) == ("compat" not in rule.tags)
