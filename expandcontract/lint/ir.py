"""The linter's own operation model. Rules read only these records, never sqlglot classes,
so a sqlglot upgrade that reshapes its tree changes ``build.py``/``classify.py`` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NewType

from expandcontract.lint.pgtypes import PgType

Kind = NewType("Kind", str)


class K:
    """Operation kinds: plain string constants, not an Enum — an Enum costs ~3 ms to import
    and four times more per member access, and a lint run reads kinds ~100,000 times per
    1,000 files."""

    CREATE_TABLE = Kind("create_table")
    ADD_COLUMN = Kind("add_column")
    ALTER_TYPE = Kind("alter_column_type")
    SET_NOT_NULL = Kind("set_not_null")
    DROP_NOT_NULL = Kind("drop_not_null")
    SET_DEFAULT = Kind("set_default")
    DROP_DEFAULT = Kind("drop_default")
    ADD_CONSTRAINT = Kind("add_constraint")
    VALIDATE_CONSTRAINT = Kind("validate_constraint")
    DROP_COLUMN = Kind("drop_column")
    DROP_CONSTRAINT = Kind("drop_constraint")
    RENAME_COLUMN = Kind("rename_column")
    RENAME_TABLE = Kind("rename_table")
    RENAME_OBJECT = Kind("rename_object")
    SET_TABLESPACE = Kind("set_tablespace")
    SET_LOGGED = Kind("set_logged")
    SET_ACCESS_METHOD = Kind("set_access_method")
    SET_STORAGE = Kind("set_storage_params")
    SET_SCHEMA = Kind("set_schema")
    ATTACH_PARTITION = Kind("attach_partition")
    DETACH_PARTITION = Kind("detach_partition")
    REPLICA_IDENTITY = Kind("replica_identity")
    ALTER_IDENTITY = Kind("alter_identity")
    DROP_EXPRESSION = Kind("drop_expression")
    CREATE_INDEX = Kind("create_index")
    DROP_INDEX = Kind("drop_index")
    REINDEX = Kind("reindex")
    VACUUM = Kind("vacuum")
    CLUSTER = Kind("cluster")
    LOCK_TABLE = Kind("lock_table")
    TRUNCATE = Kind("truncate")
    DROP = Kind("drop_object")  # detail["object"]: TABLE, SCHEMA, VIEW, …
    SET = Kind("set")
    BEGIN = Kind("begin")
    COMMIT = Kind("commit")
    ROLLBACK = Kind("rollback")
    SAVEPOINT = Kind("savepoint")
    UPDATE = Kind("update")
    DELETE = Kind("delete")
    INSERT = Kind("insert")
    SELECT = Kind("select")
    CREATE_TRIGGER = Kind("create_trigger")
    CREATE_FUNCTION = Kind("create_function")
    DO = Kind("do_block")
    ENUM_ADD_VALUE = Kind("enum_add_value")
    CREATE_DOMAIN = Kind("create_domain")
    ALTER_DOMAIN_ADD_CONSTRAINT = Kind("alter_domain_add_constraint")
    REFRESH_MATVIEW = Kind("refresh_materialized_view")
    CREATE_MATVIEW = Kind("create_materialized_view")
    OTHER_TABLE_ALTER = Kind("other_table_alter")  # understood, no lock rule applies (OWNER TO, …)
    HARMLESS = Kind(
        "harmless"
    )  # understood and irrelevant to locking (COMMENT, GRANT, CREATE VIEW, …)
    UNKNOWN = Kind("unknown")


ALL_KINDS: tuple[Kind, ...] = tuple(v for k, v in vars(K).items() if k.isupper())


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str = ""  # the type as the user wrote it, e.g. "int4" (for messages)
    pgtype: PgType | None = None  # the canonical type (for rules): PgType("integer")
    not_null: bool = False
    default: str | None = None  # the default expression as the user wrote it
    volatile_default: bool = False
    generated_stored: bool = False
    identity: bool = False
    primary_key: bool = False
    unique: bool = False  # an inline UNIQUE
    references: str | None = None  # referenced table of an inline REFERENCES


@dataclass
class Op:
    kind: Kind
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
    def kinds(self) -> set[Kind]:
        return {op.kind for op in self.ops}
