"""The ``alembic.plugins`` entry point. Alembic imports every installed plugin at
``import alembic`` and calls its ``setup(plugin)``: a failure here would break every Alembic
command in the environment, so this module imports nothing heavy at the top and each part
registers itself lazily.

Alembic 1.18.0-1.20.0 iterate the loaded entry point instead of calling ``setup`` on it (fixed
in 1.20.1, alembic#1873): the module is made iterable, yielding itself, so both work without a
deprecation warning."""

from __future__ import annotations

import sys
import types
from typing import Any


def setup(plugin: Any) -> None:
    """Register ec's operations, the safe-ops implementations and the autogenerate
    comparators (the latter run only when env.py lists ``"expandcontract.*"`` in
    ``autogenerate_plugins``)."""
    from expandcontract.alembic import autogen, ec_ops, safe_ops

    ec_ops.register()
    safe_ops.register()
    autogen.register(plugin)


class _IterableModule(types.ModuleType):
    def __iter__(self) -> Any:
        yield self


sys.modules[__name__].__class__ = _IterableModule
