"""Contract, computed from the final logical state: after the per-operation steps (VALIDATE,
SET NOT NULL), physical columns and tables are reconciled with the new version's names.

Order matters: the trigger turns strict and pending rows are converted first (the engine does
the converting, engine/api.py), then
VALIDATE / SET NOT NULL, then the old version's schema (its views depend on columns about to
be dropped), then per table the swap, then what needs the final names.
"""

from __future__ import annotations

from psycopg import sql

from expandcontract.engine.triggers import drop_trigger_statements
from expandcontract.operations.base import CATALOG, PlannedStep, SwapWork
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.state import PENDING, PREFIX


def reconcile_columns(
    ctx: PhaseContext, trigger_tables: set[str], work: list[SwapWork] | None = None
) -> list[PlannedStep]:
    """Per table, one transaction: drop the dual-write trigger, drop what the new version does
    not use, then rename (two hops through temporary names, so swaps such as a->b, b->a never
    collide). One transaction, after every slow VALIDATE: until the swap commits, the trigger
    keeps old-version writes flowing into the new columns, and nobody sees the table half-way.
    No row is pending any more: the engine converted them after the trigger became strict.
    Operations' ``work`` for a table (a primary key or identity moving to the twin) runs in
    the same transaction, before the drop and after the renames.
    """
    before: dict[str, list[sql.SQL | sql.Composed]] = {}
    after: dict[str, list[sql.SQL | sql.Composed]] = {}
    moved: dict[str, list[str]] = {}
    for item in work or []:
        before.setdefault(item.table, []).extend(item.before)
        after.setdefault(item.table, []).extend(item.after)
        moved.setdefault(item.table, []).extend([item.description] if item.description else [])
    steps: list[PlannedStep] = []
    done: set[str] = set()
    # Tables whose key moves go first: a referencing table's swap comes after its parent's.
    tables = sorted(ctx.state.tables.values(), key=lambda t: t.physical not in moved)
    for table in tables:
        if table.origin == "created":
            continue
        physical = ctx.physical.tables[table.physical]
        kept = {c.physical for c in table.columns.values()}
        drop = [c for c in physical.columns if c not in kept]
        if table.needs_backfill:
            drop.append(PENDING)
        renames = [(c.physical, c.name) for c in table.columns.values() if c.physical != c.name]
        if not drop and not renames and table.physical not in moved:
            continue
        ref = ctx.table_ref(table.physical)
        statements: list[sql.SQL | sql.Composed] = list(before.get(table.physical, []))
        if table.physical in trigger_tables:
            statements += drop_trigger_statements(ctx, table.physical)
            done.add(table.physical)
        if drop:
            statements.append(
                sql.SQL("ALTER TABLE {} {}").format(
                    ref,
                    sql.SQL(", ").join(
                        sql.SQL("DROP COLUMN IF EXISTS {}").format(sql.Identifier(c)) for c in drop
                    ),
                )
            )
        for i, (src, _) in enumerate(renames):
            statements.append(
                sql.SQL("ALTER TABLE {} RENAME COLUMN {} TO {}").format(
                    ref, sql.Identifier(src), sql.Identifier(f"{PREFIX}swap_{i}")
                )
            )
        for i, (_, dst) in enumerate(renames):
            statements.append(
                sql.SQL("ALTER TABLE {} RENAME COLUMN {} TO {}").format(
                    ref, sql.Identifier(f"{PREFIX}swap_{i}"), sql.Identifier(dst)
                )
            )
        statements += after.get(table.physical, [])
        what = [f"drop {', '.join(drop)}"] if drop else []
        what += [", ".join(f"{a} -> {b}" for a, b in renames)] if renames else []
        what += moved.get(table.physical, [])
        steps.append(
            PlannedStep(
                f"columns:{table.physical}",
                f"columns of {table.physical}: " + "; ".join(what),
                tuple(statements),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        )
    for name in sorted(set(trigger_tables) - done):
        steps.append(
            PlannedStep(
                f"drop-trigger:{name}",
                f"drop dual-write trigger on {name}",
                tuple(drop_trigger_statements(ctx, name)),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        )
    return steps


def reconcile_tables(ctx: PhaseContext) -> list[PlannedStep]:
    """After each operation's after-swap steps (which still use physical table names): drop
    dropped tables, then rename renamed ones."""
    steps: list[PlannedStep] = []
    for name in sorted(ctx.state.dropped_tables):
        steps.append(
            PlannedStep(
                f"table:{name}:drop",
                f"drop table {name}",
                (sql.SQL("DROP TABLE IF EXISTS {}").format(ctx.table_ref(name)),),
                "ACCESS EXCLUSIVE",
                CATALOG,
            )
        )
    for table in ctx.state.tables.values():
        if table.physical != table.name:
            steps.append(
                PlannedStep(
                    f"table:{table.physical}:rename",
                    f"rename table {table.physical} -> {table.name}",
                    (
                        sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                            ctx.table_ref(table.physical), sql.Identifier(table.name)
                        ),
                    ),
                    "ACCESS EXCLUSIVE",
                    CATALOG,
                )
            )
    return steps
