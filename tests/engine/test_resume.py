"""Crash safety: SIGKILL `ec apply` at every step boundary; re-running finishes the job with
a result identical to an uninterrupted run. A failing `up` leaves the migration in expand,
names the row, and rollback works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from expandcontract.errors import ECError
from expandcontract.pytest_plugin import EcDatabase
from tests.engine.harness import Session, engine, migration, schema_shape

MULTI: dict[str, Any] = {
    "operations": [
        {"rename_column": {"table": "users", "from": "email", "to": "email_address"}},
        {
            "alter_column": {
                "table": "users",
                "column": "amount",
                "type": "bigint",
                "up": "amount::bigint",
                "down": "amount::integer",
            }
        },
        {
            "alter_column": {
                "table": "users",
                "column": "nickname",
                "nullable": False,
                "up": "coalesce(nickname, 'anon')",
            }
        },
        {
            "add_column": {
                "table": "users",
                "column": {
                    "name": "status",
                    "type": "text",
                    "nullable": False,
                    "default": "'active'",
                },
                "up": "'active'",
            }
        },
        {"create_index": {"name": "users_status_idx", "table": "users", "columns": ["status"]}},
        {"drop_column": {"table": "users", "column": "legacy", "down": "false"}},
    ]
}
SCRIPT = Path(__file__).with_name("crash_apply.py")


def _state(db: EcDatabase) -> tuple[Any, Any]:
    with db.connect() as conn:
        shape = schema_shape(conn)
        rows = conn.execute("SELECT * FROM users ORDER BY id").fetchall()
    return shape, rows


def _run(url: str, crash_key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), url, json.dumps(MULTI), crash_key],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(SCRIPT.parents[2]),
        check=False,
    )


def test_sigkill_at_every_step_boundary_then_resume(seeded: EcDatabase) -> None:
    reference = seeded.server.create_database(f"{seeded.name}_ref", template=seeded.name)
    try:
        full = _run(reference, crash_key="")
        assert full.returncode == 0, full.stderr
        keys = json.loads(full.stdout)["steps"]
        assert len(keys) > 10
        # Each run dies right before one more step: every boundary is a crash point once.
        for key in keys:
            result = _run(seeded.url, key)
            assert result.returncode == -9, f"did not reach {key}: {result.stderr}"
        final = _run(seeded.url, crash_key="")
        assert final.returncode == 0, final.stderr
        ref_db = EcDatabase(f"{seeded.name}_ref", reference, seeded.server)
        assert _state(seeded) == _state(ref_db)
    finally:
        seeded.server.drop_database(f"{seeded.name}_ref")


def test_failing_up_names_the_row_and_rollback_works(ec_db: EcDatabase) -> None:
    with ec_db.connect() as conn:
        conn.execute("CREATE TABLE codes (id int PRIMARY KEY, code text)")
        conn.execute("INSERT INTO codes SELECT g, g::text FROM generate_series(1, 500) g")
        conn.execute("UPDATE codes SET code = 'abc' WHERE id = 321")
    m = migration(
        "to_int",
        {
            "alter_column": {
                "table": "codes",
                "column": "code",
                "type": "integer",
                "up": "code::integer",
                "down": "code::text",
            }
        },
    )
    ec = engine(ec_db.url)
    with pytest.raises(ECError) as info:
        ec.apply(m)
    assert "321" in str(info.value)
    status = ec.status()
    assert status["migration"] == "to_int"
    assert status["phase"] == "backfill"
    (record,) = status["migrations"]
    assert record["phases"]["expand"]["status"] == "done"
    assert record["phases"]["backfill"]["status"] == "failed"
    with pytest.raises(ECError, match="backfill is not verified"):
        ec.complete()
    ec.rollback()
    old = Session(ec_db.url, None)
    assert old.rows("SELECT code FROM codes WHERE id IN (1, 321) ORDER BY id") == [("1",), ("abc",)]
    with ec_db.connect() as conn:
        columns = [c[0] for c in schema_shape(conn)["codes"]["columns"]]
    assert columns == ["id", "code"]
