"""What a rule is. Each rule lives in its own module in this package and exports ``RULE``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from expandcontract.lint.context import Context
from expandcontract.lint.ir import Kind, Op, Statement

Check = Callable[[Op, Statement, Context], str | None]
Finish = Callable[[Context], Iterable[tuple[Statement | None, str]]]

# Tag of the rules about *running code* breaking (drops, renames). ec's protocol guarantees no
# old-version code runs in the contract and rollback phases, so there they report nothing.
COMPAT = "compat"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str  # error | warning | info
    summary: str  # one line, for --list-rules
    why: str  # the danger: which lock, what it blocks, what breaks
    suggestion: str  # the safe alternative, naming the ec operation that does it
    equivalents: dict[str, list[str]]  # squawk / strong_migrations / atlas / eugene ids
    check: Check
    finish: Finish | None = None
    bad: str = ""  # example that triggers the rule (docs and tests)
    good: str = ""  # the safe version of the example
    default_enabled: bool = True
    tags: tuple[str, ...] = field(default_factory=tuple)
    # the op kinds ``check`` can report on; empty: every kind. The engine calls a rule only
    # for these (tests/lint/test_rule_kinds.py proves no rule fires outside its kinds).
    kinds: frozenset[Kind] = frozenset()
