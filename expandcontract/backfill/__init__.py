"""The backfill engine: batched, adaptive, throttled, resumable, parallel UPDATEs.

>>> run_backfill(url, table="orders", assignments={"total_cents": "round(total * 100)"})
"""

from expandcontract.backfill.api import (
    BackfillResult,
    backfill_status,
    cancel_backfill,
    pause_backfill,
    resume_backfill,
    run_backfill,
)
from expandcontract.backfill.errors import (
    BackfillCancelled,
    BackfillFailed,
    BackfillInputError,
    BackfillRowError,
)
from expandcontract.backfill.progress import ProgressTracker
from expandcontract.backfill.settings import BackfillSettings
from expandcontract.backfill.spec import BackfillSpec, parse_assignment

__all__ = [
    "BackfillCancelled",
    "BackfillFailed",
    "BackfillInputError",
    "BackfillResult",
    "BackfillRowError",
    "BackfillSettings",
    "BackfillSpec",
    "ProgressTracker",
    "backfill_status",
    "cancel_backfill",
    "parse_assignment",
    "pause_backfill",
    "resume_backfill",
    "run_backfill",
]
