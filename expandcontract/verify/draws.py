"""Drawing examples from a hypothesis strategy in library code, reproducibly from a seed.

Hypothesis forbids ``.example()`` outside tests, so a ``@given`` collector runs hypothesis'
own engine (generation phase only, seeded, no example database) and keeps every example it
draws: the simplest one first, then boundaries, empty values and NULLs as hypothesis favours
them. One example per row costs ~0.5 ms, but drawing many rows per example (``st.data()``)
repeats whole rows, because hypothesis mutates an example by duplicating its parts.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from expandcontract.errors import ECError

_LOCK = threading.Lock()  # one engine at a time: workloads draw from several threads


def derive_seed(*parts: object) -> int:
    """A seed for one stream of draws (stable across processes, unlike ``hash``)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def draw(strategy: st.SearchStrategy[Any], n: int, seed: int) -> list[Any]:
    """Up to ``n`` distinct examples of ``strategy``, the same ones for the same seed. Fewer
    only when hypothesis has exhausted the strategy (it holds fewer than ``n`` values)."""
    drawn: list[Any] = []

    @hypothesis_seed(seed)
    @settings(
        database=None,
        max_examples=n,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
    )
    @given(strategy)
    def collect(example: Any) -> None:
        drawn.append(example)

    with _LOCK:
        collect()
    if not drawn:
        raise ECError(
            "hypothesis drew no example for the seed rows",
            "the column types leave no value to generate; check the models",
        )
    return drawn
