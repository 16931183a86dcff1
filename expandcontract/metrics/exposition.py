"""The Prometheus text exposition format (version 0.0.4), written by hand: no dependency.

Samples are grouped by metric family (one ``# HELP`` and ``# TYPE`` each, samples together),
label values escaped, numbers written so that large counters keep every digit."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence

Labels = Mapping[str, object]

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
KINDS = ("counter", "gauge", "histogram", "summary", "untyped")
# Step durations: DDL takes from milliseconds (a view) to minutes (an index on a big table).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                    60.0, 300.0, 900.0)  # fmt: skip


def escape_label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """Integers as integers (a counter at 1,234,567 stays exact), NaN and infinities as
    Prometheus spells them, other floats in Python's shortest round-trip form."""
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return repr(number)


def format_labels(labels: Labels) -> str:
    if not labels:
        return ""
    for name in labels:
        if not _LABEL.match(name) or name.startswith("__"):
            raise ValueError(f"invalid label name {name!r}")
    inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


@dataclasses.dataclass
class _Family:
    kind: str
    help: str
    lines: list[str] = dataclasses.field(default_factory=list)
    series: set[str] = dataclasses.field(default_factory=set)


class Exposition:
    """``add`` samples in any order; ``text()`` writes each family once, in first-added order."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}

    def declare(self, name: str, kind: str, help_text: str) -> _Family:
        if not _NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        if kind not in KINDS:
            raise ValueError(f"invalid metric type {kind!r}")
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = _Family(kind, help_text)
        elif family.kind != kind:
            raise ValueError(f"metric {name} declared as {family.kind} and {kind}")
        return family

    def add(self, name: str, kind: str, help_text: str, labels: Labels, value: float) -> None:
        family = self.declare(name, kind, help_text)
        self._sample(family, name, labels, value)

    def histogram(
        self,
        name: str,
        help_text: str,
        labels: Labels,
        observations: Sequence[float],
        buckets: Sequence[float] = DURATION_BUCKETS,
    ) -> None:
        """Cumulative ``_bucket`` samples (``le``), ``_sum`` and ``_count`` of the values."""
        family = self.declare(name, "histogram", help_text)
        for bound in (*buckets, math.inf):
            count = sum(1 for v in observations if v <= bound)
            le = "+Inf" if math.isinf(bound) else format_value(bound)
            self._sample(family, f"{name}_bucket", {**labels, "le": le}, count)
        self._sample(family, f"{name}_sum", labels, round(sum(observations), 6))
        self._sample(family, f"{name}_count", labels, len(observations))

    def _sample(self, family: _Family, name: str, labels: Labels, value: float) -> None:
        series = f"{name}{format_labels(labels)}"
        if series in family.series:
            raise ValueError(f"duplicate series {series}")
        family.series.add(series)
        family.lines.append(f"{series} {format_value(value)}")

    def text(self) -> str:
        out: list[str] = []
        for name, family in self._families.items():
            if not family.lines:
                continue
            out.append(f"# HELP {name} {escape_help(family.help)}")
            out.append(f"# TYPE {name} {family.kind}")
            out.extend(family.lines)
        return "\n".join(out) + "\n" if out else ""
