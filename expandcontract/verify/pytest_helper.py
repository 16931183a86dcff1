"""One call for your own test suite: verify a migration against two app versions and fail the
test with the report.

    from expandcontract.verify.pytest_helper import assert_compatible

    def test_0002_is_zero_downtime(ec_server):
        assert_compatible("migrations/0002_status.yaml", old=models_v1.Base, new=models_v2.Base,
                          server=ec_server)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from expandcontract.engine.migration import Migration
from expandcontract.servers.base import PostgresServer
from expandcontract.verify.api import DEFAULT_ROWS, verify_migration
from expandcontract.verify.report import Report


def assert_compatible(
    migration: Migration | str | Path,
    *,
    old: Any,
    new: Any,
    server: str | PostgresServer = "auto",
    rows: int = DEFAULT_ROWS,
    seed: int = 0,
    **options: Any,
) -> Report:
    """Verify ``migration`` (file or Migration) between ``old`` and ``new`` (MetaData,
    declarative Base, or a callable returning one); ``pytest.fail`` with the plain-text report
    when any check fails. ``options`` are :func:`verify_migration`'s (old_check, new_check,
    base_sql, history, rounds, schema, contract_before_switch, backfill)."""
    report = verify_migration(
        migration, old=old, new=new, server=server, rows=rows, seed=seed, **options
    )
    if not report.compatible:
        pytest.fail(report.text(), pytrace=False)
    return report
