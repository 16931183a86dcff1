"""Pieces of index and constraint definitions as migration files write them, parsed into data
and rendered with psycopg.sql: storage parameters (an allowlist per access method, never raw
text), index elements (a column or ONE checked expression, with operator class, collation and
ordering), exclusion operators, foreign-key actions and deferrability."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from psycopg import sql

from expandcontract.operations.base import MigrationInvalid, check_name
from expandcontract.operations.expressions import check_expression, expression_sql

METHODS = ("btree", "hash", "gist", "gin", "brin", "spgist")
INCLUDE_METHODS = ("btree", "gist", "spgist")  # access methods with INCLUDE (amcaninclude)

Scalar = int | bool | str
_Range = tuple[int, int]
_Rule = type[bool] | _Range | tuple[str, ...]

# reloptions each index access method accepts (PostgreSQL 13-18), with the values allowed.
STORAGE_PARAMETERS: dict[str, dict[str, _Rule]] = {
    "btree": {"fillfactor": (10, 100), "deduplicate_items": bool},
    "hash": {"fillfactor": (10, 100)},
    "gist": {"fillfactor": (10, 100), "buffering": ("auto", "on", "off")},
    "spgist": {"fillfactor": (10, 100)},
    "gin": {"fastupdate": bool, "gin_pending_list_limit": (64, 2147483647)},
    "brin": {"pages_per_range": (1, 131072), "autosummarize": bool},
}
_BOOL_WORDS = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}


def storage_parameters(value: Any, method: str, where: str) -> dict[str, Scalar]:
    """``{fillfactor: 70}`` checked against ``method``'s parameters and their ranges."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MigrationInvalid(
            f"{where}: storage_parameters must be a mapping such as {{fillfactor: 70}}"
        )
    allowed = STORAGE_PARAMETERS[method]
    out: dict[str, Scalar] = {}
    for key, raw in value.items():
        rule = allowed.get(str(key))
        if rule is None:
            raise MigrationInvalid(
                f"{where}: storage parameter {key!r} does not exist for {method} indexes",
                f"{method} accepts: {', '.join(allowed)}",
            )
        out[str(key)] = _parameter_value(rule, raw, f"{where}: {key}")
    return out


def _parameter_value(rule: _Rule, raw: Any, where: str) -> Scalar:
    if rule is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in _BOOL_WORDS:
            return _BOOL_WORDS[raw.lower()]
        raise MigrationInvalid(f"{where} must be true or false, got {raw!r}")
    if isinstance(rule, tuple) and rule and isinstance(rule[0], str):
        if isinstance(raw, str) and raw.lower() in rule:
            return raw.lower()
        raise MigrationInvalid(f"{where} must be one of {', '.join(map(str, rule))}, got {raw!r}")
    low, high = int(rule[0]), int(rule[1])
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise MigrationInvalid(f"{where} must be an integer from {low} to {high}, got {raw!r}")
    return raw


def storage_sql(parameters: Mapping[str, Scalar]) -> sql.Composable:
    """`` WITH (fillfactor = 70, …)`` or nothing; keys come from the allowlist."""
    if not parameters:
        return sql.SQL("")
    return sql.SQL(" WITH ({})").format(
        sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Literal(v))
            for k, v in parameters.items()
        )
    )


def qualified_name(value: Any, where: str, what: str) -> tuple[str, ...]:
    """``int8_ops`` or ``public.gin_trgm_ops`` -> its parts (each rendered as an identifier)."""
    if not isinstance(value, str) or not value.strip():
        raise MigrationInvalid(f"{where}: {what} must be a name, got {value!r}")
    parts = tuple(p.strip() for p in value.strip().split("."))
    if len(parts) > 2 or not all(parts):
        raise MigrationInvalid(f"{where}: {what} {value!r} is not a name or schema.name")
    for part in parts:
        check_name(part, where, what=what)
    return parts


def name_list(value: Any, where: str, what: str, *, empty: bool = False) -> list[str]:
    if value is None and empty:
        return []
    if not isinstance(value, list) or (not value and not empty):
        raise MigrationInvalid(f"{where}: {what} must be a non-empty list of column names")
    out = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise MigrationInvalid(f"{where}: {what} must be a list of column names")
        check_name(item.strip(), where, what="column name")
        out.append(item.strip())
    if len(set(out)) != len(out):
        raise MigrationInvalid(f"{where}: {what} lists a column twice")
    return out


