"""Size-aware wording and severity for rules about rewrites and validating scans.

With ``ec lint -d`` the same statement reads differently on a 50M-row table (error) than on an
empty one (info). A rule returns a ``Graded`` message: a ``str`` that also carries the severity
this finding has (the engine reads ``message.severity`` when present, else the rule's own).
Without a catalog the message is returned unchanged: the rule's severity, today's behaviour.
"""

from __future__ import annotations

from expandcontract.lint.catalog import Catalog, TableFacts
from expandcontract.lint.context import Context
from expandcontract.lint.ir import Op


class Graded(str):
    """A finding message with its own severity."""

    severity: str

    def __new__(cls, text: str, severity: str) -> Graded:
        self = super().__new__(cls, text)
        self.severity = severity
        return self


def table_facts(op: Op, ctx: Context) -> tuple[str, TableFacts | None]:
    """(catalog key or the name as written, its facts or None if the database lacks it)."""
    catalog = ctx.catalog
    if catalog is None or not op.table:
        return op.table or "", None
    key = catalog.resolve(op.table, ctx.schema.effective_path(catalog))
    return (key, catalog.tables[key]) if key else (op.table, None)


def graded(message: str, op: Op, ctx: Context, work: str) -> str:
    """``message`` with what the table's size means for ``work`` ("the rewrite", "the scan")."""
    catalog = ctx.catalog
    if catalog is None or not op.table:
        return message
    name, facts = table_facts(op, ctx)
    if facts is None:
        return Graded(
            f"{message}; {op.table} is not in the database (created by a migration not "
            "applied there yet?), so its size is unknown",
            "warning",
        )
    severity, size = grade(facts, catalog)
    if severity == "info":
        return Graded(f"{message}; {name} is empty in the database, so {work} is instant", "info")
    return Graded(f"{message}; {name} {size}", severity)


def grade(facts: TableFacts, catalog: Catalog) -> tuple[str, str]:
    """(severity, "has ~N rows (size)") for a table of this size."""
    limits = catalog.limits
    if facts.heap_bytes == 0:
        return "info", "is empty"
    size = _pretty(facts.total_bytes)
    if facts.rows_known:
        large = facts.rows >= limits.rows or facts.heap_bytes >= limits.bytes
        text = f"has ~{int(facts.rows):,} rows ({size})"
    else:
        large = facts.heap_bytes >= limits.bytes
        text = f"has {size} of data (rows not counted yet: ANALYZE it for an estimate)"
    return ("error" if large else "warning"), text


def _pretty(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = n / 1024
    for unit in ("kB", "MB", "GB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"
