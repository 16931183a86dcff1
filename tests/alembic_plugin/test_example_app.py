"""examples/alembic_app end to end, as its README walks through it: the `alembic` executable
upgrades a copy of the example on a throwaway database while app v1 and then app v2 write
continuously; no write of either version fails, each sees the other's rows, the safe-ops
revision leaves a valid index and validated constraints, and `alembic check` finds no drift."""

from __future__ import annotations

import importlib
import itertools
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from expandcontract.dsn import to_sqlalchemy
from expandcontract.pytest_plugin import EcDatabase

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "alembic_app"
ALEMBIC = str(Path(sys.executable).with_name("alembic"))


class Writer:
    """Calls ``write(n)`` in a loop on its own thread until stopped; keeps every error."""

    def __init__(self, write: Callable[[int], None]) -> None:
        self.write = write
        self.done = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        for n in itertools.count():
            if self._stop.is_set():
                return
            try:
                self.write(n)
                self.done += 1
            except Exception as exc:  # every failure is a zero-downtime violation
                self.errors.append(exc)
            self._stop.wait(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


@pytest.fixture
def example(ec_db: EcDatabase, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    root = tmp_path / "alembic_app"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EC_DATABASE")}
    env["DATABASE_URL"] = to_sqlalchemy(ec_db.url)
    sys.path.insert(0, str(root))
    try:
        yield root, env
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == "shop" or m.startswith("shop.")]:
            del sys.modules[name]


def _alembic(root: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [ALEMBIC, *args], check=False, cwd=root, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, f"alembic {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _catalog(ec_db: EcDatabase, query: str) -> list[tuple[Any, ...]]:
    with ec_db.connect() as conn:
        return conn.execute(query).fetchall()


def test_the_example_app_migrates_with_both_versions_writing(
    example: tuple[Path, dict[str, str]], ec_db: EcDatabase
) -> None:
    root, env = example
    app = importlib.import_module("shop.app")
    url = env["DATABASE_URL"]
    _alembic(root, env, "upgrade", "0001")
    v1, v2 = app.engine(url, 1), app.engine(url, 2)
    for n in range(50):
        app.sign_up_v1(v1, f"seed{n}@v1.example", n)

    old = Writer(lambda n: app.sign_up_v1(v1, f"old{n}@v1.example", n))
    new: Writer | None = None
    try:
        _alembic(root, env, "upgrade", "0002")  # expand + backfill under v1's writes
        new = Writer(lambda n: app.sign_up_v2(v2, f"new{n}@v2.example", n))
        while new.done < 20 or old.done < 20:
            threading.Event().wait(0.05)
        # Both versions live: each reads the other's rows.
        assert any(e.endswith("@v2.example") for e in app.emails_v1(v1))
        assert any(e.endswith("@v1.example") for e in app.emails_v2(v2))
        old.stop()  # v1 retired: the deploy of v2 is complete
        _alembic(root, env, "upgrade", "0003")  # contract, while v2 writes
        _alembic(root, env, "upgrade", "head")  # safe ops, while v2 writes
    finally:
        old.stop()
        if new is not None:
            new.stop()
        for eng in (v1, v2):
            eng.dispose()
    assert old.errors == [] and new is not None and new.errors == []
    expected = 50 + old.done + new.done
    assert _catalog(ec_db, "SELECT count(*) FROM users") == [(expected,)]
    assert _catalog(ec_db, "SELECT count(*) FROM orders") == [(expected,)]
    # The final table is v2's: renamed, widened, with status; safe ops left valid objects.
    columns = _catalog(
        ec_db,
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name IN ('users', 'orders')"
        " ORDER BY table_name, column_name",
    )
    assert ("email_address", "character varying", "NO") in columns
    assert ("amount", "bigint", "NO") in columns
    assert ("status", "text", "NO") in columns
    assert _catalog(
        ec_db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'orders_user_id_idx'::regclass"
    ) == [(True,)]
    assert _catalog(
        ec_db,
        "SELECT conname, convalidated FROM pg_constraint WHERE conname IN"
        " ('orders_amount_nonnegative', 'users_email_address_key') ORDER BY conname",
    ) == [("orders_amount_nonnegative", True), ("users_email_address_key", True)]
    # After the deploy, v2 without the binding works on the base tables.
    plain = app.engine(url, 2, during_rollout=False)
    try:
        app.sign_up_v2(plain, "plain@v2.example", 1)
    finally:
        plain.dispose()
    # The models and the database agree: no drift from ec's own objects either.
    _alembic(root, env, "check")


def test_the_example_rolls_back_exactly_and_prints_its_safe_sql(
    example: tuple[Path, dict[str, str]], ec_db: EcDatabase
) -> None:
    """The README's other two claims: `alembic downgrade 0001` after 0002 leaves the tables
    exactly as before, and `alembic upgrade 0003:0004 --sql` shows the safe forms."""
    root, env = example
    app = importlib.import_module("shop.app")
    url = env["DATABASE_URL"]
    _alembic(root, env, "upgrade", "0001")
    v1 = app.engine(url, 1)
    try:
        for n in range(20):
            app.sign_up_v1(v1, f"seed{n}@v1.example", n)
        before = _shape(ec_db)
        _alembic(root, env, "upgrade", "0002")
        assert _shape(ec_db) != before
        _alembic(root, env, "downgrade", "0001")
        assert _shape(ec_db) == before
        app.sign_up_v1(v1, "after@v1.example", 1)  # v1 never noticed
    finally:
        v1.dispose()
    sql = _alembic(root, env, "upgrade", "0003:0004", "--sql").replace('"', "")
    for form in (
        "SET lock_timeout",
        "CREATE INDEX CONCURRENTLY orders_user_id_idx",
        "NOT VALID",
        "VALIDATE CONSTRAINT orders_amount_nonnegative",
        "USING INDEX",
    ):
        assert form in sql, sql


def _shape(ec_db: EcDatabase) -> list[tuple[Any, ...]]:
    """Columns, constraints, indexes, triggers and schemas: what a rollback must restore."""
    return _catalog(
        ec_db,
        "SELECT 'col', table_name::text, column_name::text || ' ' || data_type || ' '"
        " || is_nullable || ' ' || coalesce(column_default, '')"
        " FROM information_schema.columns WHERE table_schema = 'public'"
        " UNION ALL SELECT 'con', conrelid::regclass::text, conname || ' '"
        " || pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE connamespace = 'public'::regnamespace"
        " UNION ALL SELECT 'idx', tablename::text, indexdef FROM pg_indexes"
        " WHERE schemaname = 'public'"
        " UNION ALL SELECT 'trg', tgrelid::regclass::text, tgname::text FROM pg_trigger"
        " WHERE NOT tgisinternal"
        " UNION ALL SELECT 'nsp', '', nspname::text FROM pg_namespace"
        " WHERE nspname LIKE 'public%' ORDER BY 1, 2, 3",
    )
