"""The SQL of one batch. A converge batch only touches rows whose stored value differs from
the expression, evaluated on the row version the UPDATE actually locks (READ COMMITTED
re-checks the WHERE clause on a concurrently updated row), so a concurrent application write
is never overwritten with a value computed from stale data. A once batch (``once=True``, see
``modes``) has no such comparison: it would evaluate a volatile expression a second time, and
for ``n = n + 1`` it is always true anyway; each row of its key window is written once.

User text is spliced through ``expression_sql`` (exactly one expression) and every statement
is sent with parameters, i.e. through the extended protocol, which carries one statement."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from psycopg import sql

from expandcontract.backfill.keys import KeyInfo
from expandcontract.backfill.spec import BackfillSpec
from expandcontract.operations.expressions import catalog_sql, expression_sql

# Types without a btree equality operator are compared through their text form.
_NO_EQUALITY = {"json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle"}

Cursor = list[str] | int | None


@dataclasses.dataclass(frozen=True)
class Bounds:
    """A batch's key window: after ``cursor`` (exclusive) or from ``lo`` (inclusive), below
    ``hi`` (exclusive). Keys are lists of text values; ctid bounds are block numbers."""

    cursor: Cursor
    lo: Cursor
    hi: Cursor


@dataclasses.dataclass(frozen=True)
class BatchSql:
    table: sql.Composable
    key: KeyInfo
    spec: BackfillSpec
    column_types: dict[str, str]  # format_type() of each assigned column
    once: bool = False

    # -- pieces ------------------------------------------------------------------------
    def set_clause(self) -> sql.Composable:
        return sql.SQL(", ").join(
            sql.SQL("{} = ({})").format(sql.Identifier(c), _spliced(e))
            for c, e in self.spec.assignments
        )

    def needs_work(self) -> sql.Composable:
        """Row still needs the backfill: matches the filter and (converge) differs from the
        expression; a once backfill evaluates its expressions only in the SET clause."""
        where = _spliced(self.spec.where) if self.spec.where else None
        if self.once:
            return sql.SQL("({})").format(where) if where is not None else sql.SQL("true")
        diffs = []
        for column, expr in self.spec.assignments:
            ctype = self.column_types[column]
            value = sql.SQL("CAST(({}) AS {})").format(_spliced(expr), catalog_sql(ctype))
            current: sql.Composable = sql.Identifier(column)
            if ctype.split("(")[0].split("[")[0] in _NO_EQUALITY:
                current = sql.SQL("({})::text").format(current)
                value = sql.SQL("({})::text").format(value)
            diffs.append(sql.SQL("{} IS DISTINCT FROM {}").format(current, value))
        differs = sql.SQL("({})").format(sql.SQL(" OR ").join(diffs))
        if where is not None:
            return sql.SQL("({}) AND {}").format(where, differs)
        return differs

    def _tuple(self, items: Sequence[sql.Composable]) -> sql.Composable:
        return items[0] if len(items) == 1 else sql.SQL("({})").format(sql.SQL(", ").join(items))

    def _keys(self) -> sql.Composable:
        return self._tuple([sql.Identifier(c) for c in self.key.columns])

    def _params(self, prefix: str) -> sql.Composable:
        return self._tuple(
            [
                sql.SQL("{}::{}").format(sql.Placeholder(f"{prefix}{i}"), catalog_sql(t))
                for i, t in enumerate(self.key.types)
            ]
        )

    def _bounds(self, bounds: Bounds, *, upper_param: str | None = None) -> sql.Composable:
        parts: list[sql.Composable] = []
        if bounds.cursor is not None:
            parts.append(sql.SQL("{} > {}").format(self._keys(), self._params("c")))
        elif bounds.lo is not None:
            parts.append(sql.SQL("{} >= {}").format(self._keys(), self._params("lo")))
        if bounds.hi is not None:
            parts.append(sql.SQL("{} < {}").format(self._keys(), self._params("hi")))
        if upper_param is not None:
            parts.append(sql.SQL("{} <= {}").format(self._keys(), self._params(upper_param)))
        return sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")

    @staticmethod
    def _bind(prefix: str, values: Cursor, params: dict[str, Any]) -> None:
        if isinstance(values, list):
            for i, v in enumerate(values):
                params[f"{prefix}{i}"] = v

    def bound_params(self, bounds: Bounds) -> dict[str, Any]:
        params: dict[str, Any] = {}
        self._bind("c", bounds.cursor, params)
        if bounds.cursor is None:
            self._bind("lo", bounds.lo, params)
        self._bind("hi", bounds.hi, params)
        return params

    # -- keyset ------------------------------------------------------------------------
    def boundary(self, bounds: Bounds) -> sql.Composed:
        """Index-only scan for the batch's last key and how many keys it spans."""
        order_desc = sql.SQL(", ").join(
            # Qualified: the bare name would mean the ::text output column (text order).
            sql.SQL("{} DESC").format(sql.Identifier("s", f"_ec_k{i}"))
            for i in range(len(self.key.columns))
        )
        inner = sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(sql.Identifier(c), sql.Identifier(f"_ec_k{i}"))
            for i, c in enumerate(self.key.columns)
        )
        texts = sql.SQL(", ").join(
            sql.SQL("{}::text").format(sql.Identifier(f"_ec_k{i}"))
            for i in range(len(self.key.columns))
        )
        return sql.SQL(
            "SELECT {texts}, count(*) OVER () FROM (SELECT {inner} FROM {tbl} WHERE {bounds}"
            " ORDER BY {keys} LIMIT %(n)s) s ORDER BY {desc} LIMIT 1"
        ).format(
            texts=texts,
            inner=inner,
            tbl=self.table,
            bounds=self._bounds(bounds),
            keys=sql.SQL(", ").join(sql.Identifier(c) for c in self.key.columns),
            desc=order_desc,
        )

    def keyset_update(self, bounds: Bounds) -> sql.Composed:
        """UPDATE every row in (cursor, last] that still needs work; returns the count."""
        return sql.SQL(
            "WITH _ec_upd AS (UPDATE {tbl} SET {set} WHERE {bounds} AND {needs} RETURNING 1)"
            " SELECT count(*) FROM _ec_upd"
        ).format(
            tbl=self.table,
            set=self.set_clause(),
            bounds=self._bounds(bounds, upper_param="u"),
            needs=self.needs_work(),
        )

    def keyset_check(self, bounds: Bounds) -> sql.Composed:
        """Read-only count of rows in (cursor, last] that still need work (for the sweep:
        a SELECT can use a parallel scan and takes no row locks)."""
        return sql.SQL("SELECT count(*) FROM {tbl} WHERE {bounds} AND {needs}").format(
            tbl=self.table, bounds=self._bounds(bounds, upper_param="u"), needs=self.needs_work()
        )

    # -- ctid --------------------------------------------------------------------------
    def ctid_update(self) -> sql.Composed:
        """UPDATE the rows on pages [lo, hi) (a TID Range Scan); returns (rows seen, updated)."""
        pages = sql.SQL("ctid >= %(lo)s::tid AND ctid < %(hi)s::tid")
        return sql.SQL(
            "WITH _ec_upd AS (UPDATE {tbl} SET {set} WHERE {pages} AND {needs} RETURNING 1)"
            " SELECT (SELECT count(*) FROM {tbl} WHERE {pages}), (SELECT count(*) FROM _ec_upd)"
        ).format(tbl=self.table, set=self.set_clause(), pages=pages, needs=self.needs_work())


def _spliced(text: str) -> sql.SQL:
    """A user expression (checked to be exactly one) in a statement that is always sent with
    parameters, where psycopg reads '%' as a placeholder: a literal one is doubled."""
    expression_sql(text)
    return sql.SQL(text.replace("%", "%%"))


def tid(block: int) -> str:
    return f"({block},0)"
