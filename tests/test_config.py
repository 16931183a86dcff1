from __future__ import annotations

from pathlib import Path

import pytest

from expandcontract.config import Settings, parse_duration_ms
from expandcontract.errors import ConfigError


def _project(tmp_path: Path, body: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[tool.expandcontract]\n{body}\n")
    sub = tmp_path / "deep" / "er"
    sub.mkdir(parents=True)
    return sub


def test_defaults(tmp_path: Path) -> None:
    s = Settings.load({}, env={}, start_dir=tmp_path)
    assert (s.schema, s.ledger_schema, s.lock_timeout_ms, s.server) == (
        "public",
        "expandcontract",
        500,
        "auto",
    )


def test_precedence_flag_env_config_default(tmp_path: Path) -> None:
    start = _project(tmp_path, 'schema = "from_config"\nlock_timeout = "2s"\nledger_schema = "cfg"')
    s = Settings.load({}, env={}, start_dir=start)
    assert (s.schema, s.lock_timeout_ms, s.ledger_schema) == ("from_config", 2000, "cfg")
    s = Settings.load({}, env={"EC_SCHEMA": "from_env"}, start_dir=start)
    assert (s.schema, s.lock_timeout_ms) == ("from_env", 2000)
    s = Settings.load(
        {"schema": "from_flag", "lock_timeout_ms": None}, env={"EC_SCHEMA": "e"}, start_dir=start
    )
    assert (s.schema, s.lock_timeout_ms) == ("from_flag", 2000)


def test_config_subtables_are_left_to_their_commands(tmp_path: Path) -> None:
    start = _project(tmp_path, 'schema = "x"\n[tool.expandcontract.lint]\nfail_on = "warning"')
    assert Settings.load({}, env={}, start_dir=start).schema == "x"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("nope = 1", "unknown key 'nope'"),
        ('lock_timeout = "fast"', "duration"),
        ("lock_timeout = 0", "greater than 0"),
        ('server = "cloud"', "unknown server kind"),
    ],
)
def test_bad_config_is_a_usage_error(tmp_path: Path, body: str, message: str) -> None:
    start = _project(tmp_path, body)
    with pytest.raises(ConfigError, match=message) as info:
        Settings.load({}, env={}, start_dir=start)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (500, 500),
        ("500ms", 500),
        ("2s", 2000),
        ("1.5s", 1500),
        ("5min", 300_000),
        ("1h", 3_600_000),
        ("250", 250),
    ],
)
def test_durations(value: object, ms: int) -> None:
    assert parse_duration_ms(value, name="x") == ms


def test_require_database_url_explains_where_to_set_it() -> None:
    with pytest.raises(ConfigError, match="no database") as info:
        Settings().require_database_url()
    assert "EC_DATABASE_URL" in str(info.value.hint)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:pw@db:5432/app",
        "postgres://u@db/app",
        "postgresql+psycopg://u@db/app",
        "postgresql://u@db1:5432,db2:5433/app?target_session_attrs=read-write",
        "postgresql://u@[::1]:5432/app",
        "postgresql:///app?host=/tmp/sock",
        "host=db port=5432 dbname=app user=u",
    ],
)
def test_database_urls_libpq_reads_are_accepted(url: str) -> None:
    assert Settings(database_url=url).require_database_url() == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("not a url", 'missing "=" after "not"'),
        ("foo=bar", 'invalid connection option "foo"'),
        ("mysql://u@db/app", "mysql:// is not a PostgreSQL URL scheme"),
        ("postgresql://u@[db/app", "Invalid IPv6 URL"),
        ("postgresql://u@db:fivefour/app", "port 'fivefour' is not a number"),
        ("host=db port=x", "port 'x' is not a number"),
        ("postgresql://u@db/app?bogus=1", 'invalid URI query parameter: "bogus"'),
    ],
)
def test_a_database_url_libpq_cannot_read_is_a_usage_error(url: str, reason: str) -> None:
    with pytest.raises(
        ConfigError, match="the database URL is not a valid connection string"
    ) as info:
        Settings(database_url=url).require_database_url()
    assert reason in info.value.message and info.value.exit_code == 2
    assert "postgresql://user@host:5432/dbname" in str(info.value.hint)


def test_a_rejected_url_is_shown_with_its_password_masked() -> None:
    with pytest.raises(ConfigError) as info:
        Settings(database_url="mysql://u:Sup3rSecret@db/app").require_database_url()
    assert "Sup3rSecret" not in info.value.message and "u:***@db" in info.value.message
