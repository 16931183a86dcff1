"""State carried through one file while its statements are linted, in order.

Rules read it *before* the current op is applied; ``after`` then records the op's effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from expandcontract.lint.catalog import Catalog, FileSchema, active_catalog
from expandcontract.lint.ir import ALL_KINDS, K, Op, Statement
from expandcontract.lint.locks import AEL, lock_of, stronger
from expandcontract.lint.settings import LintSettings

_DDL_KINDS = set(ALL_KINDS) - {
    K.SET,
    K.BEGIN,
    K.COMMIT,
    K.ROLLBACK,
    K.SAVEPOINT,
    K.UPDATE,
    K.DELETE,
    K.INSERT,
    K.SELECT,
    K.HARMLESS,
    K.UNKNOWN,
    K.DO,
}


@dataclass
class Context:
    settings: LintSettings
    assume_in_transaction: bool
    phase: str = ""  # "", "expand", "contract"
    depth: int = 0  # explicit BEGIN nesting
    tx_number: int = 0
    created: set[str] = field(default_factory=set)  # tables/objects created earlier in file
    lock_timeout: bool = False
    statement_timeout: bool = False
    not_valid: dict[str, int] = field(default_factory=dict)  # constraint -> tx it was added in
    validated: set[str] = field(default_factory=set)
    not_null_checks: dict[tuple[str, str], str] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)  # table -> strongest lock in this tx
    ael_statement: Statement | None = None  # first ACCESS EXCLUSIVE statement of this tx
    ddl_in_tx: bool = False
    statement_ops: list[Op] = field(default_factory=list)
    begin_statement: Statement | None = None
    once: set[str] = field(default_factory=set)  # rules that report once per file
    checks_on: dict[str, set[str]] = field(default_factory=dict)  # table -> CHECK names
    backfilled: set[str] = field(default_factory=set)  # tables with a data UPDATE in this file
    contracted: dict[str, int] = field(default_factory=dict)  # table -> first contract DDL line
    # ec lint -d: the database's catalog (None without one) and this file's changes over it
    catalog: Catalog | None = field(default_factory=active_catalog)
    schema: FileSchema = field(default_factory=FileSchema)
    rule_state: dict[str, Any] = field(default_factory=dict)  # a rule's own, keyed by rule id

    @property
    def pg(self) -> int:
        return self.settings.pg_version

    @property
    def in_transaction(self) -> bool:
        return self.depth > 0 or self.assume_in_transaction

    def is_new(self, table: str | None) -> bool:
        return bool(table) and (table in self.created or _bare(table or "") in self.created)

    def first_time(self, rule_id: str) -> bool:
        if rule_id in self.once:
            return False
        self.once.add(rule_id)
        return True

    def _end_transaction(self) -> None:
        self.held.clear()
        self.ael_statement = None
        self.ddl_in_tx = False
        self.tx_number += 1

    def after(self, op: Op, stmt: Statement) -> None:
        kind = op.kind
        self.schema.apply(op)
        if kind == K.BEGIN:
            if self.depth == 0:
                self._end_transaction()
                self.begin_statement = stmt
            self.depth += 1
            return
        if kind in (K.COMMIT, K.ROLLBACK):
            self.depth = 0
            self.begin_statement = None
            self._end_transaction()
            return
        if kind == K.SET and op.name in ("lock_timeout", "statement_timeout"):
            enabled = op.detail.get("value", "") not in ("0", "default", "'0'")
            setattr(self, op.name, enabled)
        if kind in (K.CREATE_TABLE, K.CREATE_MATVIEW) or (
            # CREATE OR REPLACE may replace an existing (busy) view: not known to be new
            kind == K.HARMLESS
            and op.detail.get("created")
            and op.table
            and not op.detail.get("replace")
        ):
            self.created.add(op.table or "")
        if kind == K.CREATE_INDEX and op.name and self.is_new(op.table):
            self.created.add(op.name)  # an index of a new table: dropping it waits for nothing
        if kind == K.ADD_CONSTRAINT and op.name:
            if op.not_valid:
                self.not_valid[op.name] = self.tx_number
            if op.detail.get("type") == "check" and op.table:
                self.checks_on.setdefault(op.table, set()).add(op.name)
            nn_column = op.detail.get("not_null_column")
            if nn_column and op.table:
                self.not_null_checks[(op.table, nn_column)] = op.name
                if not op.not_valid:
                    self.validated.add(op.name)
        if kind == K.VALIDATE_CONSTRAINT and op.name:
            self.validated.add(op.name)
        if kind == K.UPDATE and op.table:
            self.backfilled.add(op.table)
        if kind in _DDL_KINDS:
            self.ddl_in_tx = True
            if self.phase == "contract" and op.table and not self.is_new(op.table):
                self.contracted.setdefault(op.table, op.line or stmt.line)
        lock = lock_of(op)
        if op.table and lock:
            self.held[op.table] = stronger(self.held.get(op.table), lock) or lock
            if lock == AEL and self.ael_statement is None and not self.is_new(op.table):
                self.ael_statement = stmt

    def statement_done(self) -> None:
        if not self.in_transaction:  # autocommit: every statement is its own transaction
            self._end_transaction()

    def proven_not_null(self, table: str, column: str) -> bool:
        """A validated CHECK (column IS NOT NULL) lets PG 12+ skip the SET NOT NULL scan."""
        name = self.not_null_checks.get((table, column))
        return name is not None and name in self.validated


def _bare(name: str) -> str:
    return name.rsplit(".", 1)[-1]
