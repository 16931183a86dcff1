"""The state ledger: what ec has done to a database, so every phase can resume after a crash."""

from expandcontract.ledger.ledger import Ledger, MigrationRecord
from expandcontract.ledger.lock import ExclusiveRun
from expandcontract.ledger.schema import LATEST

__all__ = ["LATEST", "ExclusiveRun", "Ledger", "MigrationRecord"]
