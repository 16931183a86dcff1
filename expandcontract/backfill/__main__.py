"""``python -m expandcontract.backfill``: a worker process (see ``worker.main``)."""

import sys

from expandcontract.backfill.worker import main

sys.exit(main())
