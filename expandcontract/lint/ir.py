"""The linter's own operation model. Rules read only these records, never sqlglot classes,
so a sqlglot upgrade that reshapes its tree changes ``build.py``/``classify.py`` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class K(StrEnum):
    """Operation kinds."""

    CREATE_TABLE = "create_table"
    ADD_COLUMN = "add_column"
    ALTER_TYPE = "alter_column_type"
    SET_NOT_NULL = "set_not_null"
    DROP_NOT_NULL = "drop_not_null"
    SET_DEFAULT = "set_default"
    DROP_DEFAULT = "drop_default"
    ADD_CONSTRAINT = "add_constraint"
    VALIDATE_CONSTRAINT = "validate_constraint"
    DROP_COLUMN = "drop_column"
    DROP_CONSTRAINT = "drop_constraint"
    RENAME_COLUMN = "rename_column"
    RENAME_TABLE = "rename_table"
    RENAME_OBJECT = "rename_object"
    SET_TABLESPACE = "set_tablespace"
    SET_LOGGED = "set_logged"
    SET_ACCESS_METHOD = "set_access_method"
    SET_STORAGE = "set_storage_params"
    SET_SCHEMA = "set_schema"
    ATTACH_PARTITION = "attach_partition"
    DETACH_PARTITION = "detach_partition"
    REPLICA_IDENTITY = "replica_identity"
    ALTER_IDENTITY = "alter_identity"
    DROP_EXPRESSION = "drop_expression"
    CREATE_INDEX = "create_index"
    DROP_INDEX = "drop_index"
    REINDEX = "reindex"
    VACUUM = "vacuum"
    CLUSTER = "cluster"
    LOCK_TABLE = "lock_table"
    TRUNCATE = "truncate"
    DROP = "drop_object"  # detail["object"]: TABLE, SCHEMA, VIEW, …
    SET = "set"
    BEGIN = "begin"
    COMMIT = "commit"
    ROLLBACK = "rollback"
    SAVEPOINT = "savepoint"
    UPDATE = "update"
    DELETE = "delete"
    INSERT = "insert"
    SELECT = "select"
    CREATE_TRIGGER = "create_trigger"
    CREATE_FUNCTION = "create_function"
    DO = "do_block"
    ENUM_ADD_VALUE = "enum_add_value"
    CREATE_DOMAIN = "create_domain"
    ALTER_DOMAIN_ADD_CONSTRAINT = "alter_domain_add_constraint"
    REFRESH_MATVIEW = "refresh_materialized_view"
    CREATE_MATVIEW = "create_materialized_view"
    OTHER_TABLE_ALTER = "other_table_alter"  # understood, no lock rule applies (OWNER TO, …)
    HARMLESS = "harmless"  # understood and irrelevant to locking (COMMENT, GRANT, CREATE VIEW, …)
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str = ""  # PostgreSQL type name as written, lower case, e.g. "varchar(20)"
    not_null: bool = False
    default: str | None = None  # rendered default expression
    volatile_default: bool = False
    generated_stored: bool = False
    identity: bool = False
    primary_key: bool = False
    references: str | None = None  # referenced table of an inline REFERENCES


@dataclass
class Op:
    kind: K
    table: str | None = None  # target relation, lower case, schema-qualified as written
    name: str | None = None  # index / constraint / object name
    column: ColumnSpec | None = None
    concurrently: bool = False
    if_exists: bool = False  # IF EXISTS / IF NOT EXISTS
    not_valid: bool = False
    cascade: bool = False
    unique: bool = False
    using_index: bool = False
    has_where: bool = False
    # extra facts by kind: constraint "type" (check/foreign_key/unique/primary_key/exclude/
    # not_null), "ref_table", "new_type", "mode", "object", "value", "setting", "full", …
    detail: dict[str, str] = field(default_factory=dict)
    columns: tuple[ColumnSpec, ...] = ()  # CREATE TABLE columns
    # where the op really is when it comes from a DO block / function body
    origin: str = ""  # "", "do-block", "function-body"
    line: int | None = None
    col: int | None = None


@dataclass
class Statement:
    text: str
    line: int
    column: int
    ops: list[Op] = field(default_factory=list)
    ignores: set[str] = field(default_factory=set)
    ignore_all: bool = False
    unparsed_reason: str | None = None  # syntax error: sqlglot could not parse it

    @property
    def kinds(self) -> set[K]:
        return {op.kind for op in self.ops}
