"""Throttle signals (one module each) and the governor that pauses the run on any of them."""

from expandcontract.backfill.throttles.autovacuum import AutovacuumOnTable
from expandcontract.backfill.throttles.base import ProbeContext, Reading, Signal
from expandcontract.backfill.throttles.blocking import BlockedSessions, BlockingWatch
from expandcontract.backfill.throttles.dead_tuples import DeadTuples
from expandcontract.backfill.throttles.governor import Governor
from expandcontract.backfill.throttles.health import HealthCommand, HealthUrl
from expandcontract.backfill.throttles.lag import ReplicaLag
from expandcontract.backfill.throttles.manual import ManualPause
from expandcontract.backfill.throttles.rate import RateCap
from expandcontract.backfill.throttles.sessions import ActiveSessions

__all__ = [
    "ActiveSessions",
    "AutovacuumOnTable",
    "BlockedSessions",
    "BlockingWatch",
    "DeadTuples",
    "Governor",
    "HealthCommand",
    "HealthUrl",
    "ManualPause",
    "ProbeContext",
    "RateCap",
    "Reading",
    "ReplicaLag",
    "Signal",
]
