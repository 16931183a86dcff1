"""Run a phase of a backfill with local workers (in-process for one, worker processes for
several) and wait until every range of the phase is done, re-claiming expired leases."""

from __future__ import annotations

import dataclasses
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
from expandcontract.backfill.progress import Event
from expandcontract.backfill.settings import BackfillSettings
from expandcontract.backfill.store import Store, expire_dead_local_leases
from expandcontract.backfill.validate import Target
from expandcontract.backfill.worker import Worker, application_name, worker_id
from expandcontract.runner.runner import connect

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
        n = workers or self.settings.workers
        throttled = self._local_worker(phase, target) if n == 1 else self._processes(phase, n)
        with connect(self.url, application_name=application_name(self.name)) as conn:
            while True:
                expire_dead_local_leases(conn, self.store, socket.gethostname())
                counts = self.store.phase_counts(conn, phase)
                if self.store.requested(conn) == "stop":
                    row = self.store.row(conn)
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
            with connect(self.url, application_name=application_name(self.name)) as conn:
                row = self.store.row(conn)
                if row is not None and row["requested"] == "cancel":
                    raise BackfillCancelled("the backfill was cancelled (ec backfill cancel)")
                raise BackfillFailed(
                    (row or {}).get("error") or f"{len(failed)} worker process(es) failed",
                    "see the worker errors above; re-run with the same name to resume",
                )
        return throttled


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
