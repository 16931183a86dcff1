"""Structured events: every statement ec runs is reported as one, to logs and ``--json``."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

from expandcontract.dsn import mask_dsn

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
        data["statement"] = mask_dsn(self.statement)
        if self.error:
            data["error"] = mask_dsn(self.error)
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
    """Logging filter that masks DSN passwords in every record, whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_dsn(record.getMessage())
        record.args = None
        return True
