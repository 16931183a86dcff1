"""Run a phase of a backfill with local workers (in-process for one, worker processes for
several) and wait until every range of the phase is done, re-claiming expired leases. The
polling session reconnects after a loss; while it waits, the coordinator renews the run's
heartbeat and checks ec's run lock (``run_lock``)."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from expandcontract.backfill.errors import BackfillCancelled, BackfillFailed
from expandcontract.backfill.interruptions import (
    BackfillInterrupted,
    check_run_lock,
    connection_interrupted,
    resume_hint,
)
from expandcontract.backfill.progress import Event
from expandcontract.backfill.settings import BackfillSettings
from expandcontract.backfill.store import Store, expire_dead_local_leases
from expandcontract.backfill.validate import Target
from expandcontract.backfill.worker import Worker, coordinator_name, worker_id
from expandcontract.runner.reconnect import ConnectionFailed, Reconnecting
from expandcontract.runner.runner import Connection

_POLL_S = 0.25


class Coordinator:
    """Runs a phase with local workers (in-process for one, processes for several), then
    waits until every range of the phase is done, re-claiming ranges whose lease expired."""

    def __init__(
        self,
        url: str,
        ledger_schema: str,
        name: str,
        target: Target,
        settings: BackfillSettings,
        emit: Callable[[str, dict[str, Any]], None],
        baseline: int,
    ) -> None:
        self.url = url
        self.ledger_schema = ledger_schema
        self.name = name
        self.target = target
        self.settings = settings
        self.emit = emit
        self.baseline = baseline
        self.store = Store(ledger_schema, name, worker_id())

    def _local_worker(self, phase: str, target: Target | None = None) -> float:
        worker = Worker(
            self.url,
            ledger_schema=self.ledger_schema,
            name=self.name,
            target=target or self.target,
            settings=self.settings,
            emit=self.emit,
            baseline_sessions=self.baseline,
        )
        try:
            worker.run(phase)
        finally:
            worker.close()
        return worker.throttled_s

    def run_phase(
        self, phase: str, *, workers: int | None = None, target: Target | None = None
    ) -> float:
        try:
            return self._run_phase(phase, workers or self.settings.workers, target)
        except ConnectionFailed as exc:
            spec = self.target.batch.spec.as_dict()
            raise connection_interrupted(exc, self.name, spec) from None

    def _run_phase(self, phase: str, n: int, target: Target | None) -> float:
        throttled = self._local_worker(phase, target) if n == 1 else self._processes(phase, n)
        session = self._session()
        last_beat = float("-inf")
        try:
            while True:
                beat = time.monotonic() - last_beat >= self._beat_every_s()
                counts, requested = session.run(
                    functools.partial(self._poll, phase=phase, beat=beat)
                )
                last_beat = time.monotonic() if beat else last_beat
                if requested == "stop":
                    row = session.run(self.store.row)
                    raise BackfillFailed(
                        (row or {}).get("error") or "a worker of this backfill failed",
                        "fix the cause and re-run with the same name to resume",
                    )
                if counts.get("pending") or counts.get("expired"):
                    throttled += self._local_worker(phase, target)
                    continue
                if not counts.get("running"):
                    return throttled
                time.sleep(_POLL_S)  # ranges held by live workers (possibly other hosts)
        finally:
            session.close()

    def _session(self) -> Reconnecting:
        return Reconnecting(
            self.url, application_name=coordinator_name(self.name),
            budget_s=self.settings.reconnect_max_s,
        )  # fmt: skip

    def _beat_every_s(self) -> float:
        return max(0.5, self.settings.lease_s / 4)

    def _poll(self, conn: Connection, phase: str, beat: bool) -> tuple[dict[str, int], str | None]:
        """One look at the phase (repeatable after a lost connection)."""
        check_run_lock(
            conn, self.settings.run_lock, self.ledger_schema, before="the next range",
            wait_s=self.settings.reconnect_max_s,
        )  # fmt: skip
        if beat:  # waiting on other hosts' ranges is being alive too
            self.store.beat(conn, self.settings.lease_s)
        expire_dead_local_leases(conn, self.store, socket.gethostname())
        return self.store.phase_counts(conn, phase), self.store.requested(conn)

    def _processes(self, phase: str, n: int) -> float:
        fields = dataclasses.asdict(self.settings)
        env = {**os.environ, "EC_BACKFILL_URL": self.url}
        args = [
            sys.executable, "-m", "expandcontract.backfill",
            "--ledger-schema", self.ledger_schema, "--name", self.name, "--phase", phase,
            "--settings", json.dumps(fields), "--baseline-sessions", str(self.baseline),
        ]  # fmt: skip
        events: queue.Queue[Event | None] = queue.Queue()
        procs = [
            subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True) for _ in range(n)
        ]
        readers = [
            threading.Thread(target=_pump, args=(p.stdout, events), daemon=True) for p in procs
        ]
        for r in readers:
            r.start()
        self.emit("workers", {"phase": phase, "pids": [p.pid for p in procs]})
        throttled = 0.0
        try:
            finished = 0
            while finished < len(readers):
                item = events.get()
                if item is None:
                    finished += 1
                    continue
                kind = str(item.pop("event", "event"))
                item.pop("name", None)
                if kind == "resume":
                    throttled += float(item.get("paused_s", 0.0))
                self.emit(kind, item)
        except BaseException:
            for p in procs:
                p.terminate()
            raise
        finally:
            for p in procs:
                p.wait()
        failed = [p.returncode for p in procs if p.returncode and p.returncode > 0]
        if failed:
            self._worker_failure(len(failed))
        return throttled

    def _worker_failure(self, failed: int) -> None:
        """Raise what stopped the worker processes, as they recorded it."""
        session = self._session()
        try:
            row = session.run(self.store.row)
            session.run(
                functools.partial(
                    check_run_lock,
                    run_lock=self.settings.run_lock,
                    ledger_schema=self.ledger_schema,
                    wait_s=self.settings.reconnect_max_s,
                )
            )
        finally:
            session.close()
        if row is not None and row["requested"] == "cancel":
            raise BackfillCancelled("the backfill was cancelled (ec backfill cancel)")
        error = (row or {}).get("error") or f"{failed} worker process(es) failed"
        if row is not None and row["status"] == BackfillInterrupted.status:
            raise BackfillInterrupted(error, resume_hint(self.name, row["spec"]))
        raise BackfillFailed(
            error, "see the worker errors above; re-run with the same name to resume"
        )


def _pump(stream: IO[str] | None, events: queue.Queue[Event | None]) -> None:
    if stream is None:
        events.put(None)
        return
    for line in stream:
        try:
            events.put(json.loads(line))
        except ValueError:
            continue
    events.put(None)
