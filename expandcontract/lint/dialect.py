"""The one sqlglot dialect instance the linter uses (PostgreSQL), created once per process."""

from __future__ import annotations

import logging

from sqlglot.dialects.postgres import Postgres

# sqlglot logs "Falling back to parsing as a 'Command'" and similar; we report these ourselves.
logging.getLogger("sqlglot").setLevel(logging.CRITICAL)

DIALECT = Postgres()
