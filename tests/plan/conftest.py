from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from expandcontract.cli import cli
from expandcontract.pytest_plugin import EcDatabase

ROWS = 50_000

# autovacuum off: the table stays never-analysed for as long as the test needs it to.
TABLE = [
    "CREATE TABLE users (id bigint PRIMARY KEY, email text, nickname text, amount integer)"
    " WITH (autovacuum_enabled = false)",
    "INSERT INTO users SELECT g, 'user' || g || '@example.org', 'nick' || g, g"
    f" FROM generate_series(1, {ROWS}) g",
]

TYPE_CHANGE = """operations:
  - alter_column: {table: users, column: amount, type: bigint, up: "amount::bigint",
                   down: "amount::integer"}
"""
RENAME = "operations:\n  - rename_column: {table: users, from: email, to: email_address}\n"
INDEX = "operations:\n  - create_index: {name: users_nick_idx, table: users, columns: [nickname]}\n"


@pytest.fixture
def unanalysed(ec_db: EcDatabase) -> EcDatabase:
    with ec_db.connect() as conn:
        for statement in TABLE:
            conn.execute(statement)
        row = conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'users'").fetchone()
        assert row is not None and row[0] <= 0  # never analysed: the case being tested
    return ec_db


@pytest.fixture
def ec_plan(
    unanalysed: EcDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Any]:
    monkeypatch.chdir(tmp_path)
    for name, text in (("type.yaml", TYPE_CHANGE), ("rename.yaml", RENAME), ("index.yaml", INDEX)):
        (tmp_path / name).write_text(text)

    def run(*args: str) -> Any:
        result = CliRunner().invoke(cli, [*args, "-d", unanalysed.url], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    return run
