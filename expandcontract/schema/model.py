"""An in-memory picture of a schema: what introspection reads and what validation reasons about."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Column:
    name: str
    type: str  # format_type(): "integer", "character varying(20)", "numeric(10,2)"
    nullable: bool = True
    default: str | None = None  # pg_get_expr() of the default, as SQL
    identity: str = ""  # "a" (ALWAYS), "d" (BY DEFAULT) or ""
    generated: bool = False


@dataclasses.dataclass
class Index:
    name: str
    columns: list[str]  # plain column names; expressions appear as their SQL text
    unique: bool
    primary: bool
    valid: bool
    definition: str  # pg_get_indexdef()
    predicate: str | None = None
    # A plain btree: only column keys, default operator classes and ordering, no INCLUDE.
    plain: bool = True
    uses: list[str] = dataclasses.field(default_factory=list)  # every column it depends on


@dataclasses.dataclass
class Constraint:
    name: str
    kind: str  # p, u, c, f, x
    columns: list[str]
    definition: str  # pg_get_constraintdef()
    validated: bool = True
    index: str | None = None


@dataclasses.dataclass
class Table:
    name: str
    columns: dict[str, Column] = dataclasses.field(default_factory=dict)
    indexes: dict[str, Index] = dataclasses.field(default_factory=dict)
    constraints: dict[str, Constraint] = dataclasses.field(default_factory=dict)
    triggers: list[str] = dataclasses.field(default_factory=list)
    estimated_rows: int = 0
    kind: str = "r"  # r table, p partitioned table

    @property
    def primary_key(self) -> list[str]:
        for c in self.constraints.values():
            if c.kind == "p":
                return list(c.columns)
        return []


@dataclasses.dataclass
class Schema:
    name: str
    tables: dict[str, Table] = dataclasses.field(default_factory=dict)
    views: set[str] = dataclasses.field(default_factory=set)
    server_version: int = 150000

    def index_owner(self, index: str) -> str | None:
        for table in self.tables.values():
            if index in table.indexes:
                return table.name
        return None

    def relation_names(self) -> set[str]:
        """Every name that a new table or view would collide with (indexes share the namespace)."""
        names = set(self.tables) | set(self.views)
        for table in self.tables.values():
            names |= set(table.indexes)
        return names
