"""Error types. Every error ec raises on purpose carries one clear sentence and a hint to act on."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class ECError(Exception):
    """Base class: an operation failed in a way ec understands (exit code 1)."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class ConfigError(ECError):
    """Bad settings, flags or configuration file (exit code 2)."""

    exit_code = EXIT_USAGE


class ServerUnavailable(ECError):
    """A PostgreSQL server provider cannot start a server here."""


class LockRetryExhausted(ECError):
    """A step could not get its lock within the retry budget."""


class StepFailed(ECError):
    """A statement failed for a reason that retrying will not fix."""


class LedgerBusy(ECError):
    """Another ec process holds the per-database advisory lock."""


class LedgerError(ECError):
    """The ledger is missing, too new, or inconsistent."""
