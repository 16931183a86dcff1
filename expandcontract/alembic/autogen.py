"""Autogenerate that writes safe revisions, and sees no drift in ec's own objects.

Enabled by env.py: ``context.configure(..., autogenerate_plugins=["alembic.autogenerate.*",
"expandcontract.*"])`` (Alembic runs a plugin's comparators only when listed there). Two
top-level comparators:

- first, before Alembic compares anything: ec's objects (``_ec_`` columns, indexes and
  constraints, the ledger and version schemas, what an in-flight migration explains; see
  autogen_drift) are filtered out, the way a user's ``include_object`` would;
- last, after Alembic's own comparators filled the UpgradeOps: unsafe operations are rewritten
  into their safe forms (autogen_rewrite), rendered by autogen_ops.

Nothing here imports ``alembic.autogenerate`` at plugin import time: Alembic loads plugins
while that package is half-imported, so everything heavy is imported inside the comparators.
"""

from __future__ import annotations

from typing import Any


def _filter_ec_objects(autogen_context: Any, upgrade_ops: Any) -> Any:
    from alembic.util import PriorityDispatchResult

    from expandcontract.alembic.autogen_drift import ec_filter, ec_objects_for

    ec = ec_objects_for(autogen_context.migration_context)
    # Alembic keeps the configured include_object callables in this list and consults it for
    # every table, column, index and constraint; there is no public way to add one.
    autogen_context._object_filters.insert(0, ec_filter(ec))
    return PriorityDispatchResult.CONTINUE


def _write_safe_forms(autogen_context: Any, upgrade_ops: Any) -> Any:
    from alembic.util import PriorityDispatchResult

    from expandcontract.alembic.autogen_drift import ec_objects_for
    from expandcontract.alembic.autogen_ops import register_renderers
    from expandcontract.alembic.autogen_rewrite import rewrite

    register_renderers()
    base_schema = ec_objects_for(autogen_context.migration_context).base_schema
    rewrite(autogen_context, upgrade_ops, base_schema)
    return PriorityDispatchResult.CONTINUE


def register(plugin: Any) -> None:
    """Register autogenerate comparators (called from plugin.setup)."""
    from alembic.util import DispatchPriority

    plugin.add_autogenerate_comparator(
        _filter_ec_objects, "autogenerate", qualifier="postgresql", priority=DispatchPriority.FIRST
    )
    plugin.add_autogenerate_comparator(
        _write_safe_forms, "autogenerate", qualifier="postgresql", priority=DispatchPriority.LAST
    )
