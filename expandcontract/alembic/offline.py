"""ec's directives in offline mode (``alembic upgrade --sql``).

ec cannot compile its plan without a database: planning reads the live schema (columns,
indexes, constraints, privileges, dependent views) and has PostgreSQL parse every user
expression against it, and running it needs its own sessions (CONCURRENTLY index builds, a
batched backfill, the ledger). So the script gets, where the directive would run, a header
saying so, the migration as one JSON comment line (what ``ec plan --format sql`` takes as a
file), and a statement that stops the script with that reason: a DBA who runs the script with
psql must not skip the ec migration silently. As online, it comes after Alembic's COMMIT (the
directive runs outside Alembic's transaction)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from psycopg import sql

if TYPE_CHECKING:
    from expandcontract.engine.migration import Migration

NEEDS_DATABASE = "needs a live database to run"


def expand_lines(migration: Migration, version_schema: str) -> list[str]:
    spec = json.dumps(migration.to_spec(), sort_keys=True, separators=(", ", ": "))
    return [
        f"ec migration {migration.name!r} (op.expand_contract): expand + backfill; the new "
        f"version's schema will be {version_schema}",
        *_why(),
        "to see the exact SQL: save the JSON below as a file and run `ec plan --format sql "
        "FILE` against a database at the previous revision",
        f"ec:migration {spec}",
    ]


def directive_lines(directive: str, what: str) -> list[str]:
    return [f"{directive}: {what}", *_why()]


def _why() -> list[str]:
    return [
        f"this {NEEDS_DATABASE}: ec plans against the live schema and runs over its own",
        "connections (CONCURRENTLY, batched backfill, ledger), so it is not rendered as SQL;",
        "run `alembic upgrade` online for this revision",
    ]


def emit(migration_context: Any, lines: list[str], reason: str) -> None:
    """Write the comment block and the stopping statement to Alembic's SQL output."""
    impl = migration_context.impl
    impl.static_output("\n".join(f"-- {line}" for line in lines))
    body = sql.SQL("BEGIN RAISE EXCEPTION USING MESSAGE = {}; END").format(sql.Literal(reason))
    statement = sql.SQL("DO {}").format(sql.Literal(body.as_string(None)))
    impl.static_output(statement.as_string(None) + impl.command_terminator)
