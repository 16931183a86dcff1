"""``url``: an existing server named by EC_DATABASE_URL. ec only creates and drops its own
databases there; it never stops the server."""

from __future__ import annotations

import os

import psycopg

from expandcontract.dsn import mask_dsn, to_psycopg
from expandcontract.errors import ServerUnavailable
from expandcontract.servers.base import PostgresServer


class UrlServer(PostgresServer):
    kind = "url"

    def __init__(self, url: str | None = None) -> None:
        super().__init__()
        self._given = url

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if not os.environ.get("EC_DATABASE_URL"):
            return "EC_DATABASE_URL is not set"
        return None

    def _start(self) -> str:
        url = self._given or os.environ.get("EC_DATABASE_URL")
        if not url:
            raise ServerUnavailable(
                "the url server needs a database URL",
                "set EC_DATABASE_URL=postgresql://user:password@host:5432/dbname",
            )
        try:
            with psycopg.connect(to_psycopg(url), autocommit=True, connect_timeout=10) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise ServerUnavailable(
                f"cannot connect to {mask_dsn(url)}: {mask_dsn(str(exc).strip())}",
                "check EC_DATABASE_URL and that the server accepts connections",
            ) from None
        return to_psycopg(url)

    def _stop(self) -> None:
        # The server is not ours: remove only the databases we made on it.
        for name in list(self._created):
            self.drop_database(name)
