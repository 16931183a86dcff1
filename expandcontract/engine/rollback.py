"""Rollback, computed from the new version's logical state (the counterpart of contract.py).

Order, so that the old version reads and writes at every instant between two steps (a killed
`ec rollback` leaves a working database and is simply run again):

1. the new version's schema goes first: rollback retires the new version;
2. per table, ONE transaction drops the dual-write trigger together with every column expand
   added (twins, added columns, the pending marker) - their NOT VALID checks, copied
   constraints and indexes go with them. Dropping the trigger alone would leave a NOT NULL
   check on a column nobody fills any more, failing every old-version insert;
3. then each operation's own undo (indexes CONCURRENTLY, created tables, raw sql `down`).
"""

from __future__ import annotations

from psycopg import sql

from expandcontract.engine.triggers import drop_trigger_statements
from expandcontract.operations.base import CATALOG, PlannedStep
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.state import PENDING


def expand_columns(ctx: PhaseContext) -> dict[str, list[str]]:
    """Physical columns expand adds to existing tables, per physical table."""
    out: dict[str, list[str]] = {}
    for table in ctx.state.tables.values():
        if table.origin == "created":
            continue
        added = [c.physical for c in table.columns.values() if c.origin in ("added", "duplicated")]
        if table.needs_backfill:
            added.append(PENDING)
        if added:
            out[table.physical] = added
    return out


def retire_steps(ctx: PhaseContext, trigger_tables: set[str]) -> list[PlannedStep]:
    """Per table: drop the dual-write trigger and expand's columns at once."""
    columns = expand_columns(ctx)
    steps: list[PlannedStep] = []
    for table in sorted(set(columns) | set(trigger_tables)):
        statements: list[sql.SQL | sql.Composed] = []
        if table in trigger_tables:
            statements += drop_trigger_statements(ctx, table)
        if columns.get(table):
            statements.append(
                sql.SQL("ALTER TABLE {} {}").format(
                    ctx.table_ref(table),
                    sql.SQL(", ").join(
                        sql.SQL("DROP COLUMN IF EXISTS {}").format(sql.Identifier(c))
                        for c in columns[table]
                    ),
                )
            )
        what = ["dual-write trigger"] if table in trigger_tables else []
        what += [f"columns {', '.join(columns[table])}"] if columns.get(table) else []
        steps.append(
            PlannedStep(
                f"retire:{table}",
                f"drop {' and '.join(what)} of {table} in one transaction",
                tuple(statements),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        )
    return steps
