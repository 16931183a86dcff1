"""No false drift from ec's own objects in ``alembic check`` / ``alembic revision --autogenerate``.

While an ec migration is in flight the database holds objects no SQLAlchemy model describes:
twin columns and the pending marker (``_ec_…``), their index and constraint copies (``_ec_…``),
the dual-write triggers (Alembic does not compare triggers), the ledger schema and the version
schemas (views). And the tables the migration changes exist in two versions at once: the old one
physically, the new one through the version schema's views.

What counts as drift while a migration is in flight: the model may describe **either** version.
The revision that expanded is already applied (Alembic's head is past it), so a model that was
updated to the new version must pass; a model still at the old version passes too, since both
versions are live until contract. A column the migration changes passes when the model matches
the old column or the new version (the twin's type, the migration's nullability); columns the
migration drops, adds or renames, and tables it drops, creates or renames, pass whether the model
has them under the old or the new name. Anything else is reported as usual.

The same rule serves both ways of enabling it: the autogenerate plugin installs it as an object
filter, and :func:`include_object` is the function to pass to ``context.configure`` by hand.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Iterable
from typing import Any

DEFAULT_LEDGER_SCHEMA = "expandcontract"
# ec's reserved prefix (expandcontract.operations.state.PREFIX, checked by a test): importing
# ec's operations here would load psycopg and ec's engine at every ``import alembic`` for
# projects that import this module from env.py.
PREFIX = "_ec_"
_INDEX_LIKE = ("index", "unique_constraint", "foreign_key_constraint", "check_constraint")


@dataclasses.dataclass(frozen=True)
class InFlight:
    """What the active ec migration does to the base schema, read from its stored spec."""

    altered: dict[tuple[str, str], dict[str, Any]] = dataclasses.field(default_factory=dict)
    dropped_columns: frozenset[tuple[str, str]] = frozenset()
    added_columns: frozenset[tuple[str, str]] = frozenset()
    renamed_columns: dict[tuple[str, str], str] = dataclasses.field(
        default_factory=dict
    )  # new->old
    dropped_tables: frozenset[str] = frozenset()
    created_tables: frozenset[str] = frozenset()
    renamed_tables: dict[str, str] = dataclasses.field(default_factory=dict)  # new -> old
    created_indexes: frozenset[str] = frozenset()
    dropped_indexes: frozenset[str] = frozenset()

    @classmethod
    def from_operations(cls, operations: Iterable[dict[str, Any]]) -> InFlight:
        altered: dict[tuple[str, str], dict[str, Any]] = {}
        renamed_columns: dict[tuple[str, str], str] = {}
        renamed_tables: dict[str, str] = {}
        sets: dict[str, set[Any]] = {
            k: set()
            for k in (
                "dropped_columns",
                "added_columns",
                "dropped_tables",
                "created_tables",
                "created_indexes",
                "dropped_indexes",
            )
        }
        for entry in operations:
            ((kind, body),) = entry.items()
            if kind == "alter_column" and ("type" in body or "nullable" in body):
                altered[(body["table"], body["column"])] = body
            elif kind == "drop_column":
                sets["dropped_columns"].add((body["table"], body["column"]))
            elif kind == "add_column":
                sets["added_columns"].add((body["table"], body["column"]["name"]))
            elif kind == "rename_column":
                renamed_columns[(body["table"], body["to"])] = body["from"]
            elif kind == "drop_table":
                sets["dropped_tables"].add(body["name"])
            elif kind == "create_table":
                sets["created_tables"].add(body["name"])
            elif kind == "rename_table":
                renamed_tables[body["to"]] = body["from"]
            elif kind == "create_index":
                sets["created_indexes"].add(body["name"])
            elif kind == "drop_index":
                sets["dropped_indexes"].add(body["name"])
        frozen = {k: frozenset(v) for k, v in sets.items()}
        return cls(
            altered=altered,
            renamed_columns=renamed_columns,
            renamed_tables=renamed_tables,
            **frozen,
        )

    def physical_table(self, table: str) -> str:
        """The physical name of a table the model may call by its new name."""
        return self.renamed_tables.get(table, table)

    def _old_column_names(self, table: str) -> set[str]:
        physical = self.physical_table(table)
        return {old for (t, _), old in self.renamed_columns.items() if t in (table, physical)}

    def _new_column_names(self, table: str) -> set[str]:
        physical = self.physical_table(table)
        return {new for (t, new) in self.renamed_columns if t in (table, physical)}

    def _column_in(self, pairs: Iterable[tuple[str, str]], table: str, column: str) -> bool:
        physical = self.physical_table(table)
        return any((t, c) == (table, column) or (t, c) == (physical, column) for t, c in pairs)

    def explains_table(self, name: str, *, in_model: bool) -> bool:
        """A table only one side has, because the migration drops, creates or renames it."""
        if in_model:
            return name in self.renamed_tables or name in self.created_tables
        return (
            name in self.dropped_tables
            or name in self.created_tables
            or name in self.renamed_tables.values()
        )

    def explains_column(self, table: str, column: str, *, in_model: bool) -> bool:
        """A column only one side has, because the migration drops, adds or renames it."""
        if in_model:
            return column in self._new_column_names(table) or self._column_in(
                self.added_columns, table, column
            )
        return (
            self._column_in(self.dropped_columns, table, column)
            or self._column_in(self.added_columns, table, column)
            or column in self._old_column_names(table)
        )

    def alteration(self, table: str, column: str) -> dict[str, Any] | None:
        for (t, c), body in self.altered.items():
            if c == column and t in (table, self.physical_table(table)):
                return body
        return None

    def touches_index(self, name: str | None, table: str, columns: Iterable[str]) -> bool:
        """An index or constraint the migration creates or drops, or one over a column it
        renames (its definition names the old column physically, the new one in the model)."""
        if name is not None and (name in self.created_indexes or name in self.dropped_indexes):
            return True
        renamed = self._old_column_names(table) | self._new_column_names(table)
        return bool(renamed.intersection(columns))


@dataclasses.dataclass(frozen=True)
class EcObjects:
    """ec's footprint in one database, as seen from one Alembic run."""

    ledger_schema: str = DEFAULT_LEDGER_SCHEMA
    base_schema: str = "public"
    default_schema: str | None = None
    version_schemas: frozenset[str] = frozenset()
    in_flight: InFlight | None = None

    def ec_schema(self, schema: str | None) -> bool:
        return schema is not None and (
            schema == self.ledger_schema or schema in self.version_schemas
        )

    def in_base_schema(self, schema: str | None) -> bool:
        return (schema or self.default_schema) == self.base_schema


