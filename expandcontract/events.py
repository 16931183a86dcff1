"""Structured events: every statement ec runs is reported as one, to logs and ``--json``."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

from expandcontract.dsn import display_text

log = logging.getLogger("expandcontract")


@dataclasses.dataclass(frozen=True)
class Blocker:
    """A session that held a lock ec was waiting for."""

    pid: int
    user: str | None
    application: str | None
    state: str | None
    query: str | None
    xact_age_s: float | None
    wait_mode: str | None = None  # the lock ec asked for
    relation: str | None = None

    def describe(self) -> str:
        app = f", application {self.application!r}" if self.application else ""
        age = f" for {self.xact_age_s:.1f}s" if self.xact_age_s is not None else ""
        query = (self.query or "").strip().replace("\n", " ")
        if len(query) > 200:
            query = query[:197] + "..."
        return (
            f"pid {self.pid} (user {self.user}{app}), {self.state or 'unknown state'}{age}, "
            f"last query: {query!r}"
        )


@dataclasses.dataclass(frozen=True)
class StatementEvent:
    """One statement's outcome: what ran, how long, how many tries, how long it waited on locks."""

    step: str
    statement: str
    outcome: str  # "ok" | "retry" | "failed" | "skipped"
    duration_ms: float
    attempts: int
    lock_wait_ms: float
    transactional: bool
    error: str | None = None
    sqlstate: str | None = None
    blockers: tuple[Blocker, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["event"] = "statement"
        data["statement"] = display_text(self.statement)
        if self.error:
            data["error"] = display_text(self.error)
        return data


EventSink = Callable[[StatementEvent], None]


def log_event(event: StatementEvent) -> None:
    """The default sink: one structured log record per event (JSON in ``extra['ec_event']``)."""
    level = {"ok": logging.INFO, "skipped": logging.INFO, "retry": logging.WARNING}.get(
        event.outcome, logging.ERROR
    )
    data = event.as_dict()
    log.log(level, "%s", json.dumps(data, default=str), extra={"ec_event": data})


class MaskingFilter(logging.Filter):
    """Logging filter that masks DSN passwords (and drops ec's own session options from
    connection strings) in every record, whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = display_text(record.getMessage())
        record.args = None
        return True


def describe_event(data: dict[str, Any]) -> str | None:
    """One sentence for a statement event that a user without ``-v`` should see while ec
    works (a retry: ec is waiting, and why), or None for events the final result covers."""
    if data.get("outcome") != "retry":
        return None
    error = str(data.get("error") or "").strip().splitlines()
    blockers = data.get("blockers") or []
    who = ", ".join(
        f"pid {b.get('pid')} (user {b.get('user')}, {b.get('state') or 'unknown state'})"
        for b in blockers
        if isinstance(b, dict)
    )
    return (
        f"step {data.get('step')!r}: attempt {data.get('attempts')} did not succeed "
        f"({error[0] if error else data.get('sqlstate')}); retrying"
        + (f"; blocked by {who}" if who else "")
    )


class HumanEvents(logging.Filter):
    """Without ``-v``: statement events become one sentence (retries) or nothing (the error
    ec raises already says what failed); other records pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        data = getattr(record, "ec_event", None)
        if not isinstance(data, dict):
            return True
        sentence = describe_event(data)
        if sentence is None:
            return False
        record.msg, record.args = sentence, None
        return True
