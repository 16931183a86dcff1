"""How a backfill may run: can its expressions be evaluated again without changing the result?

* **converge**: every SET expression is deterministic (IMMUTABLE functions and operators only)
  and reads none of the columns the backfill assigns, and the filter calls nothing VOLATILE.
  Evaluating such an expression again gives the value the row already has, so a batch skips
  rows that are already right and a verification sweep can re-check (and fix) every row.
* **once**: anything else (``n = n + 1``, ``updated_at = now()``, ``token =
  gen_random_uuid()``). Each row must be written exactly once: keyset batches whose UPDATE and
  cursor commit together, no comparison that evaluates the expression a second time, and no
  re-evaluating sweep. ctid paging cannot promise once (an updated row moves to another page)
  and is refused.

PostgreSQL decides, not a list kept here: each expression is put into a temporary view (in a
transaction that is rolled back) and the analysed tree PostgreSQL stored for it names every
function, operator and I/O conversion it resolved, and every column it reads (also through
subqueries over the same table and whole-row references); pg_proc gives their volatility.
(The view's pg_depend rows cannot tell: dependencies on built-in, pinned objects such as
``now()`` or ``int4pl`` are not recorded. They do name the columns that other views read,
which is how a view over the same table is seen through.)
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

import psycopg
from psycopg import sql

from expandcontract.backfill.spec import BackfillSpec
from expandcontract.operations.expressions import catalog_sql, expression_sql
from expandcontract.runner.runner import Connection

CONVERGE = "converge"
ONCE = "once"

_FUNCTIONS = re.compile(r":(?:funcid|opfuncid|aggfnoid|winfnoid) (\d+)")
_OPERATORS = re.compile(r":opno (\d+)|:opnos \(o ([\d ]*)\)")
_TYPES = re.compile(r":[a-z_]*type(?:id)? (\d+)")
_READS = re.compile(r":relid (\d+)(?:(?!:relid )[^{}])*?:selectedCols \(b([\d ]*)\)")
# Nodes that evaluate something mutable without naming a function.
_MUTABLE_NODES = {
    "{SQLVALUEFUNCTION": "a CURRENT_TIMESTAMP-style value (stable)",
    "{NEXTVALUEEXPR": "a sequence (volatile)",
    "{TABLESAMPLECLAUSE": "TABLESAMPLE (volatile)",
}

_NOT_IMMUTABLE = """
SELECT DISTINCT p.oid::regprocedure::text, p.provolatile::text FROM pg_proc p
WHERE (p.oid = ANY(%(funcs)s)
       OR p.oid IN (SELECT oprcode FROM pg_operator WHERE oid = ANY(%(ops)s))
       OR p.oid IN (SELECT typinput FROM pg_type WHERE oid = ANY(%(io)s)
                    UNION SELECT typoutput FROM pg_type WHERE oid = ANY(%(io)s)))
  AND p.provolatile = ANY(%(levels)s)
