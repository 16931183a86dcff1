"""Each provider starts a real server, serves a query and cleans up after itself."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from expandcontract import servers
from expandcontract.errors import ServerUnavailable
from expandcontract.servers import (
    ContainerServer,
    EmbeddedServer,
    LocalServer,
    UrlServer,
    start_server,
)
from expandcontract.servers.local import find_bindir


def _serves_and_cleans_up(server: servers.PostgresServer) -> None:
    server.start()
    try:
        with server.connect() as conn:
            row = conn.execute("SELECT 41 + 1, current_setting('fsync')").fetchone()
        assert row is not None and row[0] == 42
        url = server.create_database("ec_probe", template="template0")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("ec_probe",)
        data_dir = getattr(server, "_dir", None)
    finally:
        server.stop()
    if data_dir is not None:
        assert not Path(data_dir).exists(), "the data directory must be removed"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


def test_embedded_provider() -> None:
    server = EmbeddedServer()
    _serves_and_cleans_up(server)


@pytest.mark.skipif(find_bindir() is None, reason="no PostgreSQL binaries on this machine")
def test_local_provider_runs_as_unprivileged_user() -> None:
    server = LocalServer()
    server.start()
    try:
        with server.connect() as conn:
            # Durability is off for throwaway clusters; the server runs as a non-root OS user.
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
            assert conn.execute("SHOW max_connections").fetchone() == ("200",)
    finally:
        server.stop()
    _serves_and_cleans_up(LocalServer())


def test_url_provider_only_drops_its_own_databases(ec_server: servers.PostgresServer) -> None:
    with ec_server.connect() as conn:
        conn.execute("CREATE DATABASE not_ours")
    try:
        server = UrlServer(ec_server.url)
        server.start()
        server.create_database("ours")
        server.stop()
        with ec_server.connect() as conn:
            names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        assert "ours" not in names and "not_ours" in names
        # The server itself is still up.
        with ec_server.connect() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        with ec_server.connect() as conn:
            conn.execute("DROP DATABASE not_ours")


def test_url_provider_names_the_problem_without_the_password() -> None:
    server = UrlServer("postgresql://ec:hunter22@127.0.0.1:1/nowhere")
    with pytest.raises(ServerUnavailable) as info:
        server.start()
    assert "hunter22" not in str(info.value)
    assert "127.0.0.1:1" in str(info.value)


def test_auto_prefers_url_when_ec_database_url_is_set(
    ec_server: servers.PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EC_DATABASE_URL", ec_server.url)
    server = start_server("auto")
    try:
        assert server.kind == "url"
    finally:
        server.stop()


def test_auto_order_embedded_then_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EC_DATABASE_URL", raising=False)
    server = start_server("auto")
    try:
        assert server.kind == "embedded"
    finally:
        server.stop()
    if find_bindir() is None:
        return
    monkeypatch.setattr(EmbeddedServer, "unavailable_reason", classmethod(lambda cls: "not here"))
    server = start_server("auto")
    try:
        assert server.kind == "local"
    finally:
        server.stop()


def test_auto_explains_what_to_install_when_nothing_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EC_DATABASE_URL", raising=False)
    monkeypatch.setattr(EmbeddedServer, "unavailable_reason", classmethod(lambda cls: "no wheel"))
    monkeypatch.setattr(LocalServer, "unavailable_reason", classmethod(lambda cls: "no binaries"))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(ServerUnavailable) as info:
        start_server("auto")
    message = str(info.value)
    for part in ("url: EC_DATABASE_URL is not set", "embedded: no wheel", "local: no binaries"):
        assert part in message
    assert "container: " in message and "Docker is not reachable" in message
    assert "pip install 'expandcontract[embedded]'" in message


def test_container_without_docker_says_exactly_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(ServerUnavailable) as info:
        ContainerServer().start()
    text = str(info.value)
    assert "Docker is not reachable" in text
    assert "EC_POSTGRES_IMAGE" in text and "TESTCONTAINERS_RYUK_DISABLED=true" in text


@pytest.mark.container
def test_container_provider() -> None:
    assert os.environ.get("EC_POSTGRES_IMAGE"), "CI sets EC_POSTGRES_IMAGE to the local image"
    _serves_and_cleans_up(ContainerServer())


@pytest.mark.container
def test_container_with_missing_image_fails_clearly() -> None:
    server = ContainerServer("ec-local/does-not-exist:0")
    with pytest.raises(ServerUnavailable) as info:
        server.start()
    assert "ec-local/does-not-exist:0" in str(info.value)
    assert "EC_POSTGRES_IMAGE" in str(info.value)
