"""Is a run recorded as running still alive? The ledger records what a run *said*; a run
killed with SIGKILL or cut off from the server says nothing more. Two signs of life:

* migrations: the session holding ec's run lock (``ExclusiveRun``) exists while the run does;
  a phase recorded ``running`` while nobody holds the lock belongs to a run that is gone;
* backfills: a live run holds a range lease or renews its heartbeat at least every lease
  (ledger v4); ``running`` with neither for longer than the lease is a run that is gone.

Both are shown as ``interrupted``, with since when and the command that resumes.
"""

from __future__ import annotations

import shlex
from typing import Any

from psycopg import sql

INTERRUPTED = "interrupted"
# Ledgers before v4 record no lease: the default lease of a backfill run.
DEFAULT_LEASE_S = 60.0


def backfill_liveness(schema: str, *, heartbeats: bool) -> sql.Composed:
    """Columns ``shown_status, last_seen`` for a query over ``{schema}.backfills b``."""
    beat = sql.SQL("b.heartbeat_at") if heartbeats else sql.SQL("NULL::timestamptz")
    lease = sql.SQL("b.lease_s") if heartbeats else sql.SQL("NULL::float8")
    return sql.SQL(
        "CASE WHEN b.status = 'running'"
        " AND NOT EXISTS (SELECT 1 FROM {ranges} r WHERE r.backfill = b.name"
        "  AND r.status = 'running' AND r.lease_expires >= now())"
        " AND greatest({beat}, b.updated_at)"
        "  < now() - make_interval(secs => coalesce({lease}, {default}))"
        " THEN {interrupted} ELSE b.status END,"
        " greatest({beat}, b.updated_at)"
    ).format(
        ranges=sql.Identifier(schema, "backfill_ranges"),
        beat=beat,
        lease=lease,
        default=sql.Literal(DEFAULT_LEASE_S),
        interrupted=sql.Literal(INTERRUPTED),
    )


def backfill_resume_hint(
    name: str, spec: dict[str, Any] | None, migration_id: int | None, last_seen: str
) -> str:
    """What an operator reads next to an interrupted backfill: since when, and the command
    that resumes it from its committed batches."""
    gone = f"no worker of this backfill has been seen since {last_seen}: its run is gone"
    if migration_id is not None:
        return f"{gone}; re-run `ec apply` for migration id {migration_id} to resume it"
    return f"{gone}; re-run `{backfill_run_command(name, spec or {})}` to resume it"


def backfill_run_command(name: str, spec: dict[str, Any]) -> str:
    parts = ["ec backfill run", "--table", shlex.quote(str(spec.get("table", "TABLE")))]
    if spec.get("schema") not in (None, "public"):
        parts += ["--schema", shlex.quote(str(spec["schema"]))]
    for column, expr in (spec.get("assignments") or {}).items():
        parts += ["--set", shlex.quote(f"{column} = {expr}")]
    if spec.get("where"):
        parts += ["--where", shlex.quote(str(spec["where"]))]
    for key in spec.get("keys") or ():
        parts += ["--key", shlex.quote(str(key))]
    parts += ["--name", shlex.quote(name)]
    return " ".join(parts)


_RESUME_PHASE = {"contract": "ec complete", "rollback": "ec rollback"}


def phase_resume_hint(phase: str) -> str:
    """For a phase recorded ``running`` while no ec run holds the run lock."""
    command = _RESUME_PHASE.get(phase, "ec apply MIGRATION_FILE")
    return (
        "no ec run holds the run lock, so the run working on this phase is gone; "
        f"re-run `{command}` to resume it where it stopped"
    )
