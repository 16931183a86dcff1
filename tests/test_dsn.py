from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from expandcontract.dsn import (
    mask_dsn,
    mask_secrets,
    password_of,
    to_psycopg,
    to_sqlalchemy,
    with_database,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgresql://u:s3cret@db:5432/app", "postgresql://u:***@db:5432/app"),
        ("postgresql+psycopg://u:s3cret@db/app", "postgresql+psycopg://u:***@db/app"),
        ("postgresql://u@db/app", "postgresql://u@db/app"),
        (
            "postgresql://postgres:@/postgres?host=/tmp/x",
            "postgresql://postgres:@/postgres?host=/tmp/x",
        ),
        ("host=db user=u password=s3cret dbname=app", "host=db user=u password=*** dbname=app"),
        ("host=db password='sec ret' dbname=app", "host=db password=*** dbname=app"),
        (
            "postgresql://db/app?password=s3cret&sslmode=require",
            "postgresql://db/app?password=***&sslmode=require",
        ),
        (
            "connection to postgresql://a:b1@h1/x failed; retry postgresql://c:d2@h2/y",
            "connection to postgresql://a:***@h1/x failed; retry postgresql://c:***@h2/y",
        ),
    ],
)
def test_mask_dsn(raw: str, expected: str) -> None:
    assert mask_dsn(raw) == expected


_password = st.text(
    alphabet=string.ascii_letters + string.digits + "!$%^*()-_=+[]{};,.~", min_size=3, max_size=30
)


@given(user=st.text(string.ascii_lowercase, min_size=1, max_size=10), password=_password)
def test_url_password_never_survives_masking(user: str, password: str) -> None:
    url = f"postgresql://{user}:{password}@db.example.com:5432/app"
    masked = mask_dsn(f"error: could not connect to {url}: timeout")
    assert password not in masked.replace(user, "").replace("db.example.com", "")
    assert "***" in masked


@given(password=_password)
def test_known_secret_is_masked_wherever_it_appears(password: str) -> None:
    text = f'FATAL: password authentication failed, tried "{password}"'
    assert password not in mask_secrets(text, [password])


def test_password_of_and_url_forms() -> None:
    assert password_of("postgresql://u:pw@h/d") == "pw"
    assert password_of("host=h password=pw") == "pw"
    assert password_of("postgresql://u@h/d") is None
    assert to_psycopg("postgresql+psycopg://u@h/d") == "postgresql://u@h/d"
    assert to_sqlalchemy("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert to_sqlalchemy("postgres://u@h/d") == "postgresql+psycopg://u@h/d"


def test_with_database_keeps_query_and_authority() -> None:
    url = "postgresql://postgres:@/postgres?host=/tmp/sock&port=5433"
    assert with_database(url, "other") == "postgresql://postgres:@/other?host=/tmp/sock&port=5433"
    assert with_database("postgresql://u:p@h:1/a", "b c") == "postgresql://u:p@h:1/b%20c"
    assert "dbname=b" in with_database("host=h dbname=a", "b")


# ec's own sessions carry `-c expandcontract.version=… -c expandcontract.ec=on` (as_version).
@pytest.mark.parametrize(
    ("user_dsn", "shown"),
    [
        ("postgresql://u:pw@h:5/db?sslmode=require", "postgresql://u:***@h:5/db?sslmode=require"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        (
            "postgresql://u@h/db?options=-c%20search_path%3Dx",
            "postgresql://u@h/db?options=-c%20search_path%3Dx",
        ),
        ("host=h password=pw dbname=x", "password=*** dbname=x host=h"),
        ("host=h options='-c search_path=x'", "host=h options='-c search_path=x'"),
    ],
)
def test_display_dsn_and_messages_leave_out_ecs_session_options(user_dsn: str, shown: str) -> None:
    from expandcontract.dsn import display_dsn, display_text
    from expandcontract.engine.selector import as_version

    ours = as_version(user_dsn, "public_v2")
    assert "expandcontract.version" in ours
    assert display_dsn(ours) == shown
    message = f"cannot connect to {ours}: connection refused; retry"
    assert display_text(message) == f"cannot connect to {shown}: connection refused; retry"
    assert display_text(f"error: {ours}") == f"error: {shown}"


def test_user_of_follows_libpq() -> None:
    from expandcontract.dsn import user_of

    assert user_of("postgresql://alice@h/db") == "alice"
    assert user_of("host=h user=bob") == "bob"


def test_display_text_keeps_json_and_prose_intact() -> None:
    import json

    from expandcontract.dsn import display_text
    from expandcontract.engine.selector import as_version

    ours = as_version("postgresql://u@h/db?sslmode=require&application_name=x", "v2")
    doc = json.dumps({"error": f"cannot connect to {ours}", "urls": [ours]}, indent=2)
    shown = json.loads(display_text(doc))
    assert shown["urls"] == ["postgresql://u@h/db?sslmode=require&application_name=x"]
    assert display_text("Is it up? Yes & no.") == "Is it up? Yes & no."
    first = "postgresql://u@h/db?options=-c%20expandcontract.version%3Dv2&sslmode=require"
    assert display_text(first) == "postgresql://u@h/db?sslmode=require"
