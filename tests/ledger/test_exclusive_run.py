"""One ec run per database: a second concurrent run is refused at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from expandcontract.errors import LedgerBusy
from expandcontract.ledger import ExclusiveRun
from expandcontract.pytest_plugin import EcDatabase


def test_second_runner_is_refused_with_the_holder_named(ec_db: EcDatabase) -> None:
    with ExclusiveRun(ec_db.url, "expandcontract", "ec apply"):
        started = time.monotonic()
        with pytest.raises(LedgerBusy) as info, ExclusiveRun(ec_db.url, "expandcontract", "x"):
            pass
        assert time.monotonic() - started < 5, "refused at once, not after waiting"
        assert "expandcontract: ec apply" in str(info.value)
    # Released on exit: the next run gets it.
    with ExclusiveRun(ec_db.url, "expandcontract", "ec apply"):
        pass


def test_lock_is_per_ledger_schema(ec_db: EcDatabase) -> None:
    with ExclusiveRun(ec_db.url, "expandcontract", "a"), ExclusiveRun(ec_db.url, "other", "b"):
        pass


def test_a_crashed_holder_frees_the_lock(ec_db: EcDatabase) -> None:
    code = (
        "import sys, time\n"
        "from expandcontract.ledger import ExclusiveRun\n"
        "with ExclusiveRun(sys.argv[1], 'expandcontract', 'ec apply'):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, ec_db.url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(LedgerBusy), ExclusiveRun(ec_db.url, "expandcontract", "ec apply"):
            pass
        os.kill(proc.pid, 9)
        proc.wait()
        deadline = time.monotonic() + 10
        while True:  # the server notices the dead client's socket close
            try:
                with ExclusiveRun(ec_db.url, "expandcontract", "ec apply"):
                    break
            except LedgerBusy:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
