"""A strict parser of the Prometheus text exposition format (0.0.4), for the tests: it
refuses what Prometheus would refuse, and what our own conventions forbid."""

from __future__ import annotations

import math
import re

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(\{{(.*)\}})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)')
_SUFFIXES = ("_bucket", "_sum", "_count")

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Invalid(AssertionError):
    pass


def _value(text: str) -> float:
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"-?\d+(\.\d+)?([eE][+-]?\d+)?", text):
        raise Invalid(f"bad value {text!r}")
    return float(text)


def _labels(text: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _LABEL.match(text, pos)
        if not match:
            raise Invalid(f"bad labels {text!r} at {pos}")
        raw = match.group(2)
        value = re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], raw)
        out.append((match.group(1), value))
        pos = match.end()
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise Invalid(f"duplicate label in {text!r}")
    return tuple(out)


def _enter(name: str, family: str | None, finished: set[str]) -> str:
    """The family a line belongs to; each family's lines must be contiguous."""
    if name != family:
        if family is not None:
            finished.add(family)
        if name in finished:
            raise Invalid(f"family {name} is not contiguous")
    return name


def parse(text: str) -> tuple[Series, dict[str, str]]:
    """(series -> value, family -> type). Raises Invalid on any format error."""
    if text and not text.endswith("\n"):
        raise Invalid("the exposition must end with a newline")
    types: dict[str, str] = {}
    helps: set[str] = set()
    series: Series = {}
    finished: set[str] = set()
    family: str | None = None
    for line in text.splitlines():
        if not line:
            raise Invalid("empty line")
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if parts[1] not in ("HELP", "TYPE") or len(parts) < 4:
                raise Invalid(f"bad comment {line!r}")
            name = parts[2]
            if not re.fullmatch(_NAME, name):
                raise Invalid(f"bad metric name {name!r}")
            family = _enter(name, family, finished)
            if parts[1] == "TYPE":
                if name in types:
                    raise Invalid(f"second TYPE for {name}")
                if parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    raise Invalid(f"bad type {parts[3]!r}")
                types[name] = parts[3]
            else:
                if name in helps:
                    raise Invalid(f"second HELP for {name}")
                helps.add(name)
            continue
        match = _SAMPLE.match(line)
        if not match:
            raise Invalid(f"bad sample line {line!r}")
        name, _, labels, value = match.groups()
        base = next((name[: -len(s)] for s in _SUFFIXES if name.endswith(s)), name)
        owner = base if types.get(base) in ("histogram", "summary") else name
        if owner not in types:
            raise Invalid(f"sample {name} before its TYPE")
        family = _enter(owner, family, finished)
        if types[owner] == "counter" and not name.endswith("_total"):
            raise Invalid(f"counter {name} without _total")
        key = (name, _labels(labels or ""))
        if key in series:
            raise Invalid(f"duplicate series {line!r}")
        series[key] = _value(value)
        if types[owner] == "counter" and (series[key] < 0 or math.isnan(series[key])):
            raise Invalid(f"negative counter {line!r}")
    _check_histograms(series, types)
    return series, types


def _check_histograms(series: Series, types: dict[str, str]) -> None:
    for name, kind in types.items():
        if kind != "histogram":
            continue
        groups: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        for (sample, labels), value in series.items():
            if sample == f"{name}_bucket":
                rest = tuple(kv for kv in labels if kv[0] != "le")
                le = dict(labels)["le"]
                groups.setdefault(rest, []).append((_value(le), value))
        for rest, buckets in groups.items():
            counts = [v for _, v in sorted(buckets)]
            if counts != sorted(counts):
                raise Invalid(f"{name} buckets not cumulative")
            if max(b for b, _ in buckets) != math.inf:
                raise Invalid(f"{name} has no +Inf bucket")
            if series.get((f"{name}_count", rest)) != counts[-1]:
                raise Invalid(f"{name}_count differs from the +Inf bucket")
            if (f"{name}_sum", rest) not in series:
                raise Invalid(f"{name}_sum missing")


def value(series: Series, metric: str, /, **labels: str) -> float:
    """The one series of ``metric`` whose labels include ``labels``."""
    found = [v for (n, ls), v in series.items() if n == metric and labels.items() <= set(ls)]
    if len(found) != 1:
        raise AssertionError(f"{len(found)} series of {metric} with {labels}")
    return found[0]
