"""pytest plugin (entry point ``pytest11``): real PostgreSQL for your test suite.

Fixtures:
  ``ec_server``  (session) a started :class:`~expandcontract.servers.PostgresServer`;
  ``ec_template`` (session) name of an empty template database, prepared once;
  ``ec_db``      (function) a fresh database cloned from the template (``.url``, ``.connect()``);
  ``ec_conn``    (function) an autocommit psycopg connection to ``ec_db``;
  ``ec_verify``  (function) ``ec_verify(migration, old=MetaData, new=MetaData, **options)``
                 verifies a migration against both app versions on ``ec_server`` and fails the
                 test with the report (see expandcontract.verify.pytest_helper).

Option ``--ec-server auto|url|embedded|local|container`` (or env EC_SERVER) picks the provider.
Tests using these fixtures get the ``postgres`` marker, so ``-m postgres`` selects them.
Override the ``ec_template_setup`` fixture to put shared schema into the template once.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from expandcontract.config import SERVER_KINDS
from expandcontract.dsn import to_psycopg, to_sqlalchemy
from expandcontract.errors import ServerUnavailable
from expandcontract.servers import PostgresServer, start_server

_FIXTURES = {"ec_server", "ec_template", "ec_db", "ec_conn", "ec_verify"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("expandcontract")
    group.addoption(
        "--ec-server",
        choices=SERVER_KINDS,
        default=None,
        help="PostgreSQL provider for ec fixtures (default: $EC_SERVER or auto).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: uses a PostgreSQL server through ec fixtures")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@dataclasses.dataclass(frozen=True)
class EcDatabase:
    """A throwaway database: its name, libpq URL and the server it lives on."""

    name: str
    url: str = dataclasses.field(repr=False)  # pytest prints fixtures in failure reports
    server: PostgresServer

    @property
    def sqlalchemy_url(self) -> str:
        return to_sqlalchemy(self.url)

    def connect(self, *, autocommit: bool = True, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(to_psycopg(self.url), autocommit=autocommit, **kwargs)


def server_kind(config: pytest.Config) -> str:
    return str(config.getoption("--ec-server") or os.environ.get("EC_SERVER") or "auto")


@pytest.fixture(scope="session")
def ec_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    try:
        server = start_server(server_kind(request.config))
    except ServerUnavailable as exc:
        pytest.fail(f"expandcontract: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ec_template_setup() -> Callable[[psycopg.Connection[Any]], None] | None:
    """Override to run setup SQL in the template database once per session."""
    return None


@pytest.fixture(scope="session")
def ec_template(
    ec_server: PostgresServer,
    ec_template_setup: Callable[[psycopg.Connection[Any]], None] | None,
) -> Iterator[str]:
    name = f"ec_template_{uuid.uuid4().hex[:10]}"
    ec_server.create_database(name)
    if ec_template_setup is not None:
        with ec_server.connect(name) as conn:
            ec_template_setup(conn)
    try:
        yield name
    finally:
        ec_server.drop_database(name)


@pytest.fixture
def ec_db(ec_server: PostgresServer, ec_template: str) -> Iterator[EcDatabase]:
    name = f"ec_test_{uuid.uuid4().hex[:12]}"
    url = ec_server.create_database(name, template=ec_template)
    try:
        yield EcDatabase(name=name, url=url, server=ec_server)
    finally:
        ec_server.drop_database(name)


@pytest.fixture
def ec_conn(ec_db: EcDatabase) -> Iterator[psycopg.Connection[Any]]:
    with ec_db.connect() as conn:
        yield conn


@pytest.fixture
def ec_verify(ec_server: PostgresServer) -> Callable[..., Any]:
    """One call verifies a migration against two MetaData objects; a failure fails the test."""
    from expandcontract.verify.pytest_helper import assert_compatible

    return functools.partial(assert_compatible, server=ec_server)
