from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._size import graded
from expandcontract.lint.rules._util import existing
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.ADD_CONSTRAINT and op.detail.get("type") == "foreign_key":
        if op.not_valid or not existing(op, ctx):
            return None
        ref = op.detail.get("ref_table") or "the referenced table"
        return graded(
            f"ADD FOREIGN KEY without NOT VALID takes SHARE ROW EXCLUSIVE locks on {op.table} "
            f"and {ref} (blocks writes to both) while it checks every row",
            op,
            ctx,
            "the check",
        )
    if op.kind == K.ADD_COLUMN and op.column and op.column.references and existing(op, ctx):
        return graded(
            f"ADD COLUMN {op.column.name} REFERENCES {op.column.references} locks both tables"
            " (SHARE ROW EXCLUSIVE on the referenced one: blocks its writes)",
            op,
            ctx,
            "the check",
        )
    return None


RULE = Rule(
    id="foreign-key-missing-not-valid",
    severity="error",
    summary="ADD FOREIGN KEY (or ADD COLUMN … REFERENCES) without NOT VALID",
    why="Validating a new foreign key scans the table while holding SHARE ROW EXCLUSIVE on both "
    "tables: writes to both wait.",
    suggestion="Use ec operation create_constraint with type: foreign_key: it adds the key NOT "
    "VALID at expand and validates it at contract, e.g. `create_constraint: {table: orders, "
    "name: orders_user_fk, type: foreign_key, columns: [user_id], references: {table: users, "
    "columns: [id]}}` (one column: alter_column with `references: {name: …, table: …, column: "
    "…}`). By hand: ADD CONSTRAINT … FOREIGN KEY … NOT VALID, then VALIDATE CONSTRAINT in a "
    "separate transaction.",
    equivalents={
        "squawk": ["adding-foreign-key-constraint", "constraint-missing-not-valid"],
        "strong_migrations": ["add_foreign_key", "add_reference"],
        "atlas": ["PG306"],
        "eugene": ["E1"],
    },
    check=check,
    kinds=frozenset({K.ADD_CONSTRAINT, K.ADD_COLUMN}),
    bad="ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) "
    "REFERENCES users (id);",
    good="ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) "
    "REFERENCES users (id) NOT VALID;",
)
