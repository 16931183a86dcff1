from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing, locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.ADD_CONSTRAINT and op.detail.get("type") == "exclude" and existing(op, ctx):
        return f"ADD EXCLUDE constraint builds its index and checks every row while it {locks(op)}"
    return None


RULE = Rule(
    id="exclusion-constraint",
    severity="error",
    summary="ADD CONSTRAINT … EXCLUDE on an existing table",
    why="Exclusion constraints have no NOT VALID or USING INDEX form: the index build and check "
    "run under ACCESS EXCLUSIVE.",
    suggestion="Create a new table with the constraint (ec create_table with `constraints:`, "
    "e.g. `create_table: {name: bookings2, columns: [{name: room, type: int}, {name: during, "
    "type: tstzrange}], constraints: [{type: exclude, name: no_overlap, method: gist, "
    'elements: [{column: during, with: "&&"}]}]}`) and copy the rows (ec backfill), or run '
    "it in a maintenance window.",
    equivalents={
        "strong_migrations": ["add_exclusion_constraint"],
        "atlas": ["PG109"],
        "eugene": ["E8"],
    },
    check=check,
    kinds=frozenset({K.ADD_CONSTRAINT}),
    bad="ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =);",
    good="CREATE TABLE bookings2 (room int, EXCLUDE USING gist (room WITH =));",
)
