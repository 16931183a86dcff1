"""Static check: a version's MetaData against what its schema exposes.

Breaks the app: a missing table or column; an incompatible type (narrowing or a different
kind); a NOT NULL column without default that the app never writes (every INSERT fails) or
declares nullable; a unique or check constraint that appeared while the app is live and that
the app does not declare (its writes can violate it).
"""

from __future__ import annotations

from sqlalchemy import MetaData

from expandcontract.operations.state import PREFIX
from expandcontract.verify.catalog import Relation
from expandcontract.verify.mapping import VersionMap
from expandcontract.verify.seed import server_generated, unique_groups
from expandcontract.verify.types import app_kind, db_kind, incompatibility


def check_version(
    metadata: MetaData,
    rels: dict[str, Relation],
    *,
    schema: str,
    version: str,
    trigger_filled: dict[str, set[str]] | None = None,
    baseline: set[tuple[str, str]] | None = None,
) -> list[str]:
    """Problems, each one sentence naming the table and column; empty when compatible.

    ``trigger_filled``: per table, columns ec's dual-write trigger computes for this version's
    writes. ``baseline``: (table, constraint) pairs that existed before the migration.
    """
    filled = trigger_filled or {}
    problems: list[str] = []
    for table in metadata.sorted_tables:
        rel = rels.get(table.name)
        if rel is None:
            problems.append(
                f"missing table: the {version} version uses {table.name}, "
                f"which schema {schema} does not have"
            )
            continue
        for column in table.columns:
            db = rel.columns.get(column.name)
            if db is None:
                known = ", ".join(c for c in rel.columns if not c.startswith(PREFIX))
                problems.append(
                    f"missing column: the {version} version uses {table.name}.{column.name}, "
                    f"which {schema}.{table.name} does not have (it has: {known})"
                )
                continue
            reason = incompatibility(app_kind(column.type), db_kind(db.type))
            if reason:
                problems.append(f"incompatible type of {table.name}.{column.name}: {reason}")
            app_fills = server_generated(column) or column.default is not None
            app_fills = app_fills or column.server_default is not None
            if (
                rel.kind != "v"
                and db.not_null
                and column.nullable
                and not db.has_default
                and not app_fills
            ):
                problems.append(
                    f"NOT NULL without default: {table.name}.{column.name} requires a value, "
                    f"but the {version} version declares it nullable and may write NULL"
                )
        if rel.kind == "v":
            continue  # views carry no NOT NULL or constraints: the dynamic check covers them
        declared = {c.name for c in table.columns}
        for db in rel.columns.values():
            if db.name in declared or db.name.startswith(PREFIX):
                continue
            if db.name in filled.get(table.name, set()):
                continue
            if db.not_null and not db.has_default and not db.generated:
                problems.append(
                    f"NOT NULL without default: {table.name}.{db.name} requires a value on every "
                    f"INSERT, but the {version} version never writes it"
                )
        if baseline is not None:
            problems += _new_constraints(table.name, rel, metadata, version, baseline, declared)
    return problems


def _new_constraints(
    table_name: str,
    rel: Relation,
    metadata: MetaData,
    version: str,
    baseline: set[tuple[str, str]],
    declared: set[str],
) -> list[str]:
    table = metadata.tables[table_name]
    uniques = {frozenset(g) for g in unique_groups(table)}
    problems = []
    for constraint in rel.constraints:
        if (table_name, constraint.name) in baseline or constraint.kind == "p":
            continue
        written = [c for c in constraint.columns if c in declared and not c.startswith(PREFIX)]
        if not written or any(c.startswith(PREFIX) for c in constraint.columns):
            continue
        if constraint.kind in ("u", "i"):
            if frozenset(constraint.columns) in uniques:
                continue
            problems.append(
                f"new unique constraint {constraint.name} on {table_name}"
                f"({', '.join(constraint.columns)}): the {version} version does not declare "
                "these columns unique, so its writes can violate it"
            )
        elif constraint.kind == "c" and " IS NOT NULL" not in constraint.definition:
            problems.append(
                f"new check constraint {constraint.name} on {table_name} "
                f"({constraint.definition}): the {version} version does not declare it and "
                "writes these columns, so its writes can violate it"
            )
    return problems


def check_crossing(old: MetaData, new_rels: dict[str, Relation], vmap: VersionMap) -> list[str]:
    """Values the old version writes must fit where the new version keeps them: a column the
    migration narrows overflows on the old version's writes (through ``up``)."""
    problems = []
    for link in vmap.tables.values():
        table, rel = old.tables.get(link.old), new_rels.get(link.new)
        if table is None or rel is None:
            continue
        for column_link in link.columns:
            column, db = table.columns.get(column_link.old), rel.columns.get(column_link.new)
            if column is None or db is None:
                continue
            reason = incompatibility(app_kind(column.type), db_kind(db.type))
            if reason:
                reason = reason.replace("the app", "the old version")
                problems.append(
                    f"{link.old}.{column_link.old} -> {link.new}.{column_link.new}: the old "
                    f"version's values must fit the new column ({reason})"
                )
    return problems
