"""Pure-logic tests: batch sizing controller, spec parsing, governor hysteresis, metrics."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expandcontract.backfill import BackfillSettings, BackfillSpec, parse_assignment
from expandcontract.backfill.errors import BackfillInputError
from expandcontract.backfill.metrics import render
from expandcontract.backfill.progress import ProgressTracker
from expandcontract.backfill.sizing import BatchSizer
from expandcontract.backfill.throttles.base import ProbeContext, Reading
from expandcontract.backfill.throttles.governor import Governor
from expandcontract.backfill.throttles.rate import RateCap
from expandcontract.errors import ConfigError


def sizer(**kw: Any) -> BatchSizer:
    return BatchSizer.from_settings(BackfillSettings(**kw))


@given(st.lists(st.tuples(st.integers(1, 100_000), st.floats(0.01, 60_000)), max_size=60))
def test_sizer_stays_in_bounds_and_grows_at_most_1_5x(samples: list[tuple[int, float]]) -> None:
    s = sizer()
    for rows, ms in samples:
        before = s.size
        after = s.observe(min(rows, before), ms)
        assert s.min_rows <= after <= s.max_rows
        assert after <= max(s.min_rows, before * 1.5) + 1


@given(st.floats(0.001, 5.0), st.floats(50, 1000))
@settings(max_examples=200)
def test_sizer_converges_to_target_for_linear_cost(ms_per_row: float, target: float) -> None:
    s = sizer(batch_target_ms=target, batch_max_rows=10_000_000)
    for _ in range(80):
        s.observe(s.size, s.size * ms_per_row)
    ideal = target / ms_per_row
    if s.min_rows < ideal < s.max_rows:
        assert abs(s.size * ms_per_row - target) <= 0.1 * target + ms_per_row


def test_sizer_panics_far_over_target() -> None:
    s = sizer(batch_target_ms=200)
    assert s.observe(1000, 1500) == 100  # 7.5x over target: cut to a tenth at once
    s2 = sizer(batch_target_ms=200)
    assert s2.observe(1000, 400) == 500  # 2x over: proportional shrink


@given(st.integers(1, 50_000))
def test_split_halves_down_to_one(start: int) -> None:
    s = sizer()
    s.size = start
    seen = [s.split() for _ in range(20)]
    assert seen[0] == max(1, start // 2)
    assert seen[-1] == 1
    assert all(b <= a for a, b in itertools.pairwise(seen))


def test_short_last_batch_does_not_grow() -> None:
    s = sizer()
    assert s.observe(10, 1.0) == 1000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("b = a * 2", ("b", "a * 2")),
        ('"Mixed Col" = lower(x)', ("Mixed Col", "lower(x)")),
        ("New_Col= coalesce(a, 0) = 1", ("new_col", "coalesce(a, 0) = 1")),
    ],
)
def test_parse_assignment(text: str, expected: tuple[str, str]) -> None:
    assert parse_assignment(text) == expected


@pytest.mark.parametrize("text", ["b == a", "= a", "b =", "just text"])
def test_parse_assignment_rejects(text: str) -> None:
    with pytest.raises(BackfillInputError):
        parse_assignment(text)


@pytest.mark.parametrize(
    ("assignments", "where", "message"),
    [
        ({"n": "1) WHERE false; DELETE FROM victim; UPDATE t SET n = (1"}, None,
         "--set n = '1) WHERE false; DELETE FROM victim; UPDATE t SET n = (1' closes a bracket"),
        ({"n": "1; DELETE FROM victim"}, None, "contains ';'"),
        ({"n": "1 -- rest"}, None, "contains a comment"),
        ({"n": "1, m = 2"}, None, "is not one SQL expression"),
        ({"n": "1"}, "true); DELETE FROM victim; SELECT (true", "--where 'true); DELETE"),
        ({"n": "1"}, "n IS NULL) OR (true", "closes a bracket it did not open"),
    ],
)  # fmt: skip
def test_spec_takes_exactly_one_expression_each(
    assignments: dict[str, str], where: str | None, message: str
) -> None:
    with pytest.raises(BackfillInputError) as info:
        BackfillSpec.build(table="t", assignments=assignments, where=where)
    assert message in info.value.message
    assert info.value.hint is not None and info.value.hint.endswith("nothing was run")
    assert info.value.exit_code == 2


def test_expressions_are_checked_before_connecting() -> None:
    from expandcontract.backfill import run_backfill

    unreachable = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"
    with pytest.raises(BackfillInputError, match="contains ';'"):
        run_backfill(unreachable, table="t", assignments={"n": "1; DELETE FROM victim"})


def test_spec_checksum_depends_on_every_part() -> None:
    base = {"table": "t", "assignments": {"b": "a"}, "where": None, "keys": None}
    a = BackfillSpec.build(**base)  # type: ignore[arg-type]
    assert a.checksum == BackfillSpec.build(**base).checksum  # type: ignore[arg-type]
    for change in (
        {"table": "u"},
        {"assignments": {"b": "a + 1"}},
        {"where": "b IS NULL"},
        {"keys": ["id"]},
    ):
        assert BackfillSpec.build(**{**base, **change}).checksum != a.checksum  # type: ignore[arg-type]
    assert BackfillSpec.from_dict(a.as_dict()) == a


def test_settings_validation() -> None:
    with pytest.raises(ConfigError):
        BackfillSettings(batch_start_rows=5, batch_min_rows=10)
    with pytest.raises(ConfigError):
        BackfillSettings(pause_on_autovacuum="sometimes")


class FakeSignal:
    def __init__(self, name: str, values: list[Reading]) -> None:
        self.name = name
        self.values = values

    def read(self, ctx: ProbeContext) -> Reading:
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


def test_governor_hysteresis_needs_consecutive_clear_checks() -> None:
    breach, middle, clear = Reading.stop("high"), Reading(False, False, "mid"), Reading.ok()
    # breached, then between thresholds (still paused), clear, between (reset), clear, clear.
    signal = FakeSignal("lag", [breach, middle, clear, middle, clear, clear, clear])
    emitted: list[tuple[str, dict[str, Any]]] = []
    sleeps: list[float] = []
    gov = Governor(
        [signal],
        ProbeContext(None, 0, "x"),  # type: ignore[arg-type]
        BackfillSettings(clear_checks=2, backoff_min_s=1, backoff_max_s=4),
        emit=lambda k, d: emitted.append((k, d)),
        heartbeat=lambda r: None,
        sleep=sleeps.append,
        clock=lambda: 0.0,
    )
    gov.wait_until_clear(force=True)
    assert [k for k, _ in emitted] == ["throttle", "resume"]
    assert emitted[0][1]["reasons"] == ["lag"]
    assert len(sleeps) == 5  # resumed only after two clear checks in a row
    assert max(sleeps) <= 4 and sleeps[1] >= sleeps[0] / 4  # backoff grows, capped


def test_rate_cap_paces_to_the_cap() -> None:
    now = [0.0]
    cap = RateCap(1000, lambda: 2, clock=lambda: now[0])  # 500 rows/s each for 2 workers
    total_sleep = 0.0
    for _ in range(10):
        delay = cap.delay_after(100)
        total_sleep += delay
        now[0] += delay
    assert total_sleep == pytest.approx(10 * 100 / 500)


def test_metrics_render_prometheus_text() -> None:
    tracker = ProgressTracker('bf "x"', "public.t", "integer", 100)
    tracker.observe(
        {
            "event": "batch",
            "rows_scanned": 10,
            "rows_updated": 7,
            "next_batch_size": 15,
            "duration_ms": 12.0,
        }
    )
    tracker.observe({"event": "throttle", "detail": "replica lag 7s > 5s"})
    text = render(tracker.snapshot())
    assert 'ec_backfill_rows_updated_total{name="bf \\"x\\"",table="public.t"} 7' in text
    assert "# TYPE ec_backfill_batches_total counter" in text
    assert 'ec_backfill_throttled{name="bf \\"x\\"",table="public.t"} 1' in text
    assert 'reason="replica lag 7s > 5s"' in text


def test_progress_total_is_refined_by_key_position() -> None:
    tracker = ProgressTracker("bf", "public.t", "integer", 1000)  # stale reltuples
    tracker.key_span = (1, 100_000)
    tracker.observe(
        {
            "event": "batch",
            "phase": "backfill",
            "rows_scanned": 5000,
            "rows_updated": 5000,
            "cursor": ["10000"],
        }
    )
    # 5,000 rows seen in the first tenth of the key range: about 50,000 rows in all.
    assert tracker.snapshot()["rows_total_estimate"] == 50_000
