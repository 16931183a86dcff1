"""The one interface every PostgreSQL provider implements: start, give a URL, stop and clean up."""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import psycopg
from psycopg import sql

from expandcontract.dsn import mask_dsn, to_psycopg, with_database


class PostgresServer(abc.ABC):
    """A throwaway PostgreSQL server (or, for ``url``, throwaway databases on an existing one).

    ``url`` is a libpq URL to the maintenance database (``postgres``) as a superuser;
    ``url_for(name)`` points at another database of the same server.
    """

    kind: ClassVar[str]

    def __init__(self) -> None:
        self._url: str | None = None
        self._created: list[str] = []

    @classmethod
    @abc.abstractmethod
    def unavailable_reason(cls) -> str | None:
        """None when this provider can be tried here, else why not and what to install."""

    @abc.abstractmethod
    def _start(self) -> str:
        """Start the server and return its admin URL."""

    @abc.abstractmethod
    def _stop(self) -> None:
        """Stop the server and remove everything it left behind."""

    def start(self) -> PostgresServer:
        if self._url is None:
            self._url = self._start()
        return self

    def stop(self) -> None:
        if self._url is not None:
            try:
                self._stop()
            finally:
                self._url = None
                self._created.clear()

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError(f"the {self.kind} server is not started")
        return self._url

    def url_for(self, dbname: str) -> str:
        return with_database(self.url, dbname)

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(to_psycopg(self.url_for(dbname)), autocommit=True)

    @property
    def server_version_num(self) -> int:
        with self.connect() as conn:
            row = conn.execute("SHOW server_version_num").fetchone()
        assert row is not None
        return int(row[0])

    # Databases: CREATE DATABASE ... TEMPLATE clones a prepared database in milliseconds.
    def create_database(self, name: str, *, template: str | None = None) -> str:
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("{} TEMPLATE {}").format(stmt, sql.Identifier(template))
        with self.connect() as conn:
            conn.execute(stmt)
        self._created.append(name)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            force = sql.SQL(" WITH (FORCE)") if self._has_force(conn) else sql.SQL("")
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(name), force)
            )
        if name in self._created:
            self._created.remove(name)

    @staticmethod
    def _has_force(conn: psycopg.Connection[tuple[Any, ...]]) -> bool:
        return conn.info.server_version >= 130000

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = mask_dsn(self._url) if self._url else "not started"
        return f"<{type(self).__name__} {where}>"
