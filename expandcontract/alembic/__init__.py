"""ec inside Alembic: ``op.expand_contract`` and friends in revisions, Alembic's own ``op.*``
in their lock-safe forms (``ec.safe_ops = true``), autogenerate that writes safe revisions,
and expand/contract branches. Loaded by Alembic through the ``alembic.plugins`` entry point
(see plugin.py); nothing here is imported by ``import expandcontract``."""

from expandcontract.alembic.autogen_drift import include_object as include_object
