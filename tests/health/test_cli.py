"""`ec switch --health-… --watch` and `ec apply --health-… --on-failure rollback` through the
command line: exit codes, messages, what `ec status` shows, Ctrl-C, option errors (durations at
both ends of the accepted range)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from expandcontract.cli import cli
from expandcontract.pytest_plugin import EcDatabase
from tests.health.conftest import CHANGE, NEW_SCHEMA

FAST = ["--health-interval", "0.02s", "--health-timeout", "5s"]


def counting_probe(tmp_path: Path, healthy_checks: int) -> str:
    """A command that is healthy for its first ``healthy_checks`` runs, then fails."""
    count = tmp_path / "count"
    return (
        f"n=$(cat {count} 2>/dev/null || echo 0); echo $((n + 1)) > {count}; "
        f'if [ "$n" -ge {healthy_checks} ]; then echo "app down after $n checks" >&2; exit 7; fi'
    )


@pytest.fixture
def ec(users: EcDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "h1.yaml").write_text(json.dumps({"operations": CHANGE}))

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, [*args, "-d", users.url], catch_exceptions=False)

    return run


def test_switch_watch_that_passes_exits_0(ec: Any, flag: Path) -> None:
    assert ec("apply", "h1.yaml").exit_code == 0
    result = ec("switch", "--health-cmd", f"test -f {flag}", *FAST, "--watch", "0.2s")
    assert result.exit_code == 0, result.output
    assert "health watch passed" in result.stdout and "the new version stays current" in (
        result.stdout
    )
    assert "probing command test -f" in result.stderr
    status = json.loads(ec("status", "--json").stdout)
    assert status["current_schema"] == NEW_SCHEMA and status["health"]["outcome"] == "passed"


def test_switch_watch_switches_back_and_exits_1_when_the_probe_flips(
    ec: Any, tmp_path: Path
) -> None:
    assert ec("apply", "h1.yaml").exit_code == 0
    probe = counting_probe(tmp_path, healthy_checks=3)  # before + 2 watch checks pass
    result = ec(
        "switch", "--health-cmd", probe, *FAST, "--health-failures", "2", "--watch", "1m",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "switched back to the old version automatically" in result.stderr
    assert "failed 2 consecutive check(s)" in result.stderr
    assert "exit 7: app down after 4 checks" in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("check ")]
    assert lines == [
        "check 3: probe failed (1/2 consecutive): exit 7: app down after 3 checks",
        "check 4: probe failed (2/2 consecutive): exit 7: app down after 4 checks",
    ]
    text = ec("status").stdout
    assert "switch failed: switched back automatically: health probe" in text
    assert "current is public" in text
    status = json.loads(ec("status", "--json").stdout)
    assert status["health"]["outcome"] == "switched_back"
    assert status["health"]["checks"] == 4 and status["health"]["consecutive_failures"] == 2
    # The same switch without the probe works afterwards: nothing is left half-done.
    assert json.loads(ec("switch", "--json").stdout)["current_schema"] == NEW_SCHEMA


def test_ctrl_c_during_the_watch_exits_130_and_leaves_the_new_version(
    ec: Any, tmp_path: Path, users: EcDatabase
) -> None:
    assert ec("apply", "h1.yaml").exit_code == 0
    count = tmp_path / "count"
    # The third run of the probe (the second check of the watch) presses Ctrl-C on ec.
    probe = (
        f"n=$(cat {count} 2>/dev/null || echo 0); echo $((n + 1)) > {count}; "
        'if [ "$n" -ge 2 ]; then kill -INT $PPID; sleep 5; fi'
    )
    ec_bin = Path(sys.executable).with_name("ec")
    done = subprocess.run(
        [str(ec_bin), "switch", "--health-cmd", probe, *FAST, "--watch", "1m", "-d", users.url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 130, done.stderr
    assert "the health watch was interrupted" in done.stderr
    assert "the new version stays current" in done.stderr and "ec switch --back" in done.stderr
    status = json.loads(ec("status", "--json").stdout)
    assert status["current_schema"] == NEW_SCHEMA
    assert status["health"]["outcome"] == "interrupted"


def test_switch_refuses_when_unhealthy_before_the_switch(ec: Any, flag: Path) -> None:
    assert ec("apply", "h1.yaml").exit_code == 0
    flag.unlink()
    result = ec("switch", "--health-cmd", f"test -f {flag}", *FAST, "--watch", "5s", "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)
    assert "fails before the switch" in error["error"] and "not switched" in error["error"]
    assert json.loads(ec("status", "--json").stdout)["current_schema"] == "public"


def test_apply_with_a_failing_probe_and_rollback_exits_1_and_undoes_expand(
    ec: Any, flag: Path, users: EcDatabase
) -> None:
    flag.unlink()
    result = ec(
        "apply", "h1.yaml", "--health-cmd", f"test -f {flag}", *FAST,
        "--health-failures", "2", "--on-failure", "rollback",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "the backfill pauses while it fails" in result.stderr
    assert "failed 2 consecutive check(s) during the backfill" in result.stderr
    assert "rolled back automatically" in result.stderr
    status = json.loads(ec("status", "--json").stdout)
    assert status["migration"] is None and status["current_schema"] == "public"
    with users.connect() as conn:
        assert conn.execute("SELECT to_regnamespace(%s)", (NEW_SCHEMA,)).fetchone() == (None,)
        columns = conn.execute(
            "SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute"
            " WHERE attrelid = 'users'::regclass AND attnum > 0 AND NOT attisdropped"
        ).fetchone()
        assert columns == (["id", "email", "nickname"],)


def test_apply_says_what_a_failing_probe_does_without_rollback(ec: Any, flag: Path) -> None:
    result = ec("apply", "h1.yaml", "--health-cmd", f"test -f {flag}", *FAST)
    assert result.exit_code == 0, result.output
    assert "it waits for the probe to recover" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--watch", "0"], "must be between 1ms and 24h"),
        (["--watch", "25h"], "must be between 1ms and 24h"),
        (["--watch", "5 minutes"], "invalid --watch '5 minutes'"),
        (["--health-interval", "-1s"], "invalid --health-interval '-1s'"),
        (["--health-failures", "0"], "0 is not in the range 1<=x<=1000"),
    ],
)
def test_bad_health_options_are_usage_errors(
    ec: Any, flag: Path, args: list[str], message: str
) -> None:
    result = ec("switch", "--health-cmd", f"test -f {flag}", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_probe_options_are_checked(ec: Any, flag: Path) -> None:
    both = ec("switch", "--health-cmd", "true", "--health-url", "http://x/", "--watch", "1s")
    assert both.exit_code == 2 and "not both" in both.output
    watch_only = ec("switch", "--watch", "1s")
    assert watch_only.exit_code == 2 and "--watch needs a health probe" in watch_only.output
    back = ec("switch", "--back", "--health-cmd", "true")
    assert back.exit_code == 2 and "not --back" in back.output


def test_a_health_url_that_is_not_http_is_a_usage_error(ec: Any) -> None:
    result = ec("switch", "--health-url", "file:///etc/passwd", "--watch", "1s")
    assert result.exit_code == 2
    assert "is not an http:// or https:// URL" in result.output


@pytest.mark.parametrize("phase", ["switch", "contract"])
def test_apply_refuses_a_probe_it_would_not_watch_before_anything_runs(
    ec: Any, flag: Path, phase: str
) -> None:
    result = ec("apply", "h1.yaml", "--phase", phase, "--health-cmd", f"test -f {flag}")
    assert result.exit_code == 2, result.output
    assert "does not watch the switch" in result.stderr
    assert "ec switch --health-… --watch" in result.stderr
    assert json.loads(ec("status", "--json").stdout)["migrations"] == []


def test_the_probe_command_is_shown_and_stored_masked(ec: Any, flag: Path) -> None:
    assert ec("apply", "h1.yaml").exit_code == 0
    probe = f"TOKEN=s3cr3t-value test -f {flag}"
    result = ec("switch", "--health-cmd", probe, *FAST, "--watch", "0.05s")
    assert result.exit_code == 0, result.output
    status = json.loads(ec("status", "--json").stdout)
    assert status["health"]["target"] == f"TOKEN=… test -f {flag}"
    shown = result.output + ec("status").stdout + json.dumps(status)
    assert "s3cr3t" not in shown
