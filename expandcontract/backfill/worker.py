"""A worker: claim ranges of a phase one after another until none is left to claim.
Also the entry point of worker processes: ``python -m expandcontract.backfill``
(the database URL comes from EC_BACKFILL_URL so no password shows up in ``ps``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import sys
from typing import Any

import psycopg

from expandcontract.backfill.engine import Emit, RangeRunner, RangeStats
from expandcontract.backfill.errors import BackfillCancelled, LeaseLost
from expandcontract.backfill.ranges import table_size
from expandcontract.backfill.settings import BackfillSettings
from expandcontract.backfill.sizing import BatchSizer
from expandcontract.backfill.spec import BackfillSpec
from expandcontract.backfill.store import Claim, Store
from expandcontract.backfill.throttles import (
    ActiveSessions,
    AutovacuumOnTable,
    BlockedSessions,
    BlockingWatch,
    DeadTuples,
    Governor,
    HealthCommand,
    HealthUrl,
    ManualPause,
    ProbeContext,
    RateCap,
    ReplicaLag,
    Signal,
)
from expandcontract.backfill.validate import Target, resolve
from expandcontract.dsn import to_psycopg
from expandcontract.runner.runner import Connection, connect


def application_name(name: str) -> str:
    return f"ec-backfill:{name}"[:63]


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    def __init__(
        self,
        url: str,
        *,
        ledger_schema: str,
        name: str,
        target: Target,
        settings: BackfillSettings,
        emit: Emit,
        baseline_sessions: int | None = None,
    ) -> None:
        self.url = to_psycopg(url)
        self.app = application_name(name)
        self.settings = settings
        self.target = target
        self.emit = emit
        self.store = Store(ledger_schema, name, worker_id())
        self.monitor = self._new_conn()
        self.watch = BlockingWatch(self.url, self.app) if settings.pause_on_blocking else None
        self.sessions: ActiveSessions | None = None
        self.baseline_sessions = baseline_sessions
        self.sizer = BatchSizer.from_settings(settings)
        self.stats = RangeStats()
        self.throttled_s = 0.0

    def _new_conn(self) -> Connection:
        return connect(self.url, application_name=self.app)

    def signals(self) -> list[Signal]:
        s = self.settings
        out: list[Signal] = [ManualPause(lambda: self.store.requested(self.monitor))]
        if s.max_replica_lag_s is not None or s.lag_query:
            out.append(ReplicaLag(s.max_replica_lag_s or 0.0, s.lag_query))
        if self.watch is not None:
            out.append(BlockedSessions(self.watch, s.blocking_pause_s))
        if s.pause_on_autovacuum != "off":
            out.append(AutovacuumOnTable(s.pause_on_autovacuum))
        if s.max_dead_tuple_ratio is not None:
            out.append(DeadTuples(s.max_dead_tuple_ratio, s.dead_tuples_min_rows))
        if s.active_sessions_factor is not None:
            self.sessions = ActiveSessions(
                s.active_sessions_factor, s.active_sessions_min_extra, self.baseline_sessions
            )
            out.append(self.sessions)
        if s.health_url:
            out.append(HealthUrl(s.health_url, s.health_timeout_s))
        if s.health_command:
            out.append(HealthCommand(s.health_command, s.health_timeout_s))
        return out

    def run(self, phase: str) -> RangeStats:
        """Process ranges of ``phase`` until none can be claimed; returns this worker's totals."""
        ctx = ProbeContext(self.monitor, self.target.oid, self.app)
        holder: dict[str, Any] = {}

        def heartbeat(reason: str | None) -> None:
            claim = holder.get("claim")
            if claim is not None:
                self.store.heartbeat(self.monitor, claim, self.settings.lease_s, reason)

        governor = Governor(self.signals(), ctx, self.settings, emit=self.emit, heartbeat=heartbeat)
        rate = None
        if self.settings.max_rows_per_second:
            rate = RateCap(
                self.settings.max_rows_per_second, lambda: self.store.active_workers(self.monitor)
            )
        reltuples, pages = table_size(self.monitor, self.target.oid)
        runner = RangeRunner(
            connect=self._new_conn,
            target=self.target,
            store=self.store,
            settings=self.settings,
            sizer=self.sizer,
            governor=governor,
            watch=self.watch,
            rate=rate,
            emit=self.emit,
            rows_per_page=max(1.0, reltuples / pages) if pages and reltuples > 0 else 50.0,
        )
        try:
            while True:
                claim = self.store.claim(self.monitor, phase, self.settings.lease_s)
                if claim is None:
                    break
                holder["claim"] = claim
                try:
                    got = runner.run(claim)
                except LeaseLost as exc:
                    self.emit("lease_lost", {"range": claim.range_no, "detail": str(exc)})
                    continue
                except BaseException:
                    self._release(claim)
                    raise
                finally:
                    holder.pop("claim", None)
                self.stats.batches += got.batches
                self.stats.scanned += got.scanned
                self.stats.updated += got.updated
        finally:
            self.throttled_s += governor.throttled_s
            runner.close()
        return self.stats

    def _release(self, claim: Claim) -> None:
        try:
            if self.monitor.broken:
                self.monitor = self._new_conn()
            self.store.release(self.monitor, claim)
        except psycopg.Error:
            return  # the lease expires by itself

    def close(self) -> None:
        if self.watch is not None:
            self.watch.close()
        self.monitor.close()


def _settings_from_json(text: str) -> BackfillSettings:
    fields = {f.name for f in dataclasses.fields(BackfillSettings)}
    data = {k: v for k, v in json.loads(text).items() if k in fields}
    return BackfillSettings(**data)


def main(argv: list[str] | None = None) -> int:
    """Worker process: resolve the backfill from the ledger and work the given phase."""
    from expandcontract.backfill.errors import BackfillFailed
    from expandcontract.errors import ECError

    parser = argparse.ArgumentParser(prog="python -m expandcontract.backfill")
    parser.add_argument("--ledger-schema", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--phase", default="backfill")
    parser.add_argument("--settings", required=True, help="BackfillSettings as JSON")
    parser.add_argument("--baseline-sessions", type=int, default=None)
    args = parser.parse_args(argv)
    url = os.environ.get("EC_BACKFILL_URL")
    if not url:
        print("EC_BACKFILL_URL is not set", file=sys.stderr)
        return 2
    settings = _settings_from_json(args.settings)

    def emit(event: str, data: dict[str, Any]) -> None:
        print(json.dumps({"event": event, "worker": worker_id(), **data}, default=str), flush=True)

    store = Store(args.ledger_schema, args.name, worker_id())
    with connect(to_psycopg(url), application_name=application_name(args.name)) as conn:
        row = store.row(conn)
        if row is None:
            print(f"no backfill named {args.name!r}", file=sys.stderr)
            return 2
        target = resolve(conn, BackfillSpec.from_dict(row["spec"]))
    worker = Worker(
        url, ledger_schema=args.ledger_schema, name=args.name, target=target,
        settings=settings, emit=emit, baseline_sessions=args.baseline_sessions,
    )  # fmt: skip
    try:
        worker.run(args.phase)
    except BackfillCancelled:
        return 0
    except BackfillFailed as exc:
        with connect(to_psycopg(url), application_name=application_name(args.name)) as conn:
            store.set_status(conn, "failed", error=exc.message)
            store.request(conn, "stop")
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except ECError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        worker.close()
    return 0
