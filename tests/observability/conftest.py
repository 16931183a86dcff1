from __future__ import annotations

import pytest

from expandcontract.pytest_plugin import EcDatabase
from tests.engine.conftest import SEED


@pytest.fixture
def seeded(ec_db: EcDatabase) -> EcDatabase:
    """The engine tests' small tables (300 users), analysed."""
    with ec_db.connect() as conn:
        for statement in SEED:
            conn.execute(statement)
        conn.execute("ANALYZE")
    return ec_db
