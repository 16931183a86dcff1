"""The dual-write mechanism, written once: one BEFORE INSERT OR UPDATE trigger per table.

Old-version writes compute the new version's columns through ``up`` (names of the old version);
new-version writes compute the old version's columns through ``down`` (names of the new
version). A derived column is recomputed when a column its expression reads changed value, and
never otherwise: an unrelated write - or an ORM saving the whole row unchanged - cannot overwrite
what the other version stored. The per-row marker ``_ec_pending`` says a row has never been
computed: the backfill clears it by touching rows (the trigger does the work), and a new-version
update of a pending row first fills, through ``up``, the new columns it did not change.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from expandcontract.engine.selector import EC_SESSION, is_version
from expandcontract.operations.base import (
    CATALOG,
    NONBLOCKING_LOCK_TIMEOUT_MS,
    SCAN,
    DualWrite,
    PlannedStep,
)
from expandcontract.operations.context import PhaseContext
from expandcontract.operations.ddl import object_name
from expandcontract.operations.expressions import (
    expression_sql,
    referenced_columns,
    type_sql,
)
from expandcontract.operations.state import PENDING, PREFIX, LogicalTable

TRIGGER = "_ec_dual_write"
STRICT_SETTING = "expandcontract.strict"
# One WARNING per transaction, not per row: a bulk UPDATE must not flood client and log.
_WARNED_SETTING = "expandcontract.warned"
# What `up` can raise for one row (bad data, a domain or constraint it cannot satisfy, a
# subquery returning two rows, a function raising, a privilege the writing role lacks) is
# tolerated during expand; lock, serialization and cancel errors never are.
_ROW_ERRORS = (
    "data_exception OR integrity_constraint_violation OR cardinality_violation"
    " OR syntax_error_or_access_rule_violation OR raise_exception"
)


def function_name(table: str) -> str:
    return object_name(f"{PREFIX}dw", table, suffix="fn")


def settled_check_name(table: str) -> str:
    return object_name(f"{PREFIX}settled", table, suffix="check")


def _declare(pairs: list[tuple[str, str, str]]) -> sql.Composed:
    """DECLARE "logical" type := NEW."physical"; ... — expressions then read plain names."""
    return sql.SQL(" ").join(
        sql.SQL("{} {} := NEW.{};").format(sql.Identifier(name), type_sql(typ), sql.Identifier(col))
        for name, typ, col in pairs
    )


def _assign(write: DualWrite) -> sql.Composed:
    return sql.SQL("NEW.{} := ({});").format(
        sql.Identifier(write.column), expression_sql(write.expression)
    )


def _block(declare: sql.Composed, body: Sequence[sql.Composable]) -> sql.Composable:
    if not body:
        return sql.SQL("")
    return sql.SQL("DECLARE {} BEGIN {} END;").format(declare, sql.SQL(" ").join(body))


def _changed(column: str) -> sql.Composed:
    return sql.SQL("NEW.{c} IS DISTINCT FROM OLD.{c}").format(c=sql.Identifier(column))


def trigger_steps(
    ctx: PhaseContext,
    physical_table: str,
    logical: LogicalTable | None,
    writes: list[DualWrite],
    *,
    strict: bool = False,
) -> list[PlannedStep]:
    """The dual-write trigger of one table. ``strict=False`` (expand): an old-version write
    whose ``up`` fails on its row still goes through, the row stays pending (the backfill phase
    and contract list it) and the transaction gets one WARNING; ec's own sessions can ask for
    the error instead (setting ``expandcontract.strict``). ``strict=True`` (contract, which
    retires the old version): such a write is refused, because its value could not survive
    the swap; a CHECK then keeps any row from becoming pending (even a write that bypasses
    triggers)."""
    table = ctx.physical.tables[physical_table]
    old_vars = [
        (c.name, c.type, c.name) for c in table.columns.values() if not c.name.startswith(PREFIX)
    ]
    new_vars = [(c.name, c.type, c.physical) for c in logical.columns.values()] if logical else []
    old_declare, new_declare = _declare(old_vars), _declare(new_vars)
    ups = [w for w in writes if w.direction == "up"]
    downs = [w for w in writes if w.direction == "down"]
    pending = logical is not None and logical.needs_backfill
    insert = sql.SQL("TG_OP = 'INSERT'")
    was_pending = sql.SQL("OLD.{}").format(sql.Identifier(PENDING))
    old_names = {name: col for name, _, col in old_vars}
    new_names = {name: col for name, _, col in new_vars}
    columns = logical.columns.values() if logical else []
    not_null = {c.physical for c in columns if not c.nullable}

    def changed(write: DualWrite, names: dict[str, str]) -> list[sql.Composable]:
        """Recompute a derived column on UPDATE only when a column its expression reads
        changed value: an unrelated write - or a whole row saved unchanged - must not
        overwrite what the other version stored."""
        reads = referenced_columns(write.expression, set(names))
        columns = sorted(set(names.values()) if reads is None else {names[r] for r in reads})
        return [_changed(c) for c in columns]

    def when(conditions: Sequence[sql.Composable], write: DualWrite) -> sql.Composed:
        return sql.SQL("IF {} THEN {} END IF;").format(
            sql.SQL(" OR ").join(conditions), _assign(write)
        )

    def computed(assignments: Sequence[sql.Composable]) -> list[sql.Composable]:
        """``up`` assignments, then the proof that NOT NULL targets got a value."""
        targets = sorted({w.column for w in ups if w.column in not_null})
        return [*assignments, *(_require_value(physical_table, c) for c in targets)]

    def guarded(declare: sql.Composed, body: list[sql.Composable]) -> sql.Composable:
        """Run up assignments; success clears the pending marker. Outside strict mode a row
        error leaves the row pending instead of failing the old version's write."""
        if not body:
            return sql.SQL("")
        done = [*body, _set_pending(False)] if pending else body
        if strict or not pending:
            return _block(declare, done)
        return sql.SQL(
            "DECLARE {declare} BEGIN {body} EXCEPTION WHEN {errors} THEN"
            " IF coalesce(current_setting({strict}, true), '') = 'on' THEN RAISE; END IF;"
            " {pending} IF coalesce(current_setting({ec}, true), '') <> 'on'"
            " AND coalesce(current_setting({warned}, true), '') <> 'y' THEN"
            " PERFORM set_config({warned}, 'y', true);"
            " RAISE WARNING USING MESSAGE = format({message}, TG_TABLE_NAME, SQLERRM);"
            " END IF; END;"
        ).format(
            declare=declare,
            body=sql.SQL(" ").join(done),
            errors=sql.SQL(_ROW_ERRORS),
            strict=sql.Literal(STRICT_SETTING),
            ec=sql.Literal(EC_SESSION),
            warned=sql.Literal(_WARNED_SETTING),
            pending=_set_pending(True),
            message=sql.Literal(
                "expandcontract: the new version's values of %I rows written in this "
                "transaction cannot be computed (%s); the writes go through and the rows stay "
                "pending until they are fixed (`ec status` counts them)"
            ),
        )

    # New-version writes. On a row never computed, the new columns the statement did not
    # change are filled through up first; then down computes the old version's columns from
    # the complete row (an error there fails the write: the old version could not read it).
    new_side: list[sql.Composable] = []
    if pending:
        new_side.append(_set_pending(False))
    fill_for_new = [
        sql.SQL("IF NOT ({}) THEN {} END IF;").format(_changed(w.column), _assign(w)) for w in ups
    ]
    if pending and fill_for_new:
        new_side.append(
            sql.SQL("IF TG_OP = 'UPDATE' AND {} THEN {} END IF;").format(
                was_pending, guarded(old_declare, computed(fill_for_new))
            )
        )
    down_body: list[sql.Composable] = [
        when([insert, *changed(w, new_names)] if w.when == "always" else [insert], w) for w in downs
    ]
    new_side.append(_block(new_declare, down_body))

    # Old-version writes: the new version's columns through up.
    first_time: list[sql.Composable] = [insert, was_pending] if pending else [insert]
    up_body: list[sql.Composable] = [
        when([*first_time, *changed(w, old_names)] if w.when == "always" else first_time, w)
        for w in ups
    ]
    old_side: list[sql.Composable] = [guarded(old_declare, computed(up_body))]
    if pending and not up_body:
        old_side.append(_set_pending(False))
    # use_variable: inside up/down, a bare column name means this row's value, even in a
    # subquery over another table that has a column of the same name.
    body = sql.SQL(
        "#variable_conflict use_variable\n"
        "BEGIN IF {is_new} THEN {new_side} ELSE {old_side} END IF; RETURN NEW; END"
    ).format(
        is_new=is_version(ctx.version_schema),
        new_side=sql.SQL(" ").join(new_side),
        old_side=sql.SQL(" ").join(old_side),
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
    if not strict:
        return [
            PlannedStep(
                f"trigger:{physical_table}",
                f"dual-write trigger on {physical_table}",
                statements,
                lock,
                CATALOG,
            )
        ]
    # The CHECK comes first: its lock waits for every write in flight (they may still run the
    # tolerant body), and every later write re-reads the function. The engine converts the
    # rows still pending in the same transaction, so one that cannot convert leaves all this
    # undone (the trigger tolerant).
    settled = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK (NOT {}) NOT VALID").format(
        ctx.table_ref(physical_table),
        sql.Identifier(settled_check_name(physical_table)),
        sql.Identifier(PENDING),
    )
    return [
        PlannedStep(
            f"strict:{physical_table}",
            f"dual-write trigger on {physical_table} refuses writes `up` cannot convert; no row"
            " can become pending any more",
            (settled, *statements),
            "ACCESS EXCLUSIVE",
            CATALOG,
        )
    ]


