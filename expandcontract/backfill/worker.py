"""A worker: claim ranges of a phase one after another until none is left to claim.
Also the entry point of worker processes: ``python -m expandcontract.backfill``
(the database URL comes from EC_BACKFILL_URL so no password shows up in ``ps``)."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import socket
import sys
import uuid
from typing import Any

import psycopg

from expandcontract.backfill.engine import Emit, RangeRunner, RangeStats
from expandcontract.backfill.errors import BackfillCancelled, BackfillInputError, LeaseLost
from expandcontract.backfill.interruptions import connection_interrupted
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
from expandcontract.backfill.throttles.health import Tracking, policy_from
from expandcontract.backfill.validate import Target, resolve
from expandcontract.dsn import to_psycopg
from expandcontract.errors import ECError
from expandcontract.ledger.lock import RunLockLost
from expandcontract.runner.reconnect import ConnectionFailed, Reconnecting
from expandcontract.runner.runner import Connection, connect

# Give up on recording a stop that the database may not even be reachable for.
_RELEASE_BUDGET_S = 5.0


def application_name(name: str) -> str:
    """The sessions that run batches (the blocking watch looks for these)."""
    return f"ec-backfill:{name}"[:63]


def monitor_name(name: str) -> str:
    """The worker's control session: claims, leases, heartbeats, throttle probes."""
    return f"ec-backfill-monitor:{name}"[:63]


def coordinator_name(name: str) -> str:
    """The coordinator's session that polls a phase until every range is done."""
    return f"ec-backfill-coord:{name}"[:63]


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
        self.monitor = self._session(monitor_name(name))
        self.watch = BlockingWatch(self.url, self.app) if settings.pause_on_blocking else None
        self.sessions: ActiveSessions | None = None
        self.baseline_sessions = baseline_sessions
        self.sizer = BatchSizer.from_settings(settings)
        self.stats = RangeStats()
        self.throttled_s = 0.0

    def _session(self, app: str) -> Reconnecting:
        return Reconnecting(self.url, application_name=app, budget_s=self.settings.reconnect_max_s)

    def signals(self) -> list[Signal]:
        s = self.settings
        # Read inside the governor's sample, which runs on the monitor session.
        out: list[Signal] = [ManualPause(lambda: self.store.requested(self.monitor.conn))]
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
        policy = policy_from(s.health_interval_s, s.health_give_up_after)
        if s.health_url:
            out.append(HealthUrl(s.health_url, s.health_timeout_s, tracking=Tracking(policy)))
        if s.health_command:
            track = Tracking(policy)
            out.append(HealthCommand(s.health_command, s.health_timeout_s, tracking=track))
        return out

    def run(self, phase: str) -> RangeStats:
        """Process ranges of ``phase`` until none can be claimed; returns this worker's totals.
        Stops with a resumable BackfillInterrupted if the database stays unreachable."""
        try:
            return self._run(phase)
        except ConnectionFailed as exc:
            raise connection_interrupted(exc, self.store.name, self._spec()) from None

    def _spec(self) -> dict[str, Any]:
        return self.target.batch.spec.as_dict()

    def _run(self, phase: str) -> RangeStats:
        monitor = self.monitor
        holder: dict[str, Any] = {}

        def heartbeat(reason: str | None) -> None:
            claim = holder.get("claim")
            if claim is not None:
                monitor.run(lambda c: self.store.heartbeat(c, claim, self.settings.lease_s, reason))

        ctx = ProbeContext(monitor.conn, self.target.oid, self.app)
        governor = Governor(
            self.signals(), ctx, self.settings, emit=self.emit, heartbeat=heartbeat,
            session=monitor,
        )  # fmt: skip
        rate = None
        if self.settings.max_rows_per_second:
            rate = RateCap(
                self.settings.max_rows_per_second,
                lambda: monitor.run(self.store.active_workers),
            )
        reltuples, pages = monitor.run(lambda c: table_size(c, self.target.oid))
        runner = RangeRunner(
            session=self._session(self.app),
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
                # One token for every try: a claim whose reply was lost is found again.
                token = str(uuid.uuid4())
                claim = monitor.run(
                    functools.partial(
                        self.store.claim, phase=phase, lease_s=self.settings.lease_s, token=token
                    )
                )
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
            self.monitor.run(
                lambda c: self.store.release(c, claim),
                budget_s=min(_RELEASE_BUDGET_S, self.settings.reconnect_max_s),
            )
        except (psycopg.Error, ECError):
            return  # the lease expires by itself

    def close(self) -> None:
        if self.watch is not None:
            self.watch.close()
        self.monitor.close()


def _settings_from_json(text: str) -> BackfillSettings:
    fields = {f.name for f in dataclasses.fields(BackfillSettings)}
    data = {k: v for k, v in json.loads(text).items() if k in fields}
    return BackfillSettings(**data)


def _load_target(store: Store, conn: Connection) -> Target:
    row = store.row(conn)
    if row is None:
        raise BackfillInputError(f"no backfill named {store.name!r}")
    try:
        return resolve(conn, BackfillSpec.from_dict(row["spec"]))
    except BackfillInputError:
        if conn.broken:  # the session was lost while checking: not the spec's fault, retry
            raise psycopg.OperationalError("the connection was lost while loading") from None
        raise


def main(argv: list[str] | None = None) -> int:
    """Worker process: resolve the backfill from the ledger and work the given phase."""
    from expandcontract.backfill.errors import BackfillFailed

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
    session = Reconnecting(
        url, application_name=monitor_name(args.name), budget_s=settings.reconnect_max_s
    )
    try:
        target = session.run(functools.partial(_load_target, store))
    except ECError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2 if isinstance(exc, BackfillInputError) else 1
    finally:
        session.close()
    worker = Worker(
        url, ledger_schema=args.ledger_schema, name=args.name, target=target,
        settings=settings, emit=emit, baseline_sessions=args.baseline_sessions,
    )  # fmt: skip
    try:
        worker.run(args.phase)
    except BackfillCancelled:
        return 0
    except RunLockLost as exc:
        # Another ec run may be working now: write nothing more, just stop.
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except BackfillFailed as exc:
        status = str(getattr(exc, "status", "failed"))
        try:
            with connect(
                to_psycopg(url), application_name=monitor_name(args.name),
                retry_s=min(_RELEASE_BUDGET_S, settings.reconnect_max_s),
            ) as conn:  # fmt: skip
                store.set_status(conn, status, error=exc.message)
                if status == "failed":  # the other workers stop too; interruptions stop each
                    store.request(conn, "stop")
        except (psycopg.Error, ECError):
            pass  # reporting the failure matters more than recording it
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except ECError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        worker.close()
    return 0
