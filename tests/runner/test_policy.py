from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from expandcontract.runner import RetryPolicy


@given(attempt=st.integers(1, 60), seed=st.integers(0, 2**32))
def test_backoff_is_jittered_and_capped(attempt: int, seed: int) -> None:
    policy = RetryPolicy(base_delay_ms=100, max_delay_ms=5000)
    delay = policy.delay_ms(attempt, random.Random(seed))
    window = min(5000, 100 * 2 ** (attempt - 1))
    assert window / 4 <= delay <= window <= 5000


def test_backoff_grows_until_the_cap() -> None:
    policy = RetryPolicy(base_delay_ms=100, max_delay_ms=5000)
    rng = random.Random(1)
    means = [sum(policy.delay_ms(a, rng) for _ in range(200)) / 200 for a in range(1, 10)]
    assert means[0] < means[2] < means[4] < means[6]
    assert means[-1] <= 5000


def test_jitter_spreads_simultaneous_retries() -> None:
    policy = RetryPolicy()
    delays = {round(policy.delay_ms(5, random.Random(s))) for s in range(20)}
    assert len(delays) > 10
