"""The dual-write mechanism, written once: one BEFORE INSERT OR UPDATE trigger per table.

Old-version writes compute the new version's columns through ``up`` (names of the old version);
new-version writes compute the old version's columns through ``down`` (names of the new
version). The per-row marker ``_ec_pending`` says a row has never been computed: the backfill
clears it by touching rows (the trigger does the work), and a new-version update of a pending
row first fills what the new app did not set.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from expandcontract.engine.context import PhaseContext
from expandcontract.engine.selector import is_version
from expandcontract.operations.base import CATALOG, DualWrite, PlannedStep
from expandcontract.operations.expressions import fragment
from expandcontract.operations.state import PENDING, PREFIX, LogicalTable

TRIGGER = "_ec_dual_write"


def function_name(table: str) -> str:
    name = f"{PREFIX}dw_{table}"
    return name if len(name.encode()) <= 63 else name.encode()[:63].decode(errors="ignore")


def _declare(pairs: list[tuple[str, str, str]]) -> sql.Composed:
    """DECLARE "logical" type := NEW."physical"; ... — expressions then read plain names."""
    return sql.SQL(" ").join(
        sql.SQL("{} {} := NEW.{};").format(sql.Identifier(name), fragment(typ), sql.Identifier(col))
        for name, typ, col in pairs
    )


def _assign(write: DualWrite) -> sql.Composed:
    return sql.SQL("NEW.{} := ({});").format(
        sql.Identifier(write.column), fragment(write.expression)
    )


def _block(declare: sql.Composed, body: Sequence[sql.Composable]) -> sql.Composable:
    if not body:
        return sql.SQL("")
    return sql.SQL("DECLARE {} BEGIN {} END;").format(declare, sql.SQL(" ").join(body))


def trigger_steps(
    ctx: PhaseContext, physical_table: str, logical: LogicalTable | None, writes: list[DualWrite]
) -> list[PlannedStep]:
    table = ctx.physical.tables[physical_table]
    old_vars = [
        (c.name, c.type, c.name) for c in table.columns.values() if not c.name.startswith(PREFIX)
    ]
    new_vars = [(c.name, c.type, c.physical) for c in logical.columns.values()] if logical else []
    old_declare, new_declare = _declare(old_vars), _declare(new_vars)
    ups = [w for w in writes if w.direction == "up"]
    downs = [w for w in writes if w.direction == "down"]
    pending = logical is not None and logical.needs_backfill

    # New-version write on a row never computed: fill what the new app left unset.
    fill_for_new = [
        sql.SQL("IF NEW.{c} IS NOT DISTINCT FROM OLD.{c} THEN {a} END IF;").format(
            c=sql.Identifier(w.column), a=_assign(w)
        )
        for w in ups
    ]
    new_side: list[sql.Composable] = []
    if pending and fill_for_new:
        new_side.append(
            sql.SQL("IF TG_OP = 'UPDATE' AND OLD.{} THEN {} END IF;").format(
                sql.Identifier(PENDING), _block(old_declare, fill_for_new)
            )
        )
    down_body: list[sql.Composable] = [
        _assign(w)
        if w.when == "always"
        else sql.SQL("IF TG_OP = 'INSERT' THEN {} END IF;").format(_assign(w))
        for w in downs
    ]
    new_side.append(_block(new_declare, down_body))

    fill_cond = (
        sql.SQL("TG_OP = 'INSERT' OR OLD.{}").format(sql.Identifier(PENDING))
        if pending
        else sql.SQL("TG_OP = 'INSERT'")
    )
    up_body: list[sql.Composable] = [
        _assign(w)
        if w.when == "always"
        else sql.SQL("IF {} THEN {} END IF;").format(fill_cond, _assign(w))
        for w in ups
    ]
    old_side = _block(old_declare, up_body)
    clear = sql.SQL("NEW.{} := false;").format(sql.Identifier(PENDING)) if pending else sql.SQL("")
    body = sql.SQL(
        "BEGIN IF {is_new} THEN {new_side} ELSE {old_side} END IF; {clear} RETURN NEW; END"
    ).format(
        is_new=is_version(ctx.version_schema),
        new_side=sql.SQL(" ").join(new_side),
        old_side=old_side,
        clear=clear,
    )
    fn = sql.Identifier(ctx.schema, function_name(physical_table))
    create_fn = sql.SQL(
        "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {}"
    ).format(fn, sql.Literal(body.as_string(None)))
    create = sql.SQL(
        "CREATE {}TRIGGER {} BEFORE INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}()"
    )
    target = (sql.Identifier(TRIGGER), ctx.table_ref(physical_table), fn)
    statements: tuple[sql.Composed, ...]
    if ctx.physical.server_version >= 140000:
        # CREATE OR REPLACE TRIGGER (PostgreSQL 14) takes SHARE ROW EXCLUSIVE: writes wait,
        # reads do not. DROP TRIGGER would take ACCESS EXCLUSIVE.
        statements = (create_fn, create.format(sql.SQL("OR REPLACE "), *target))
        lock = "SHARE ROW EXCLUSIVE"
    else:
        drop = sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(*target[:2])
        statements = (create_fn, drop, create.format(sql.SQL(""), *target))
        lock = "ACCESS EXCLUSIVE"
    return [
        PlannedStep(
            f"trigger:{physical_table}",
            f"dual-write trigger on {physical_table}",
            statements,
            lock,
            CATALOG,
        )
    ]


def drop_trigger_steps(ctx: PhaseContext, physical_table: str) -> list[PlannedStep]:
    fn = sql.Identifier(ctx.schema, function_name(physical_table))
    return [
        PlannedStep(
            f"drop-trigger:{physical_table}",
            f"drop dual-write trigger on {physical_table}",
            (
                sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(
                    sql.Identifier(TRIGGER), ctx.table_ref(physical_table)
                ),
                sql.SQL("DROP FUNCTION IF EXISTS {}()").format(fn),
            ),
            "ACCESS EXCLUSIVE",
            CATALOG,
        )
    ]
