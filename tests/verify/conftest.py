from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from expandcontract.servers.base import PostgresServer
from expandcontract.verify.api import verify_migration
from expandcontract.verify.report import Check, Report

APPS = Path(__file__).parent / "apps"


class Verify:
    """verify_migration on the session's server, small and fast: 40 rows, one round."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server

    def __call__(self, migration: str, **options: Any) -> Report:
        from tests.verify.apps import shop_v1

        options.setdefault("old", shop_v1.metadata)
        options.setdefault("new", shop_v1.metadata)
        options.setdefault("rows", 40)
        options.setdefault("rounds", 1)
        return verify_migration(APPS / f"{migration}.yaml", server=self.server, **options)


@pytest.fixture
def verify(ec_server: PostgresServer) -> Verify:
    return Verify(ec_server)


def failures(report: Report, *, phase: str | None = None, version: str | None = None,
             kind: str | None = None) -> list[Check]:  # fmt: skip
    return [
        c
        for c in report.failures
        if (phase is None or c.phase == phase)
        and (version is None or c.version == version)
        and (kind is None or c.kind == kind)
    ]


def details(checks: list[Check]) -> str:
    return "\n".join(c.describe() for c in checks)
