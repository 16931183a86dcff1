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
    # What a user configured on the column beyond its definition (None / empty: the default).
    comment: str | None = None
    statistics: int | None = None  # SET STATISTICS
    options: list[str] = dataclasses.field(default_factory=list)  # SET (n_distinct=…)
    storage: str | None = None  # SET STORAGE letter (p, e, m, x) when not the type's default
    compression: str = ""  # SET COMPRESSION letter (p pglz, l lz4), "" the server default
    collation: str | None = None  # COLLATE, as SQL, when not the type's default collation


@dataclasses.dataclass(frozen=True)
class Grant:
    """One privilege from an ACL (aclexplode): role name or PUBLIC."""

    role: str
    privilege: str  # SELECT, INSERT, UPDATE, DELETE, REFERENCES, …
    grantable: bool = False


@dataclasses.dataclass(frozen=True)
class TypeTraits:
    """What a type allows a column of it to keep: a storage other than PLAIN (and compression)
    only for TOAST-able types, a collation only for collatable ones."""

    storage: str  # pg_type.typstorage
    collatable: bool

    @property
    def toastable(self) -> bool:
        return self.storage != "p"


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
    # What a copy must repeat besides the columns.
    nulls_not_distinct: bool = False  # UNIQUE NULLS NOT DISTINCT (PostgreSQL 15+)
    options: list[str] = dataclasses.field(default_factory=list)  # WITH (fillfactor=…)
    tablespace: str | None = None  # TABLESPACE, as SQL, when not the database default
    comment: str | None = None
    clustered: bool = False  # ALTER TABLE … CLUSTER ON
    replica_identity: bool = False  # ALTER TABLE … REPLICA IDENTITY USING INDEX


@dataclasses.dataclass
class Constraint:
    name: str
    kind: str  # p, u, c, f, x
    columns: list[str]
    definition: str  # pg_get_constraintdef()
    validated: bool = True
    index: str | None = None
    deferrable: bool = False
    deferred: bool = False  # INITIALLY DEFERRED
    comment: str | None = None


@dataclasses.dataclass
class Statistics:
    """An extended statistics object (CREATE STATISTICS) on a table."""

    name: str
    schema: str
    kinds: list[str]  # ndistinct, dependencies, mcv (expressions are implied)
    columns: list[str]  # plain column keys
    expressions: list[str]  # pg_get_statisticsobjdef_expressions()
    uses: list[str]  # every column it depends on
    target: int | None = None  # ALTER STATISTICS … SET STATISTICS
    comment: str | None = None


@dataclasses.dataclass
class Table:
    name: str
    columns: dict[str, Column] = dataclasses.field(default_factory=dict)
    indexes: dict[str, Index] = dataclasses.field(default_factory=dict)
    constraints: dict[str, Constraint] = dataclasses.field(default_factory=dict)
    statistics: list[Statistics] = dataclasses.field(default_factory=list)
    triggers: list[str] = dataclasses.field(default_factory=list)
    estimated_rows: int = 0
    kind: str = "r"  # r table, p partitioned table
    row_security: bool = False  # ALTER TABLE … ENABLE ROW LEVEL SECURITY

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