_ELEMENT_FIELDS = ("column", "expression", "opclass", "opclass_params", "collate", "sort", "nulls")
_OPERATOR = re.compile(r"^[-+*/<>=~!@#%^&|`?]{1,63}$")


@dataclasses.dataclass(frozen=True)
class IndexElement:
    """One key of an index or exclusion constraint: a column or one expression."""

    column: str | None = None
    expression: str | None = None
    opclass: tuple[str, ...] = ()
    opclass_params: tuple[tuple[str, Scalar], ...] = ()
    collate: tuple[str, ...] = ()
    sort: str | None = None  # asc | desc
    nulls: str | None = None  # first | last
    operator: str | None = None  # exclusion constraints only: the WITH operator

    @classmethod
    def parse(cls, data: Any, where: str, *, operator: bool = False) -> IndexElement:
        if isinstance(data, str) and not operator:
            check_name(data.strip(), where, what="column name")
            return cls(column=data.strip())
        if not isinstance(data, Mapping):
            raise MigrationInvalid(f"{where}: an index column is a column name or a mapping")
        fields = (*_ELEMENT_FIELDS, "with") if operator else _ELEMENT_FIELDS
        unknown = sorted(str(k) for k in set(data) - set(fields))
        if unknown:
            raise MigrationInvalid(
                f"{where}: unknown field(s) {', '.join(unknown)}", f"fields: {', '.join(fields)}"
            )
        if ("column" in data) == ("expression" in data):
            raise MigrationInvalid(f"{where}: give exactly one of column or expression")
        column = data.get("column")
        if column is not None:
            if not isinstance(column, str) or not column.strip():
                raise MigrationInvalid(f"{where}: column must be a column name")
            check_name(column.strip(), where, what="column name")
            column = column.strip()
        expression = data.get("expression")
        if expression is not None:
            if not isinstance(expression, str):
                raise MigrationInvalid(f"{where}: expression must be SQL text")
            check_expression(expression, what=f"{where}: expression")
        params = data.get("opclass_params") or {}
        if not isinstance(params, Mapping) or (params and "opclass" not in data):
            raise MigrationInvalid(f"{where}: opclass_params is a mapping and needs opclass")
        pairs: list[tuple[str, Scalar]] = []
        for key, value in params.items():
            check_name(str(key), where, what="operator class parameter")
            if not isinstance(value, int | str | bool):
                raise MigrationInvalid(f"{where}: opclass_params.{key} must be a scalar")
            pairs.append((str(key), value))
        sort = _word(data, "sort", ("asc", "desc"), where)
        nulls = _word(data, "nulls", ("first", "last"), where)
        op = None
        if operator:
            op = data.get("with")
            # PostgreSQL operator characters; never "--" or "/*", which would start a comment.
            if (
                not isinstance(op, str)
                or not _OPERATOR.match(op.strip())
                or "--" in op
                or "/*" in op
            ):
                raise MigrationInvalid(
                    f"{where}: with must be an operator such as = or &&, got {op!r}"
                )
            op = op.strip()
        return cls(
            column=column,
            expression=expression,
            opclass=qualified_name(data["opclass"], where, "opclass") if "opclass" in data else (),
            opclass_params=tuple(pairs),
            collate=qualified_name(data["collate"], where, "collation")
            if "collate" in data
            else (),
            sort=sort,
            nulls=nulls,
            operator=op,
        )

    @property
    def plain(self) -> bool:
        return self == IndexElement(column=self.column)

    def to_spec(self) -> Any:
        if self.plain and self.column is not None:
            return self.column
        out: dict[str, Any] = {}
        if self.column is not None:
            out["column"] = self.column
        if self.expression is not None:
            out["expression"] = self.expression
        if self.opclass:
            out["opclass"] = ".".join(self.opclass)
        if self.opclass_params:
            out["opclass_params"] = dict(self.opclass_params)
        if self.collate:
            out["collate"] = ".".join(self.collate)
        for key in ("sort", "nulls"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.operator:
            out["with"] = self.operator
        return out

    def render(
        self, column: Callable[[str], str], expression: Callable[[str], str]
    ) -> sql.Composed:
        """``column`` / ``expression`` map the new version's names to physical ones."""
        if self.column is not None:
            parts: list[sql.Composable] = [sql.Identifier(column(self.column))]
        else:
            assert self.expression is not None
            parts = [sql.SQL("({})").format(expression_sql(expression(self.expression)))]
        if self.collate:
            parts.append(sql.SQL("COLLATE {}").format(sql.Identifier(*self.collate)))
        if self.opclass:
            parts.append(sql.Identifier(*self.opclass))
            if self.opclass_params:
                parts.append(
                    sql.SQL("({})").format(
                        sql.SQL(", ").join(
                            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Literal(v))
                            for k, v in self.opclass_params
                        )
                    )
                )
        if self.sort:
            parts.append(sql.SQL(self.sort.upper()))
        if self.nulls:
            parts.append(sql.SQL("NULLS {}").format(sql.SQL(self.nulls.upper())))
        if self.operator:
            parts.append(sql.SQL("WITH {}").format(sql.SQL(self.operator)))
        return sql.SQL(" ").join(parts)


