"""expandcontract: zero-downtime PostgreSQL schema changes (expand, backfill, switch, contract)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("expandcontract")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
