"""When to retry a statement and how long to wait: capped exponential backoff with full jitter."""

from __future__ import annotations

import dataclasses
import random

import psycopg.errors

from expandcontract.config import Settings

# Errors that say "someone else had the lock / the row", not "your SQL is wrong".
RETRYABLE = (
    psycopg.errors.LockNotAvailable,  # 55P03: lock_timeout expired
    psycopg.errors.DeadlockDetected,  # 40P01
    psycopg.errors.SerializationFailure,  # 40001
)


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    lock_timeout_ms: int = 500
    statement_timeout_ms: int = 600_000
    max_attempts: int = 12
    max_total_ms: int = 60_000
    base_delay_ms: int = 100
    max_delay_ms: int = 5_000

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            lock_timeout_ms=settings.lock_timeout_ms,
            statement_timeout_ms=settings.statement_timeout_ms,
            max_attempts=settings.retry_max_attempts,
            max_total_ms=settings.retry_max_ms,
        )

    def delay_ms(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full jitter (AWS style): uniform in [0, min(cap, base * 2^(attempt-1))].

        Jitter matters: several ec workers retrying in lockstep would keep colliding.
        A floor of a quarter of the window keeps the backoff from collapsing to 0.
        """
        window = min(self.max_delay_ms, self.base_delay_ms * 2 ** max(0, attempt - 1))
        return (rng or random).uniform(window / 4, window)


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, RETRYABLE)