ORDER BY 1
"""
_VOLATILITY = {"s": "stable", "v": "volatile"}
# System columns that every write of the row changes.
_WRITE_STAMPED = {-1: "ctid", -2: "xmin", -3: "cmin", -4: "xmax", -5: "cmax"}


@dataclasses.dataclass(frozen=True)
class Mode:
    name: str  # CONVERGE or ONCE
    reason: str

    @property
    def once(self) -> bool:
        return self.name == ONCE


# A trigger body that can change any column of the row.
_OPAQUE_TRIGGER = re.compile(r"\bnew\s*:=|populate_record|\bexecute\b|\bhstore\b")


@dataclasses.dataclass(frozen=True)
class _Trigger:
    """A user BEFORE UPDATE row trigger: may its function change one of ``columns``?"""

    name: str
    language: str
    source: str

    def may_change(self, columns: list[str]) -> bool:
        if not columns:
            return False
        if self.language not in ("plpgsql", "sql"):
            return True  # C or another language: nothing to read, assume it may
        text = self.source.lower()
        # Whole-record assignment or dynamic SQL: anything may change.
        if _OPAQUE_TRIGGER.search(text):
            return True
        return any(re.search(rf"\b{re.escape(c.lower())}\b", text) for c in columns)


@dataclasses.dataclass(frozen=True)
class _Probe:
    what: str  # "--set n = n + 1" / "--where ..."
    select: sql.Composable
    assignment: bool


def classify(
    conn: Connection,
    *,
    spec: BackfillSpec,
    table: sql.Composable,
    table_oid: int,
    column_types: Mapping[str, str],
    attnums: Mapping[str, int],
) -> Mode:
    """Converge or once, with the reason, decided by PostgreSQL's analysis of each expression.
    Call only with expressions already checked to be one expression each."""
    probes = [
        _Probe(
            f"--set {column} = {expr}",
            sql.SQL("SELECT CAST(({}) AS {}) FROM {}").format(
                expression_sql(expr), catalog_sql(column_types[column]), table
            ),
            True,
        )
        for column, expr in spec.assignments
    ]
    if spec.where:
        probes.append(
            _Probe(
                f"--where {spec.where}",
                sql.SQL("SELECT ({})::boolean FROM {}").format(expression_sql(spec.where), table),
                False,
            )
        )
    assigned = {attnums[c]: c for c, _ in spec.assignments}
    # The write also changes stored generated columns computed from what it assigns.
    for attnum, name in conn.execute(_GENERATED_FROM, (table_oid, list(assigned))).fetchall():
        assigned.setdefault(int(attnum), f"{name} (generated from an assigned column)")
    triggers = [
        _Trigger(str(r[0]), str(r[1]), str(r[2] or ""))
        for r in conn.execute(_BEFORE_UPDATE_TRIGGERS, (table_oid,))
    ]
    column_names = {
        int(r[0]): str(r[1])
        for r in conn.execute(
            "SELECT attnum, attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0",
            (table_oid,),
        )
    }
    offset = 7 if conn.info.server_version >= 120000 else 8  # FirstLowInvalidHeapAttributeNumber
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SELECT set_config('statement_timeout', '30s', true)")
            for i, probe in enumerate(probes):
                reason = _unsafe(
                    conn, i, probe, table_oid, assigned, offset, triggers, column_names
                )
                if reason:
                    return Mode(ONCE, reason)
    except psycopg.Error as exc:
        detail = (exc.diag.message_primary or str(exc)).strip()
        return Mode(
            ONCE,
            "ec could not ask PostgreSQL whether the expressions can be evaluated again "
            f"({detail}; ec needs the TEMPORARY privilege on the database for that)",
        )
    return Mode(
        CONVERGE,
        "deterministic expressions that do not read the columns they assign: evaluating them "
        "again is harmless, so a sweep verifies every row",
    )


def _unsafe(
    conn: Connection,
    i: int,
    probe: _Probe,
    table_oid: int,
    assigned: Mapping[int, str],
    offset: int,
    triggers: list[_Trigger],
    column_names: Mapping[int, str],
) -> str | None:
    view = sql.Identifier("pg_temp", f"_ec_mode_probe_{i}")
    # binary=True: the extended protocol, which carries exactly one statement.
    conn.execute(sql.SQL("CREATE TEMP VIEW {} AS {}").format(view, probe.select), binary=True)
    names = {"view": view.as_string(conn), "table": table_oid}
    row = conn.execute(
        "SELECT ev_action::text FROM pg_rewrite WHERE ev_class = %(view)s::regclass", names
    ).fetchone()
    assert row is not None
    tree = str(row[0])
    if probe.assignment:
        reads = _columns_read(tree, table_oid, offset) | _read_through_views(conn, names)
        if 0 in reads:
            return (
                f"{probe.what} reads the whole row, including the column(s) it assigns: "
                "evaluated again it would apply again"
            )
        own = sorted(assigned[a] for a in reads if a in assigned)
        own += sorted(_WRITE_STAMPED[a] for a in reads if a in _WRITE_STAMPED)
        if own:
            return (
                f"{probe.what} reads {', '.join(own)}, which the backfill's own write "
                "changes: evaluated again it would apply again"
            )
        read_names = [column_names[a] for a in sorted(reads) if a in column_names]
        changing = [t.name for t in triggers if t.may_change(read_names)]
        if changing:
            return (
                f"{probe.what} reads columns that BEFORE UPDATE trigger(s) "
                f"{', '.join(changing)} may change on every write: evaluated again it could "
                "apply again"
            )
    levels = ["s", "v"] if probe.assignment else ["v"]
    for marker, what in _MUTABLE_NODES.items():
        if marker in tree and (probe.assignment or "volatile" in what):
            return f"{probe.what} uses {what}: evaluated again it can give another value"
    funcs = [int(m) for m in _FUNCTIONS.findall(tree)]
    ops = [int(n) for a, b in _OPERATORS.findall(tree) for n in (a + " " + b).split()]
    io = [int(t) for t in _TYPES.findall(tree)] if "{COERCEVIAIO" in tree else []
    found = conn.execute(
        _NOT_IMMUTABLE, {"funcs": funcs, "ops": ops, "io": io, "levels": levels}
    ).fetchall()
    if found:
        calls = ", ".join(f"{name} ({_VOLATILITY[v]})" for name, v in found)
        effect = "give another value" if probe.assignment else "select other rows"
        return f"{probe.what} calls {calls}: evaluated again it can {effect}"
    return None


# Stored generated columns whose expression reads one of the given columns.
_GENERATED_FROM = """
SELECT DISTINCT a.attnum, a.attname FROM pg_attribute a
JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
 AND d.refclassid = 'pg_class'::regclass AND d.refobjid = a.attrelid
