"""Migration linter: ``lint_sql`` for one SQL text, ``run_lint`` for paths (what ``ec lint``
calls). Imported lazily so ``import expandcontract.lint`` never loads sqlglot by itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from expandcontract.lint.api import run_lint
    from expandcontract.lint.engine import lint_sql

__all__ = ["lint_sql", "run_lint"]


def __getattr__(name: str) -> Any:
    if name == "lint_sql":
        from expandcontract.lint.engine import lint_sql

        return lint_sql
    if name == "run_lint":
        from expandcontract.lint.api import run_lint

        return run_lint
    raise AttributeError(name)
