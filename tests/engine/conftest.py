from __future__ import annotations

import pytest

from expandcontract.pytest_plugin import EcDatabase

SEED = [
    "CREATE TABLE users (id bigint PRIMARY KEY, email text, nickname text, amount integer,"
    " legacy boolean NOT NULL DEFAULT false)",
    "CREATE INDEX users_amount_idx ON users (amount)",
    "CREATE INDEX users_email_idx ON users (email)",
    "INSERT INTO users SELECT g, 'u' || g || '@x.org', CASE WHEN g % 3 = 0 THEN NULL"
    " ELSE 'nick' || g END, g * 10, g % 2 = 0 FROM generate_series(1, 300) g",
    "CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL)",
    "INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 50) g",
    "CREATE TABLE old_stuff (id int PRIMARY KEY, payload text)",
    "INSERT INTO old_stuff VALUES (1, 'a'), (2, 'b')",
    "CREATE TABLE tickets (id bigint PRIMARY KEY, number serial)",
    "INSERT INTO tickets (id) SELECT g FROM generate_series(1, 20) g",
]


@pytest.fixture
def seeded(ec_db: EcDatabase) -> EcDatabase:
    with ec_db.connect() as conn:
        for statement in SEED:
            conn.execute(statement)
        conn.execute("ANALYZE")
    return ec_db