WHERE a.attrelid = %s AND a.attgenerated = 's' AND d.refobjsubid = ANY(%s::smallint[])
"""
# Enabled user BEFORE UPDATE row triggers (ROW = 1, BEFORE = 2, UPDATE = 16 in tgtype); ec's own
# dual-write triggers only write the new version's columns.
_BEFORE_UPDATE_TRIGGERS = """
SELECT t.tgname, l.lanname, p.prosrc FROM pg_trigger t
JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_language l ON l.oid = p.prolang
WHERE t.tgrelid = %s AND NOT t.tgisinternal AND t.tgenabled <> 'D'
  AND t.tgtype & 1 = 1 AND t.tgtype & 2 = 2 AND t.tgtype & 16 = 16
  AND t.tgname NOT LIKE '\\_ec\\_%%'
ORDER BY t.tgname
"""

# Columns of the table that views used by the expression read, at any depth (pg_depend
# records column dependencies of user views); a view depending on the whole table counts as
# reading the whole row.
_VIEW_READS = """
WITH RECURSIVE rules(oid) AS (
    SELECT oid FROM pg_rewrite WHERE ev_class = %(view)s::regclass
  UNION
    SELECT r.oid FROM rules
    JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rules.oid
     AND d.refclassid = 'pg_class'::regclass
    JOIN pg_rewrite r ON r.ev_class = d.refobjid AND r.rulename = '_RETURN'
)
SELECT DISTINCT d.refobjsubid::int FROM rules
JOIN pg_rewrite r ON r.oid = rules.oid AND r.ev_class <> %(view)s::regclass
JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rules.oid
 AND d.refclassid = 'pg_class'::regclass AND d.refobjid = %(table)s
"""


def _read_through_views(conn: Connection, names: Mapping[str, object]) -> set[int]:
    return {int(r[0]) for r in conn.execute(_VIEW_READS, names).fetchall()}


def _columns_read(tree: str, table_oid: int, offset: int) -> set[int]:
    """Attribute numbers of the table read anywhere in the tree (0: the whole row, negative:
    system columns)."""
    reads: set[int] = set()
    for relid, members in _READS.findall(tree):
        if int(relid) == table_oid:
            reads.update(int(m) - offset for m in members.split())
    return reads
