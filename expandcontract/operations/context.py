"""What operations see while they build their steps: the physical schema as introspected, the
new version's logical state, and what validation learned from the live database."""

from __future__ import annotations

import dataclasses
import re

from psycopg import sql

from expandcontract.operations.base import MigrationInvalid
from expandcontract.operations.state import VersionState
from expandcontract.schema.model import Grant, Schema, TypeTraits

REFERENCE = re.compile(
    r"^\s*(?P<table>[A-Za-z_][A-Za-z0-9_$]*)\s*(?:\(\s*(?P<col>[A-Za-z_][A-Za-z0-9_$]*)\s*\))?\s*$"
)


@dataclasses.dataclass
class PhaseContext:
    schema: str  # the base schema holding the physical tables
    version_schema: str  # the new version's schema of views
    physical: Schema
    state: VersionState
    fast_defaults: dict[tuple[str, str], bool] = dataclasses.field(default_factory=dict)
    # Read by engine.grants.read_carried_over. Who may use the base schema, its tables and
    # columns: the version schema grants the same, a twin gets its column's privileges.
    schema_usage: list[str] = dataclasses.field(default_factory=list)
    table_grants: dict[str, list[tuple[str, str]]] = dataclasses.field(default_factory=dict)
    column_grants: dict[tuple[str, str], list[Grant]] = dataclasses.field(default_factory=dict)
    # Traits of the types twin columns get, by type name as the migration spells it.
    type_traits: dict[str, TypeTraits] = dataclasses.field(default_factory=dict)

    def table_ref(self, table: str) -> sql.Identifier:
        return sql.Identifier(self.schema, table)

    def reference(self, ref: str) -> sql.Composed:
        """``users`` or ``users(id)`` (a column's ``references``) -> a qualified target."""
        m = REFERENCE.match(ref)
        if not m:
            raise MigrationInvalid(f"references must look like table or table(column), got {ref!r}")
        target = sql.Identifier(self.schema, m.group("table"))
        if m.group("col"):
            return sql.SQL("{} ({})").format(target, sql.Identifier(m.group("col")))
        return sql.SQL("{}").format(target)

    def is_fast_default(self, type_: str, default: str) -> bool:
        """Whether ADD COLUMN … DEFAULT is catalog-only (probed by validation; unknown = no)."""
        return self.fast_defaults.get((type_, default), False)
