"""The shipped pytest plugin, used from a user's own test suite (run through pytester)."""

from __future__ import annotations

from pathlib import Path

import pytest

from expandcontract.pytest_plugin import EcDatabase


def test_ec_db_is_a_fresh_clone_of_the_template(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def ec_template_setup():
            def setup(conn):
                conn.execute("CREATE TABLE shared (id int)")
            return setup
        """
    )
    pytester.makepyfile(
        """
        def test_one(ec_conn):
            ec_conn.execute("INSERT INTO shared VALUES (1)")
            assert ec_conn.execute("SELECT count(*) FROM shared").fetchone() == (1,)

        def test_two(ec_db, ec_conn):
            # The template is untouched by test_one: every test gets its own copy.
            assert ec_conn.execute("SELECT count(*) FROM shared").fetchone() == (0,)
            assert ec_conn.execute("SELECT current_database()").fetchone() == (ec_db.name,)
            assert ec_db.sqlalchemy_url.startswith("postgresql+psycopg://")

        def test_marker(request):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ec-server", "embedded")
    result.assert_outcomes(passed=3)
    selected = pytester.runpytest_subprocess("-m", "postgres", "--ec-server", "embedded")
    selected.assert_outcomes(passed=2, deselected=1)


def test_unavailable_provider_fails_the_session_clearly(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EC_DATABASE_URL", raising=False)
    pytester.makepyfile("def test_needs_db(ec_db):\n    pass\n")
    result = pytester.runpytest_subprocess("--ec-server", "url")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the url server needs a database URL*"])


def test_databases_are_dropped_after_each_test(ec_db: EcDatabase) -> None:
    with ec_db.server.connect() as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database")]
    assert ec_db.name in names
    assert sum(n.startswith("ec_test_") for n in names) == 1


def test_ec_verify_fixture_passes_and_fails_tests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(__file__).parents[1]
    monkeypatch.setenv("PYTHONPATH", str(root))  # the sample apps live in this repo's tests
    apps = root / "tests" / "verify" / "apps"
    pytester.makepyfile(
        f"""
        from tests.verify.apps import shop_v1

        def test_compatible(ec_verify):
            report = ec_verify({str(apps / "status_only.yaml")!r}, old=shop_v1.metadata,
                               new=shop_v1.metadata, rows=20, rounds=1)
            assert report.compatible

        def test_incompatible(ec_verify):
            ec_verify({str(apps / "check_amount.yaml")!r}, old=shop_v1.metadata,
                      new=shop_v1.metadata, rows=20, rounds=1)
        """
    )
    result = pytester.runpytest_subprocess("--ec-server", "embedded", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*ec verify check_amount: NOT compatible*"])
