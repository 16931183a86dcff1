"""The entry point is what makes `op.expand_contract` available with no env.py change."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata


def test_the_entry_point_is_installed_and_loads_without_warnings() -> None:
    (entry,) = [
        e for e in metadata.entry_points(group="alembic.plugins") if "expandcontract" in e.name
    ]
    assert entry.name == "expandcontract.alembic"
    # A fresh interpreter: plugins load at `import alembic`; any warning is an error.
    code = (
        "import warnings; warnings.simplefilter('error')\n"
        "import alembic\n"
        "from alembic.runtime.plugins import _all_plugins\n"
        "assert 'expandcontract.alembic' in _all_plugins, _all_plugins\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
