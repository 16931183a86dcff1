"""Cross-version checks: rows one version wrote as the other version reads them
(:func:`read_across`), and cross-version writes on one row for every derived column
(:func:`write_across`).

The writes: the version that reads the derived column first writes it itself (so its value is
not what the expression gives), then the other version changes a column the expression reads,
and the derived column must now be the expression over that row. The concurrent workloads keep
each row to one version (read-your-writes stays deterministic), so this step is where a
derivation that is computed only on insert - or only for one version's writes - shows: with
random data, an expression like ``split_part(email, '@', 2)`` gives the same result before and
after most changes, unless the reader's own value is there first.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Any

import psycopg

from expandcontract.verify import invariants
from expandcontract.verify.compare import same, show
from expandcontract.verify.derived import Derivation, ExpressionFailed, Schemas, evaluate
from expandcontract.verify.mapping import VersionMap
from expandcontract.verify.tracker import Key, Tracker
from expandcontract.verify.workload import Workload, Writer, updatable

ROWS_PER_DERIVATION = 2


@dataclasses.dataclass
class Outcome:
    problems: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # version, text
    exercised: int = 0  # derivations written across versions
    rows: int = 0
    skipped: list[str] = dataclasses.field(default_factory=list)  # why a derivation was not

    def summary(self) -> str:
        text = (
            f"derived columns follow cross-version writes: {self.exercised} derivations, "
            f"{self.rows} rows written by one version and read by the other"
        )
        if self.skipped:
            text += f" (not exercised: {'; '.join(self.skipped)})"
        return text


def read_across(
    conn: psycopg.Connection[Any],
    vmap: VersionMap,
    tracker: Tracker,
    derived: list[Derivation],
    schemas: Schemas,
    base_schema: str,
    *,
    before_backfill: bool,
    pending_reported: bool = False,
) -> list[invariants.Problem]:
    """The invariants over the rows the workloads wrote. Before the backfill only rows already
    converted count; later a row still pending is a finding of its own (unless the backfill
    check already reported it), not a value lost in every column."""
    pending = invariants.pending_keys(conn, base_schema, schemas.old_md)
    problems = invariants.cross_read(
        conn,
        vmap,
        tracker,
        derived,
        schemas=schemas,
        exclude=pending if before_backfill else None,
    )
    problems += invariants.lost_values(conn, vmap, tracker, exclude=pending, schemas=schemas)
    if not before_backfill and not pending_reported:
        problems += [
            ("new", p) for p in invariants.pending_rows(conn, base_schema, derived, schemas)
        ]
    return problems


def write_across(
    connect: Callable[[], psycopg.Connection[Any]],
    writers: dict[str, Writer],
    derived: list[Derivation],
    seeded: dict[str, dict[str, list[Key]]],
    schemas: Schemas,
    seed: int,
) -> Outcome:
    out = Outcome()
    rng = random.Random(seed)
    used: set[tuple[str, Key]] = set()
    for d in derived:
        source, target = writers[d.source], writers[d.target]
        s_table = source.metadata.tables.get(d.table(d.source))
        t_table = target.metadata.tables.get(d.table(d.target))
        if s_table is None or t_table is None:
            continue
        readable = sorted(set(d.reads or ()) & set(updatable(s_table)))
        if d.reads is None or not readable:
            out.skipped.append(f"{d.name}: the {d.source} version writes nothing it reads")
            continue
        # rows no other derivation touched: before the backfill, still never computed
        keys = [k for k in seeded[d.source].get(s_table.name) or [] if (d.old_table, k) not in used]
        chosen = rng.sample(keys, k=min(ROWS_PER_DERIVATION, len(keys)))
        used.update((d.old_table, k) for k in chosen)
        exercised = False
        for i, key in enumerate(chosen):
            # the first row: the reader's own value first, so a derived column left as it
            # was shows; the second as it is (before the backfill: a row never computed)
            if i == 0 and d.column in updatable(t_table):
                Workload(target, rng.getrandbits(32)).update(t_table, key, [d.column])
            column = rng.choice(readable)
            written = Workload(source, rng.getrandbits(32)).update(s_table, key, [column])
            if written is None:
                continue  # the failed write is reported with the dynamic checks
            exercised = True
            out.rows += 1
            problem = _check(connect, d, key, column, written[column], schemas)
            if problem is not None:
                out.problems.append((d.target, problem))
                break  # one row says it; the next derivation
        out.exercised += exercised
    return out


def _check(
    connect: Callable[[], psycopg.Connection[Any]],
    d: Derivation,
    key: Key,
    column: str,
    value: Any,
    schemas: Schemas,
) -> str | None:
    with connect() as conn:
        try:
            result = evaluate(conn, d, [key], schemas)
        except ExpressionFailed as failed:
            return failed.describe(schemas)
    if key not in result:
        return None  # the row is gone for one version: the shared-column check reports it
    want, got = result[key]
    if same(want, got):
        return None
    return (
        f"derived column out of date: the {d.target} version reads {d.name} = {show(got)} "
        f"for row {key} after the {d.source} version changed {d.table(d.source)}.{column} to "
        f"{show(value)}; expected {show(want)} ({d.describe()} over the {d.source} version's "
        f"row as it is now). While both versions are live, ec's dual-write trigger must keep "
        f"{d.column} equal to its expression whenever a column the expression reads changes, "
        "whichever version changes it, also on rows the backfill has not reached yet"
    )
