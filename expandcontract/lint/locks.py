"""Which lock each operation takes and what that lock blocks (PostgreSQL docs, "Table-level
Locks" and the ALTER TABLE reference). Data, not code, so messages stay consistent."""

from __future__ import annotations

from expandcontract.lint.ir import K, Op

AEL = "ACCESS EXCLUSIVE"
SRE = "SHARE ROW EXCLUSIVE"
SHARE = "SHARE"
SUE = "SHARE UPDATE EXCLUSIVE"
ROW_EXCLUSIVE = "ROW EXCLUSIVE"

BLOCKS = {
    AEL: "blocks all reads and writes",
    "EXCLUSIVE": "blocks all writes and most reads",
    SRE: "blocks writes",
    SHARE: "blocks writes",
    SUE: "blocks other schema changes and VACUUM, not reads or writes",
    ROW_EXCLUSIVE: "blocks nothing but stronger table locks",
    "ROW SHARE": "blocks only EXCLUSIVE locks",
    "ACCESS SHARE": "blocks only ACCESS EXCLUSIVE locks",
}
STRENGTH = ["ACCESS SHARE", "ROW SHARE", ROW_EXCLUSIVE, SUE, SHARE, SRE, "EXCLUSIVE", AEL]

_BY_KIND = {
    K.ADD_COLUMN: AEL,
    K.ALTER_TYPE: AEL,
    K.SET_NOT_NULL: AEL,
    K.DROP_NOT_NULL: AEL,
    K.SET_DEFAULT: AEL,
    K.DROP_DEFAULT: AEL,
    K.DROP_COLUMN: AEL,
    K.DROP_CONSTRAINT: AEL,
    K.RENAME_COLUMN: AEL,
    K.RENAME_TABLE: AEL,
    K.SET_TABLESPACE: AEL,
    K.SET_LOGGED: AEL,
    K.SET_ACCESS_METHOD: AEL,
    K.SET_SCHEMA: AEL,
    K.REPLICA_IDENTITY: AEL,
    K.ALTER_IDENTITY: AEL,
    K.DROP_EXPRESSION: AEL,
    K.VACUUM: AEL,
    K.CLUSTER: AEL,
    K.TRUNCATE: AEL,
    K.DROP: AEL,
    K.CREATE_TRIGGER: SRE,
    K.VALIDATE_CONSTRAINT: SUE,
    K.ATTACH_PARTITION: SUE,
    K.REFRESH_MATVIEW: AEL,
    K.UPDATE: ROW_EXCLUSIVE,
    K.DELETE: ROW_EXCLUSIVE,
    K.INSERT: ROW_EXCLUSIVE,
    K.OTHER_TABLE_ALTER: AEL,
    K.SET_STORAGE: SUE,
    K.RENAME_OBJECT: AEL,
    K.DROP_INDEX: AEL,
    K.REINDEX: SHARE,
    K.CREATE_INDEX: SHARE,
    K.DETACH_PARTITION: AEL,
    K.ENUM_ADD_VALUE: "EXCLUSIVE",
}


_DEPENDS_ON_DETAIL = frozenset(
    {
        K.CREATE_INDEX,
        K.DROP_INDEX,
        K.REINDEX,
        K.DETACH_PARTITION,
        K.REFRESH_MATVIEW,
        K.VACUUM,
        K.LOCK_TABLE,
        K.ADD_CONSTRAINT,
        K.DROP,
        K.RENAME_OBJECT,
        K.HARMLESS,
    }
)
# Objects whose rename locks a relation (ACCESS EXCLUSIVE on it, or on the table of a
# constraint); renaming a function, type or schema locks no table.
_RELATION_RENAMES = frozenset(
    {"VIEW", "MATERIALIZED VIEW", "MATERIALIZED", "SEQUENCE", "INDEX", "CONSTRAINT", "FOREIGN"}
)


def lock_of(op: Op) -> str | None:
    """The table-level lock ``op`` takes on its target, or None for no table lock."""
    if op.kind not in _DEPENDS_ON_DETAIL:  # most ops: the lock follows from the kind alone
        return _BY_KIND.get(op.kind)
    if op.kind in (K.CREATE_INDEX, K.DROP_INDEX, K.REINDEX):
        return SUE if op.concurrently else _BY_KIND[op.kind]
    if op.kind == K.DETACH_PARTITION:
        return SUE if op.concurrently else AEL
    if op.kind == K.REFRESH_MATVIEW:
        return "EXCLUSIVE" if op.concurrently else AEL
    if op.kind == K.VACUUM:
        return AEL if op.detail.get("full") else SUE
    if op.kind == K.LOCK_TABLE:
        return op.detail.get("mode", AEL)
    if op.kind == K.ADD_CONSTRAINT:
        kind = op.detail.get("type")
        if kind == "foreign_key":
            return SRE
        return AEL
    if op.kind == K.RENAME_OBJECT:
        return AEL if op.detail.get("object") in _RELATION_RENAMES else None
    if op.kind == K.HARMLESS:  # CREATE OR REPLACE VIEW of an existing view: ACCESS EXCLUSIVE
        replaces_view = op.detail.get("replace") and op.detail.get("object") == "VIEW"
        return AEL if replaces_view else None
    if op.kind == K.DROP and op.detail.get("on"):  # DROP TRIGGER … ON table (checked in PG 18)
        return AEL
    if op.kind == K.DROP and op.detail.get("object") not in ("TABLE", "VIEW", "MATERIALIZED VIEW"):
        return None
    return _BY_KIND.get(op.kind)


def referenced_tables(op: Op) -> list[str]:
    """Tables a foreign key of ``op`` references: each gets a SHARE ROW EXCLUSIVE lock (held to
    COMMIT) while the key's triggers are added to it, whether the referencing table is new or
    not (PostgreSQL docs, CREATE TABLE / ALTER TABLE ADD FOREIGN KEY)."""
    found: list[str] = []
    if op.kind == K.CREATE_TABLE:
        found = [c.references for c in op.columns if c.references]
        found += [t for t in op.detail.get("ref_tables", "").split(",") if t]
    elif op.kind == K.ADD_COLUMN and op.column is not None and op.column.references:
        found = [op.column.references]
    elif op.kind == K.ADD_CONSTRAINT and op.detail.get("type") == "foreign_key":
        found = [op.detail["ref_table"]] if op.detail.get("ref_table") else []
    return list(dict.fromkeys(t.strip() for t in found if t.strip() and t.strip() != op.table))


def describe(lock: str, table: str | None) -> str:
    where = f" on {table}" if table else ""
    article = "an" if lock[0] in "AEIOU" else "a"
    return f"takes {article} {lock} lock{where} ({BLOCKS.get(lock, 'blocks others')})"


def stronger(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if STRENGTH.index(a) >= STRENGTH.index(b) else b
