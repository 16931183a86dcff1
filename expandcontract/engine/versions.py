"""Which version is current: recorded in the ledger, switched (and switched back) instantly.

Current = the active migration's new schema once switched (its old schema before, or after
``switch --back``); with no active migration, the last completed migration's schema; else the
base schema. Optionally the switch also sets the database's or a role's default search_path.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import sql

from expandcontract.errors import ConfigError
from expandcontract.ledger import Ledger, MigrationRecord
from expandcontract.observe import emit
from expandcontract.runner import SafeRunner, Step

_CURRENT = """
SELECT coalesce((
    SELECT CASE WHEN NOT m.active OR p.status = 'done' THEN m.version_schema
                ELSE coalesce(m.old_schema, m.base_schema) END
    FROM {migrations} m
    LEFT JOIN {phases} p ON p.migration_id = m.id AND p.phase = 'switch'
    LEFT JOIN {phases} c ON c.migration_id = m.id AND c.phase = 'contract' AND c.status = 'done'
    WHERE m.base_schema = {base} AND (m.active OR c.migration_id IS NOT NULL)
    -- the active one, else the one completed last (ids do not order re-applied migrations)
    ORDER BY m.active DESC, c.finished_at DESC NULLS LAST, m.id DESC LIMIT 1), {base})
"""


def current_sql(ledger_schema: str, base_schema: str) -> sql.Composed:
    """A scalar SQL expression: the current version schema of ``base_schema``."""
    return sql.SQL("(" + _CURRENT + ")").format(
        migrations=sql.Identifier(ledger_schema, "migrations"),
        phases=sql.Identifier(ledger_schema, "phases"),
        base=sql.Literal(base_schema),
    )


def current(conn: psycopg.Connection[Any], ledger: Ledger, base_schema: str) -> str:
    row = conn.execute(sql.SQL("SELECT {}").format(current_sql(ledger.schema, base_schema)))
    value = row.fetchone()
    return str(value[0]) if value and value[0] else base_schema


def switch(
    runner: SafeRunner,
    ledger: Ledger,
    record: MigrationRecord,
    *,
    back: bool,
    search_path: str | None = None,
) -> None:
    """Record the current version; with ``search_path`` (or one recorded by an earlier switch
    of this migration) also point the database's or a role's default search_path at it, so a
    switch back — or a rollback — never leaves new sessions in the wrong version."""
    before = ledger.phases(record.id).get("switch", {}).get("status")
    ledger.set_phase(record.id, "switch", "reverted" if back else "done")
    target = (record.old_schema or record.base_schema) if back else record.version_schema
    if (before == "done") == back:  # only a real change of the current version is an event
        emit("switch", to="old" if back else "new", schema=target, migration=record.name)
    key = f"search_path:{record.id}"
    if search_path:
        ledger.remember(key, search_path)
    else:
        search_path = ledger.recall(key)
    if search_path and target:
        apply_search_path(runner, search_path, target, record.base_schema)


_ROLE = re.compile(r"^role:(?P<role>.+)$")


def apply_search_path(runner: SafeRunner, where: str, schema: str, base: str) -> None:
    """``database`` or ``role:NAME``: new sessions start with ``schema, base`` first."""
    path = sql.SQL(", ").join(sql.Identifier(s) for s in dict.fromkeys([schema, base]))
    if where == "database":
        target = sql.SQL("DATABASE {}").format(sql.Identifier(str(runner.conn.info.dbname)))
    elif m := _ROLE.match(where):
        target = sql.SQL("ROLE {}").format(sql.Identifier(m.group("role")))
    else:
        raise ConfigError(f"unknown search_path target {where!r}", "use `database` or `role:NAME`")
    # Back on the base schema: restore the server's default rather than pinning one.
    change = (
        sql.SQL("ALTER {} RESET search_path").format(target)
        if schema == base
        else sql.SQL("ALTER {} SET search_path = {}").format(target, path)
    )
    runner.run(Step.of(f"default search_path of {where}", change))
