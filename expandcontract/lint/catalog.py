"""What ``ec lint -d URL`` knows about the target database: one read-only snapshot of its
catalog, loaded once per run before any file is linted (rules never query).

Facts: every table's columns (types as ``pgtypes.PgType``, from ``format_type`` so they compare
equal to types read from SQL), its size (``reltuples``, ``pg_relation_size``,
``pg_total_relation_size``; a partitioned table sums its partitions), the indexes, and the
session's ``search_path`` to resolve unqualified names.

The session can write nothing: ``default_transaction_read_only=on`` in its startup options, the
facts read in one READ ONLY transaction, short ``statement_timeout``/``lock_timeout``, catalog
SELECTs only. ``FileSchema`` layers one file's own changes (tables and columns it creates, its
``SET search_path``) over the snapshot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expandcontract.errors import EXIT_USAGE, ECError
from expandcontract.lint.ir import K, Op

if TYPE_CHECKING:
    from expandcontract.lint.pgtypes import PgType

CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 10_000
# pg_relation_size takes ACCESS SHARE on each table: never queue behind a migration's lock
LOCK_TIMEOUT_MS = 2_000
# a rewrite or scan of a table at least this big is an error; a smaller non-empty one a warning
LARGE_TABLE_ROWS = 1_000_000
LARGE_TABLE_BYTES = 1 << 30
_RELKINDS = ("r", "p", "m")  # tables, partitioned tables, materialized views


class CatalogError(ECError):
    """The database given to ``ec lint`` cannot be read (exit 2: the run checked nothing)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class SizeLimits:
    rows: int = LARGE_TABLE_ROWS
    bytes: int = LARGE_TABLE_BYTES


@dataclass(frozen=True)
class TableFacts:
    rows: float  # reltuples: an estimate; < 0 when never vacuumed/analysed (PG 14+)
    heap_bytes: int  # pg_relation_size: 0 only for a table with no rows
    total_bytes: int  # pg_total_relation_size: with indexes and TOAST

    @property
    def rows_known(self) -> bool:
        # before PG 14 a never-analysed table shows 0 rows whatever it holds
        return self.rows > 0 or (self.rows == 0 and self.heap_bytes == 0)


@dataclass(frozen=True)
class Catalog:
    server_version: int  # server_version_num, e.g. 180001
    timezone: str  # the TimeZone a new session gets (decides timestamp <-> timestamptz)
    current_user: str
    search_path: tuple[str, ...]  # existing schemas, "$user" resolved (current_schemas)
    tables: dict[str, TableFacts]  # "schema.table" -> facts
    columns: dict[tuple[str, str], PgType]  # ("schema.table", column) -> type
    indexes: dict[str, str]  # "schema.index" -> "schema.table"
    limits: SizeLimits = field(default_factory=SizeLimits)

    @property
    def server_major(self) -> int:
        return self.server_version // 10_000

    def resolve(self, name: str, search_path: tuple[str, ...] | None = None) -> str | None:
        """The catalog key of table ``name`` as written, or None if no such table."""
        return _resolve(self.tables, name, search_path or self.search_path)

    def resolve_index(self, name: str, search_path: tuple[str, ...] | None = None) -> str | None:
        return _resolve(self.indexes, name, search_path or self.search_path)


def _resolve(known: dict[str, Any], name: str, search_path: tuple[str, ...]) -> str | None:
    written = _unquote(name)
    if "." in written:
        return written if written in known else None
    for schema in search_path:
        if f"{schema}.{written}" in known:
            return f"{schema}.{written}"
    return None


def _unquote(name: str) -> str:
    # the IR writes names lower case, quotes kept only where PostgreSQL needs them
    return ".".join(part.strip('"') for part in name.split("."))


# --- one file's changes on top of the snapshot ---------------------------------------------


@dataclass
class FileSchema:
    """Tables and column types this file has created or changed so far, and its search_path.
    Kept whether or not there is a catalog: a column added earlier in the file has a known
    type without one."""

    search_path: tuple[str, ...] | None = None  # None: the database's
    column_types: dict[tuple[str, str], PgType] = field(default_factory=dict)

    def apply(self, op: Op) -> None:
        kind = op.kind
        if kind == K.SET and (op.name or "").lower() == "search_path":
            value = op.detail.get("value", "")
            self.search_path = tuple(
                s.strip().strip("'\"").lower() for s in value.split(",") if s.strip()
            )
        elif kind == K.CREATE_TABLE and op.table:
            for column in op.columns:
                self._set(op.table, column.name, _pgtype(column, column.type))
        elif kind == K.ADD_COLUMN and op.table and op.column:
            self._set(op.table, op.column.name, _pgtype(op.column, op.column.type))
        elif kind == K.ALTER_TYPE and op.table and op.column:
            self._set(op.table, op.column.name, new_type_of(op))

    def _set(self, table: str, column: str, pgtype: PgType | None) -> None:
        if pgtype is not None:
            self.column_types[(_bare(table), column)] = pgtype.storage

    def written_type(self, table: str, column: str) -> PgType | None:
        return self.column_types.get((_bare(table), column))

    def effective_path(self, catalog: Catalog) -> tuple[str, ...]:
        if self.search_path is None:
            return catalog.search_path
        user = catalog.current_user
        return tuple(user if s == "$user" else s for s in self.search_path)


def _bare(table: str) -> str:
    return _unquote(table).rsplit(".", 1)[-1]


def _pgtype(column: Any, written: str) -> PgType | None:
    pgtype = getattr(column, "pgtype", None)  # the lead's typed IR, when present
    if pgtype is not None:
        return pgtype  # type: ignore[no-any-return]
    if not written:
        return None
    from expandcontract.lint.pgtypes import from_text

    return from_text(written)


