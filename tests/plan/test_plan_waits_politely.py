"""Planning only reads, but catalog functions wait for a table's lock: behind another
session's ACCESS EXCLUSIVE, `ec plan` waits under lock_timeout with retries, then says why,
instead of hanging for as long as that session holds the table."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from expandcontract.config import Settings
from expandcontract.engine.api import Engine
from expandcontract.engine.migration import load
from expandcontract.operations.base import MigrationInvalid
from expandcontract.pytest_plugin import EcDatabase
from tests.plan.conftest import INDEX, TYPE_CHANGE


@pytest.mark.parametrize("text", [TYPE_CHANGE, INDEX], ids=["type-change", "index"])
def test_plan_gives_up_on_a_locked_table_with_a_reason_then_plans_once_released(
    unanalysed: EcDatabase, tmp_path: Path, text: str
) -> None:
    (tmp_path / "m.yaml").write_text(text)
    migration = load(str(tmp_path / "m.yaml"))
    settings = Settings(lock_timeout_ms=50, retry_max_attempts=3)
    outcome: list[Any] = []

    def plan() -> None:
        try:
            outcome.append(Engine(unanalysed.url, settings).plan(migration))
        except MigrationInvalid as exc:
            outcome.append(exc)

    with psycopg.connect(unanalysed.url) as locker:
        locker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        worker = threading.Thread(target=plan)
        worker.start()
        worker.join(timeout=120)
        hung = worker.is_alive()
        locker.rollback()  # lets a hung plan finish, so the thread ends either way
        worker.join(timeout=120)
    assert not hung, "planning waited for as long as the lock was held"
    (error,) = outcome
    assert isinstance(error, MigrationInvalid), error
    assert "planning waited for a table another session holds locked (3 attempts" in error.message
    assert "lock timeout" in error.message
    plan_after = Engine(unanalysed.url, settings).plan(migration)  # released: plans as before
    assert plan_after.phases["expand"]
