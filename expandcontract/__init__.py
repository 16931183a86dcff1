"""expandcontract: zero-downtime PostgreSQL schema changes (expand, backfill, switch, contract)."""

# The single source of the version (pyproject reads it): importlib.metadata would cost ~30 ms
# at every start, which `ec lint` on a warm cache cannot afford.
__version__ = "0.1.0"

__all__ = ["__version__"]