def _set_pending(value: bool) -> sql.Composed:
    return sql.SQL("NEW.{} := {};").format(
        sql.Identifier(PENDING), sql.SQL("true" if value else "false")
    )


def _require_value(table: str, column: str) -> sql.Composed:
    return sql.SQL(
        "IF NEW.{} IS NULL THEN RAISE EXCEPTION USING ERRCODE = 'not_null_violation',"
        " MESSAGE = {}; END IF;"
    ).format(
        sql.Identifier(column),
        sql.Literal(f"up gives NULL for {table}.{column}, which is NOT NULL in the new version"),
    )


def pending_index_name(table: str) -> str:
    return object_name(f"{PREFIX}pending", table, suffix="idx")


def pending_index_step(schema: str, table: str) -> PlannedStep:
    """A partial index of the rows still pending: empty once the backfill is done, so
    finding rows that became pending later (an `up` that failed on an old-version write)
    never scans the table."""
    name = pending_index_name(table)
    return PlannedStep(
        f"pending-index:{table}",
        f"index of rows still pending on {table} (CONCURRENTLY; empty after the backfill)",
        (
            sql.SQL("CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({}) WHERE {}").format(
                sql.Identifier(name),
                sql.Identifier(schema, table),
                sql.Identifier(PENDING),
                sql.Identifier(PENDING),
            ),
        ),
        "SHARE UPDATE EXCLUSIVE",
        SCAN,
        lock_timeout_ms=NONBLOCKING_LOCK_TIMEOUT_MS,
        transactional=False,
        creates_index=(schema, name),
        statement_timeout_ms=0,
    )


def convert_pending(schema: str, table: str) -> tuple[sql.SQL | sql.Composed, ...]:
    """Touch the rows still pending, through the pending index (never a table scan: the
    planner is told not to scan), so the trigger computes them - or raises for a row that
    `up` cannot convert, where the trigger is strict."""
    return (
        sql.SQL("SELECT set_config('enable_seqscan', 'off', true)"),
        sql.SQL("UPDATE {} SET {} = false WHERE {}").format(
            sql.Identifier(schema, table), sql.Identifier(PENDING), sql.Identifier(PENDING)
        ),
    )


def drop_trigger_statements(ctx: PhaseContext, physical_table: str) -> list[sql.Composed]:
    fn = sql.Identifier(ctx.schema, function_name(physical_table))
    return [
        sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(
            sql.Identifier(TRIGGER), ctx.table_ref(physical_table)
        ),
        sql.SQL("DROP FUNCTION IF EXISTS {}()").format(fn),
    ]