def _word(data: Mapping[str, Any], key: str, allowed: tuple[str, ...], where: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in allowed:
        raise MigrationInvalid(f"{where}: {key} must be one of {', '.join(allowed)}")
    return value.lower()


# Foreign keys -----------------------------------------------------------------------------

ACTIONS = {
    "no_action": "NO ACTION",
    "restrict": "RESTRICT",
    "cascade": "CASCADE",
    "set_null": "SET NULL",
    "set_default": "SET DEFAULT",
}
MATCH = {"simple": "SIMPLE", "full": "FULL"}


def _action(value: Any, where: str) -> str | None:
    if value is None:
        return None
    word = str(value).strip().lower().replace(" ", "_") if isinstance(value, str) else None
    if word not in ACTIONS:
        raise MigrationInvalid(
            f"{where} must be one of {', '.join(ACTIONS)}, got {value!r}",
            "PostgreSQL's spelling (SET NULL, NO ACTION) is accepted too",
        )
    return word


@dataclasses.dataclass(frozen=True)
class ForeignKeyOptions:
    on_delete: str | None = None
    on_update: str | None = None
    match: str | None = None
    deferrable: bool = False
    initially_deferred: bool = False

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str) -> ForeignKeyOptions:
        match = data.get("match")
        if match is not None and (not isinstance(match, str) or match.lower() not in MATCH):
            raise MigrationInvalid(
                f"{where}: match must be simple or full, got {match!r}",
                "MATCH PARTIAL is not implemented by PostgreSQL",
            )
        deferrable, deferred = deferrability(data, where)
        return cls(
            _action(data.get("on_delete"), f"{where}: on_delete"),
            _action(data.get("on_update"), f"{where}: on_update"),
            match.lower() if isinstance(match, str) else None,
            deferrable,
            deferred,
        )

    def to_spec(self, out: dict[str, Any]) -> dict[str, Any]:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value:
                out[f.name] = value
        return out

    def clause(self) -> sql.Composable:
        parts: list[sql.Composable] = []
        if self.match:
            parts.append(sql.SQL(" MATCH {}").format(sql.SQL(MATCH[self.match])))
        if self.on_delete:
            parts.append(sql.SQL(" ON DELETE {}").format(sql.SQL(ACTIONS[self.on_delete])))
        if self.on_update:
            parts.append(sql.SQL(" ON UPDATE {}").format(sql.SQL(ACTIONS[self.on_update])))
        parts.append(deferrable_sql(self.deferrable, self.initially_deferred))
        return sql.Composed(parts)


def deferrability(data: Mapping[str, Any], where: str) -> tuple[bool, bool]:
    deferrable, deferred = data.get("deferrable", False), data.get("initially_deferred", False)
    if not isinstance(deferrable, bool) or not isinstance(deferred, bool):
        raise MigrationInvalid(f"{where}: deferrable and initially_deferred are true or false")
    if deferred and not deferrable:
        raise MigrationInvalid(f"{where}: initially_deferred needs deferrable: true")
    return deferrable, deferred


def deferrable_sql(deferrable: bool, deferred: bool) -> sql.Composable:
    if not deferrable:
        return sql.SQL("")
    return sql.SQL(" DEFERRABLE INITIALLY DEFERRED" if deferred else " DEFERRABLE")
