"""Run an engine command (`apply` through backfill, `complete` or `rollback`) and SIGKILL this
process right before the step with the given key (`phase/key`); without a key, run to the end
and print every step key in order. Used by the kill -9 tests of test_resume and
test_live_versions."""

from __future__ import annotations

import json
import os
import signal
import sys

from expandcontract.config import Settings
from expandcontract.engine.api import Engine
from expandcontract.engine.backfill import table_backfill
from expandcontract.engine.migration import from_spec
from expandcontract.operations import PlannedStep


def main() -> None:
    url, command, spec, crash_key = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
    seen: list[str] = []

    def before_step(phase: str, step: PlannedStep) -> None:
        key = f"{phase}/{step.key}"
        if key == crash_key:
            os.kill(os.getpid(), signal.SIGKILL)
        seen.append(key)

    settings = Settings()
    engine = Engine(
        url, settings, backfill=table_backfill(url, settings), sink=None, before_step=before_step
    )
    if command == "apply":
        engine.apply(from_spec(spec, default_name="live"))
    elif command == "complete":
        engine.complete()
    elif command == "rollback":
        engine.rollback()
    else:
        raise SystemExit(f"unknown command {command}")
    print(json.dumps({"steps": seen}))


if __name__ == "__main__":
    main()
