"""Tuning and throttle settings of one backfill run (not part of its identity/checksum)."""

from __future__ import annotations

import dataclasses

from expandcontract.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class BackfillSettings:
    """Defaults follow the research notes: 1,000-row start, ~200 ms batches, short locks."""

    # Batch sizing.
    batch_target_ms: float = 200.0
    batch_start_rows: int = 1000
    batch_min_rows: int = 10
    batch_max_rows: int = 50_000
    batch_max_growth: float = 1.5
    # A batch slower than panic_factor x target is cut to size / panic_divisor at once.
    panic_factor: float = 5.0
    panic_divisor: float = 10.0
    # Per batch statement; statement_timeout_ms=None means max(2 s, 10 x target).
    lock_timeout_ms: int = 500
    statement_timeout_ms: int | None = None
    # Timeouts split the batch; after this many consecutive failures the run stops.
    max_attempts: int = 10
    # Pause between batches as a fraction of the batch time (gh-ost nice-ratio); 0 = none.
    nice_ratio: float = 0.0
    max_rows_per_second: float | None = None
    # Throttles. None disables a threshold-based signal.
    max_replica_lag_s: float | None = 5.0
    lag_query: str | None = None
    pause_on_blocking: bool = True
    blocking_pause_s: float = 2.0
    pause_on_autovacuum: str = "wraparound"  # "any" | "wraparound" | "off"
    max_dead_tuple_ratio: float | None = 0.6
    dead_tuples_min_rows: int = 10_000
    active_sessions_factor: float | None = 2.0
    active_sessions_min_extra: int = 10
    health_url: str | None = None
    health_command: str | None = None
    health_timeout_s: float = 5.0
    # `ec apply --health-…`: probe at most once per interval (0: on every throttle sample);
    # after this many consecutive failures the run stops (None: it only pauses).
    health_interval_s: float = 0.0
    health_give_up_after: int | None = None
    # Hysteresis: a signal clears only after this many consecutive healthy checks.
    clear_checks: int = 2
    # How often throttle signals are sampled, and the backoff between checks while paused.
    check_interval_s: float = 1.0
    backoff_min_s: float = 0.25
    backoff_max_s: float = 15.0
    # Parallel workers and their leases.
    workers: int = 1
    ranges_per_worker: int = 4
    lease_s: float = 60.0
    verify: bool = True
    # The sweep reads every page; by ctid (TID Range Scan, PG 14+) it is sequential and several
    # times cheaper than by key. "auto" = ctid where available, else keyset.
    verify_by: str = "auto"  # "auto" | "ctid" | "keyset"
    # A lost connection or an unreachable server is retried (reconnect, capped jittered
    # backoff) for this long, counted from the loss; then the run stops, resumable.
    reconnect_max_s: float = 60.0
    # ec's run as (classid, objid, run generation) (ExclusiveRun.token()): when set, every batch
    # first checks that the run still holds its lock, and stops at once when another run took
    # it (while nobody holds it, e.g. after a server restart, it waits for the run to retake it).
    # A list or tuple (worker processes get it through JSON).
    run_lock: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        if self.run_lock is not None:
            lock = tuple(int(v) for v in self.run_lock)
            if len(lock) != 3:
                raise ConfigError(
                    "invalid backfill setting: run_lock must be (classid, objid, generation)"
                )
            object.__setattr__(self, "run_lock", lock)
        checks: list[tuple[str, bool]] = [
            ("batch_target_ms must be > 0", self.batch_target_ms > 0),
            ("batch_min_rows must be >= 1", self.batch_min_rows >= 1),
            (
                "batch_start_rows must lie between batch_min_rows and batch_max_rows",
                self.batch_min_rows <= self.batch_start_rows <= self.batch_max_rows,
            ),
            ("batch_max_growth must be > 1", self.batch_max_growth > 1),
            ("max_attempts must be >= 1", self.max_attempts >= 1),
            ("lock_timeout_ms must be > 0", self.lock_timeout_ms > 0),
            ("workers must be >= 1", self.workers >= 1),
            ("ranges_per_worker must be >= 1", self.ranges_per_worker >= 1),
            ("lease_s must be > 0", self.lease_s > 0),
            ("reconnect_max_s must be >= 0", self.reconnect_max_s >= 0),
            ("nice_ratio must be >= 0", self.nice_ratio >= 0),
            (
                "max_rows_per_second must be > 0",
                self.max_rows_per_second is None or self.max_rows_per_second > 0,
            ),
            (
                "pause_on_autovacuum must be any, wraparound or off",
                self.pause_on_autovacuum in ("any", "wraparound", "off"),
            ),
            ("clear_checks must be >= 1", self.clear_checks >= 1),
            (
                "verify_by must be auto, ctid or keyset",
                self.verify_by in ("auto", "ctid", "keyset"),
            ),
        ]
        for message, ok in checks:
            if not ok:
                raise ConfigError(f"invalid backfill setting: {message}")

    @property
    def batch_statement_timeout_ms(self) -> int:
        if self.statement_timeout_ms is not None:
            return self.statement_timeout_ms
        return int(max(2000.0, 10 * self.batch_target_ms))

    def replace(self, **changes: object) -> BackfillSettings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
