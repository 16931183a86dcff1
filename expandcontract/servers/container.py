"""``container``: testcontainers' PostgresContainer. Image from EC_POSTGRES_IMAGE (default the
official postgres:17); data on tmpfs and fsync off, since the server is thrown away."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
from typing import Any

from expandcontract.dsn import to_psycopg
from expandcontract.errors import ServerUnavailable
from expandcontract.servers.base import PostgresServer
from expandcontract.servers.tuning import server_options

DEFAULT_IMAGE = "postgres:17"

_OFFLINE_HINT = (
    "start Docker (or set DOCKER_HOST), make the image available locally "
    "(docker pull / docker load, or build one with scripts/build_postgres_image.sh) and set "
    "EC_POSTGRES_IMAGE to it; with no registry reachable also set TESTCONTAINERS_RYUK_DISABLED=true"
)


def image() -> str:
    return os.environ.get("EC_POSTGRES_IMAGE") or DEFAULT_IMAGE


def docker_reason() -> str | None:
    """None if a Docker engine answers, else why not."""
    if importlib.util.find_spec("testcontainers") is None:
        return "testcontainers is not installed (pip install 'expandcontract[containers]')"
    try:
        import docker

        client = docker.from_env(timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return f"Docker is not reachable ({type(exc).__name__}: {str(exc)[:200]})"
    return None


class ContainerServer(PostgresServer):
    kind = "container"

    def __init__(self, image_name: str | None = None) -> None:
        super().__init__()
        self.image = image_name or image()
        self._container: Any = None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return docker_reason()

    def _start(self) -> str:
        reason = docker_reason()
        if reason:
            raise ServerUnavailable(f"cannot start a PostgreSQL container: {reason}", _OFFLINE_HINT)
        try:  # testcontainers >= 4.15 moved the module; the old path warns there
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:
            from testcontainers.postgres import PostgresContainer

        password = secrets.token_urlsafe(16)
        container = (
            PostgresContainer(
                self.image, username="ec", password=password, dbname="postgres", driver=None
            )
            .with_tmpfs_mount("/var/lib/postgresql/data")
            .with_command(["postgres", *_flatten(server_options()), "-c", "max_connections=200"])
        )
        try:
            container.start()
        except Exception as exc:
            self._container = container
            self._stop()
            raise ServerUnavailable(
                f"cannot start a PostgreSQL container from image {self.image!r}: {_describe(exc)}",
                _OFFLINE_HINT,
            ) from None
        self._container = container
        return to_psycopg(container.get_connection_url())

    def _stop(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):  # already gone: nothing left to clean
                self._container.stop()
            self._container = None


def _flatten(options: list[str]) -> list[str]:
    out: list[str] = []
    for option in options:
        flag, value = option.split(" ", 1)
        out += [flag, value]
    return out


def _describe(exc: BaseException) -> str:
    """docker-py's APIError for a failed pull names the image in the request URL:
    ``…/images/create?…fromImage=<image>`` (Ryuk's own image when the reaper is enabled)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    explanation = str(getattr(exc, "explanation", "") or "")
    if "fromImage=testcontainers" in text:
        return (
            "the Ryuk reaper image (testcontainers/ryuk) is not available and cannot be pulled "
            f"({explanation[:200] or text[:200]})"
        )
    if "/images/create" in text or "No such image" in text:
        return (
            "the image is not available locally and cannot be pulled "
            f"({explanation[:200] or text[:200]})"
        )
    return f"{type(exc).__name__}: {text[:300]}"
