"""Ledger tests: the shared ec_* fixtures, plus a private server tests may restart."""

from tests.runner.restartable import restartable  # noqa: F401
