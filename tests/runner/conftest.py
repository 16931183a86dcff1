from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from expandcontract.pytest_plugin import EcDatabase

# A private server that tests may restart (one per test module that asks for it).
from tests.runner.restartable import restartable  # noqa: F401


@pytest.fixture
def table(ec_db: EcDatabase) -> str:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE accounts (id bigint PRIMARY KEY, email text, balance int)")
        conn.execute(
            "INSERT INTO accounts SELECT g, 'u' || g || '@x.org', g % 100"
            " FROM generate_series(1, 2000) g"
        )
    return "accounts"


class Blocker:
    """Another session holding a lock on a table, released on demand or after a delay."""

    def __init__(self, url: str, statement: str, *, app: str = "blocking-report") -> None:
        self.conn: psycopg.Connection[Any] = psycopg.connect(url, application_name=app)
        self.conn.execute(statement)  # transaction stays open: the lock is held
        self.pid = self.conn.info.backend_pid

    def release_after(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self.release)
        timer.start()
        return timer

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.commit()
            self.conn.close()


@pytest.fixture
def blocker(ec_db: EcDatabase) -> Iterator[Any]:
    made: list[Blocker] = []

    def make(statement: str, **kwargs: Any) -> Blocker:
        b = Blocker(ec_db.url, statement, **kwargs)
        made.append(b)
        return b

    yield make
    for b in made:
        b.release()
    time.sleep(0)  # let timers finish their work