def new_type_of(op: Op) -> PgType | None:
    """The type an ALTER COLUMN … TYPE op changes to."""
    return _pgtype(op.column, op.detail.get("new_type", ""))


# --- the run's catalog: set once by the caller, read by every file's Context ----------------

_ACTIVE: list[Catalog] = []


def active_catalog() -> Catalog | None:
    """The catalog of this lint run (None without ``--database-url``). A module-level value, so
    forked lint workers inherit it with the rest of the loaded linter."""
    return _ACTIVE[-1] if _ACTIVE else None


@contextlib.contextmanager
def activated(catalog: Catalog | None) -> Iterator[None]:
    if catalog is None:
        yield
        return
    _ACTIVE.append(catalog)
    try:
        yield
    finally:
        _ACTIVE.pop()


# --- loading --------------------------------------------------------------------------------

_SETTINGS_SQL = """
SELECT current_setting('server_version_num')::int, current_setting('TimeZone'),
       current_user::text, current_schemas(false)::text[]
"""
_TABLES_SQL = """
SELECT n.nspname || '.' || c.relname, c.relkind::text, c.reltuples::float8,
       CASE WHEN c.relkind = 'p' THEN 0 ELSE pg_relation_size(c.oid) END,
       CASE WHEN c.relkind = 'p' THEN 0 ELSE pg_total_relation_size(c.oid) END,
       (SELECT array_agg(i.inhrelid::regclass::text) FROM pg_inherits i
         WHERE i.inhparent = c.oid AND c.relkind = 'p'),
       c.oid::regclass::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = ANY(%s) AND n.nspname <> 'information_schema'
  AND n.nspname NOT LIKE 'pg\\_%%'
"""
_COLUMNS_SQL = """
SELECT n.nspname || '.' || c.relname, a.attname::text, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind = ANY(%s)
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%%'
"""
_INDEXES_SQL = """
SELECT n.nspname || '.' || i.relname, tn.nspname || '.' || t.relname
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = i.relnamespace
JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%%'
"""


@contextlib.contextmanager
def read_only_session(url: str) -> Iterator[Any]:
    """A connection that cannot write: read-only by default from its first statement, short
    timeouts, inside one READ ONLY transaction (rolled back at the end)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from expandcontract.config import check_database_url
    from expandcontract.dsn import display_dsn, to_psycopg

    check_database_url(url)  # a malformed URL is a usage error before anything connects
    params = conninfo_to_dict(to_psycopg(url))
    ours = (
        f"-c default_transaction_read_only=on -c statement_timeout={STATEMENT_TIMEOUT_MS} "
        f"-c lock_timeout={LOCK_TIMEOUT_MS}"
    )
    params["options"] = f"{params['options']} {ours}" if params.get("options") else ours
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    params.setdefault("application_name", "ec lint")
    try:
        conn = psycopg.connect(make_conninfo("", **params), autocommit=False)
    except psycopg.Error as exc:
        raise CatalogError(
            f"cannot connect to {display_dsn(url)}: {_reason(exc)}",
            "check --database-url/EC_DATABASE_URL, or lint without it (no schema facts)",
        ) from None
    try:
        conn.read_only = True  # psycopg opens the transaction with BEGIN READ ONLY
        with conn.transaction(force_rollback=True):
            yield conn
    except psycopg.Error as exc:
        raise CatalogError(
            f"cannot read the catalog of {display_dsn(url)}: {_reason(exc)}",
            "ec lint only reads pg_catalog; check the role's access and that no "
            "long-held lock blocks it",
        ) from None
    finally:
        conn.close()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_catalog(url: str, limits: SizeLimits | None = None) -> Catalog:
    """One snapshot of the facts: four catalog queries, whatever the number of files."""
    from expandcontract.lint.pgtypes import from_text

    with read_only_session(url) as conn:
        version, timezone, user, path = conn.execute(_SETTINGS_SQL).fetchone()
        table_rows = conn.execute(_TABLES_SQL, (list(_RELKINDS),)).fetchall()
        column_rows = conn.execute(_COLUMNS_SQL, (list(_RELKINDS),)).fetchall()
        index_rows = conn.execute(_INDEXES_SQL).fetchall()
    by_regclass = {row[6]: row[0] for row in table_rows}
    own = {row[0]: TableFacts(float(row[2]), int(row[3]), int(row[4])) for row in table_rows}
    children = {
        row[0]: [by_regclass[c] for c in row[5] if c in by_regclass]
        for row in table_rows
        if row[1] == "p" and row[5]
    }
    tables = {name: _with_partitions(name, own, children) for name in own}
    columns = {(table, column): from_text(text).storage for table, column, text in column_rows}
    return Catalog(
        server_version=int(version),
        timezone=str(timezone),
        current_user=str(user),
        search_path=tuple(path),
        tables=tables,
        columns=columns,
        indexes=dict(index_rows),
        limits=limits or SizeLimits(),
    )


def _with_partitions(
    name: str, own: dict[str, TableFacts], children: dict[str, list[str]]
) -> TableFacts:
    """A partitioned table has no storage of its own: its size is its partitions'."""
    if name not in children:
        return own[name]
    parts = [_with_partitions(child, own, children) for child in children[name]]
    rows = sum(max(p.rows, 0.0) for p in parts) if all(p.rows_known for p in parts) else -1.0
    return TableFacts(rows, sum(p.heap_bytes for p in parts), sum(p.total_bytes for p in parts))