_STATIC = EcObjects()
_per_context: weakref.WeakKeyDictionary[Any, EcObjects] = weakref.WeakKeyDictionary()


def ec_objects_for(migration_context: Any) -> EcObjects:
    """ec's footprint for this Alembic run (read from the ledger once per migration context)."""
    found = _per_context.get(migration_context)
    if found is None:
        from expandcontract.alembic.autogen_ledger import read_ec_objects

        found = read_ec_objects(migration_context)
        _per_context[migration_context] = found
    return found


def _current_ec_objects() -> EcObjects:
    """For the hand-installed filter: the context of the Alembic run in progress, if any."""
    try:
        from alembic import context

        migration_context = context.get_context()
    except Exception:  # not inside env.py (e.g. a user's own compare_metadata): names only
        return _STATIC
    return ec_objects_for(migration_context)


def include_object(
    object_: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """For ``context.configure(include_object=...)``: leaves ec's own objects (and, while an
    ec migration is in flight, the differences it explains) out of autogenerate's comparison.
    Only needed when env.py does not enable the plugin through ``autogenerate_plugins``; to
    combine it with a filter of your own, call it from yours."""
    return not _is_ecs(_current_ec_objects(), object_, name, type_, reflected, compare_to)


def ec_filter(ec: EcObjects) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """An ``include_object`` callable bound to one database's ec footprint."""

    def include(
        object_: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        return not _is_ecs(ec, object_, name, type_, reflected, compare_to)

    return include


def _table_of(object_: Any) -> Any:
    if getattr(object_, "table", None) is not None:
        return object_.table
    parent = getattr(object_, "parent", None)
    return parent if parent is not None else None


def _column_names(object_: Any) -> list[str]:
    columns = getattr(object_, "columns", None)
    if columns is None:
        return []
    try:
        return [str(c.name) for c in columns]
    except (AttributeError, TypeError):
        return []


def _is_ecs(
    ec: EcObjects, object_: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ == "table":
        if ec.ec_schema(object_.schema):
            return True
        return bool(
            ec.in_flight is not None
            and compare_to is None
            and ec.in_base_schema(object_.schema)
            and ec.in_flight.explains_table(str(name), in_model=not reflected)
        )
    if name is not None and str(name).startswith(PREFIX):
        return True
    table = _table_of(object_)
    if table is None:
        return False
    if ec.ec_schema(table.schema):
        return True
    if type_ in _INDEX_LIKE and any(c.startswith(PREFIX) for c in _column_names(object_)):
        return True
    flight = ec.in_flight
    if flight is None or not ec.in_base_schema(table.schema):
        return False
    if type_ == "column":
        if compare_to is None:
            return flight.explains_column(table.name, str(name), in_model=not reflected)
        return _model_matches_new_version(flight, object_, compare_to)
    if type_ in _INDEX_LIKE:
        return flight.touches_index(name, table.name, _column_names(object_))
    return False


def _model_matches_new_version(flight: InFlight, model_column: Any, db_column: Any) -> bool:
    """A column the migration changes, compared with its twin: the new version's type is the
    twin's and its nullability the migration's (the twin itself stays nullable until contract).
    A model at the old version needs no help: it matches the old column as it is."""
    table = db_column.table
    change = flight.alteration(table.name, str(db_column.name))
    if change is None:
        return False
    from expandcontract.operations.state import duplicate_name  # ec's twin naming

    twin = table.c.get(duplicate_name(str(db_column.name)))
    if twin is None:
        return False
    nullable = change.get("nullable", db_column.nullable)
    return bool(model_column.nullable == nullable and _same_type(model_column.type, twin.type))


def _same_type(model_type: Any, db_type: Any) -> bool:
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    try:
        return bool(
            model_type.compile(dialect=dialect).lower() == db_type.compile(dialect=dialect).lower()
        )
    except Exception:  # a type PostgreSQL's compiler cannot render: let Alembic compare it
        return False
