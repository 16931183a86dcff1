from __future__ import annotations

from expandcontract.lint.context import Context
from expandcontract.lint.ir import K, Op, Statement
from expandcontract.lint.rules._util import existing, locks
from expandcontract.lint.rules.base import Rule


def check(op: Op, stmt: Statement, ctx: Context) -> str | None:
    if op.kind == K.CREATE_TRIGGER and existing(op, ctx):
        return f"CREATE TRIGGER {op.name} {locks(op)}; it is quick once it gets the lock"
    return None


RULE = Rule(
    id="create-trigger-lock",
    severity="info",
    summary="CREATE TRIGGER on an existing table",
    why="CREATE TRIGGER takes SHARE ROW EXCLUSIVE: it waits for running writes and blocks new "
    "ones while queued.",
    suggestion="Set a short lock_timeout and retry (ec installs its dual-write triggers this way).",
    equivalents={"atlas": ["PG308"]},
    check=check,
    kinds=frozenset({K.CREATE_TRIGGER}),
    bad="CREATE TRIGGER trg BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION f();",
    good="CREATE TABLE t (id int);\n"
    "CREATE TRIGGER trg BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f();",
)
