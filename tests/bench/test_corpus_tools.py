"""The real-world corpus builder and the squawk-vs-ec miss classifier (bench/, issue 12)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench"
sys.path[:0] = [str(BENCH), str(BENCH / "corpus")]

import build  # noqa: E402
import lint_classify as lc  # noqa: E402
from lint_compare import runs_in_transaction  # noqa: E402

EQUIV = {
    "require-concurrent-index-creation": {"require-concurrent-index-creation"},
    "require-lock-timeout": {"require-lock-timeout"},
    "prefer-robust-stmts": {"prefer-robust-stmts"},
    "ban-drop-column": {"ban-drop-column"},
}


def facts(sql: str, *, transactional: bool = True, down: bool = False) -> lc.FileFacts:
    spans = lc.statement_spans(sql)
    return lc.FileFacts(
        spans=spans,
        transactional=transactional,
        down=down,
        linted_by_ec=True,
        squawk_parse_error=False,
        created=lc.created_tables(spans),
        down_from=lc.down_section(sql),
    )


def test_spans_respect_quotes_comments_and_dollar_bodies() -> None:
    sql = (
        "-- a; comment\n"
        "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n"
        "/* x; /* nested; */ */ SELECT ';' , \"a;b\";\n"
        "\n"
        "ALTER TABLE t\n  ADD COLUMN c int;\n"
    )
    spans = lc.statement_spans(sql)
    assert [(s.start, s.end) for s in spans] == [(2, 2), (3, 3), (5, 6)]
    assert lc.statement_at(spans, 1) == 0  # a comment line belongs to the next statement
    assert lc.statement_at(spans, 6) == 2


def test_index_on_table_created_in_same_file_is_ec_right() -> None:
    f = facts('CREATE TABLE "Foo" (id int);\nCREATE INDEX foo_i ON "Foo" (id);\n')
    v = lc.classify("require-concurrent-index-creation", 1, f, {}, set(), EQUIV, set())
    assert (v.cls, v.reason) == ("ec right", "table created in the same file (empty, unseen)")


def test_index_on_existing_table_without_ec_finding_is_a_miss() -> None:
    f = facts("CREATE INDEX foo_i ON foo (id);\n")
    v = lc.classify("require-concurrent-index-creation", 0, f, {}, set(), EQUIV, set())
    assert v.cls == "ec miss"


def test_same_statement_equivalent_matches_and_related_id_is_design_choice() -> None:
    f = facts("ALTER TABLE t ADD CONSTRAINT k FOREIGN KEY (a) REFERENCES u (id);\n")
    at = {0: {"foreign-key-missing-not-valid"}}
    v = lc.classify("adding-foreign-key-constraint", 0, f, at, set(at[0]), EQUIV, set())
    assert v.cls == "design choice"
    v = lc.classify("ban-drop-column", 0, f, {0: {"ban-drop-column"}}, set(), EQUIV, set())
    assert v.cls == "matched"


def test_robust_statement_advice_depends_on_the_transaction() -> None:
    sql = "ALTER TABLE t ADD COLUMN c int;\n"
    right = lc.classify("prefer-robust-stmts", 0, facts(sql), {}, set(), EQUIV, set())
    miss = lc.classify(
        "prefer-robust-stmts", 0, facts(sql, transactional=False), {}, set(), EQUIV, set()
    )
    assert (right.cls, miss.cls) == ("ec right", "ec miss")


def test_timeout_is_judged_on_the_whole_file() -> None:
    only_new = "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;\n"
    v = lc.classify("require-lock-timeout", 0, facts(only_new), {}, set(), EQUIV, set())
    assert v.cls == "ec right"
    blocking = only_new + "ALTER TABLE users ADD COLUMN c int;\n"
    v = lc.classify("require-lock-timeout", 0, facts(blocking), {}, set(), EQUIV, set())
    assert v.cls == "ec miss"
    concurrent = "CREATE INDEX CONCURRENTLY i ON users (a);\n"
    v = lc.classify("require-lock-timeout", 0, facts(concurrent), {}, set(), EQUIV, set())
    assert v.cls == "design choice"


def test_compat_rule_in_goose_down_section_is_ec_right() -> None:
    sql = "-- +goose Up\nALTER TABLE t ADD c int;\n-- +goose Down\nALTER TABLE t DROP COLUMN c;\n"
    f = facts(sql)
    v = lc.classify("ban-drop-column", 1, f, {}, set(), EQUIV, {"ban-drop-column"})
    assert v.cls == "ec right"
    assert not f.is_down(2) and f.is_down(4)


def test_flagged_name_finds_the_column_squawk_points_at() -> None:
    lines = ["CREATE TABLE t (created_at TIMESTAMP, gone int);", "ALTER TABLE t DROP COLUMN gone;"]
    row = {"line": 0, "column": 27, "line_end": 0, "column_end": 36}
    assert lc.flagged_name(lines, row) == "created_at"
    row = {"line": 1, "column": 14, "line_end": 1, "column_end": 30}
    assert lc.flagged_name(lines, row) == "gone"


def test_tool_conventions_decide_the_transaction(tmp_path: Path) -> None:
    folder = tmp_path / "2024-01-01-000000_x"
    folder.mkdir()
    up = folder / "up.sql"
    assert runs_in_transaction("diesel", str(up), "CREATE INDEX CONCURRENTLY i ON t (a);")
    (folder / "metadata.toml").write_text("run_in_transaction = false\n")
    assert not runs_in_transaction("diesel", str(up), "CREATE INDEX CONCURRENTLY i ON t (a);")
    assert not runs_in_transaction("goose", "1_x.sql", "-- +goose NO TRANSACTION\nSELECT 1;")
    assert runs_in_transaction("in-file", "deploy/x.sql", "BEGIN;\nSELECT 1;\nCOMMIT;")
    assert not runs_in_transaction("none", "v1.0/x.sql", "SELECT 1;")


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(repo)}  # fmt: skip
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def test_build_reads_pinned_commit_from_a_mirror_keeping_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "mirror" / "acme+app" / "repo"
    (repo / "migrations" / "2024_a").mkdir(parents=True)
    (repo / "migrations" / "2024_a" / "up.sql").write_text("CREATE TABLE a (id int);\n")
    (repo / "migrations" / "2024_a" / "down.sql").write_text("DROP TABLE a;\n")
    (repo / "migrations" / "x.mysql.up.sql").write_text("-- not postgres\n")
    (repo / "README.md").write_text("no\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "one")
    pinned = _git(repo, "rev-parse", "HEAD")
    (repo / "migrations" / "2024_a" / "up.sql").write_text("changed after the pin\n")
    _git(repo, "commit", "-qam", "two")
    manifest = tmp_path / "manifest.json"
    project = {"name": "app", "repo": "acme/app", "commit": pinned, "tool": "diesel",
               "transaction": "diesel", "license": "MIT", "permissive": True,
               "include": ["migrations/*.sql"], "exclude": ["*.mysql.*"]}  # fmt: skip
    manifest.write_text(json.dumps({"projects": [project]}))
    monkeypatch.setattr(build, "MANIFEST", manifest)
    monkeypatch.setattr(build.load_manifest, "__defaults__", (manifest,))
    out = tmp_path / "out"
    assert build.build(out, tmp_path / "mirror") == {"app": 2}
    up = out / "app" / "migrations" / "2024_a" / "up.sql"
    assert up.read_text() == "CREATE TABLE a (id int);\n"  # the pinned commit, not HEAD
    assert sorted(p.name for p in (out / "app").rglob("*") if p.is_file()) == ["down.sql", "up.sql"]


def test_manifest_pins_every_project() -> None:
    projects = build.load_manifest()
    assert len({p.tool.split(" ")[0] for p in projects}) >= 6  # several tools and styles
    for p in projects:
        assert len(p.commit) == 40 and int(p.commit, 16) >= 0, p.name
        assert p.include and p.license, p.name


@pytest.mark.parametrize(
    ("rule", "sql", "transactional", "cls"),
    [
        ("renaming-object", "ALTER INDEX a RENAME TO b;\n", True, "design choice"),
        ("renaming-object", "ALTER TABLE t RENAME CONSTRAINT a TO b;\n", True, "design choice"),
        ("renaming-object", "ALTER TYPE mood RENAME TO feeling;\n", True, "ec miss"),
        ("renaming-object", "ALTER TRIGGER a ON t RENAME TO b;\n", True, "design choice"),
        ("ban-drop-constraint",
         "ALTER TABLE t ADD CONSTRAINT k CHECK (a IS NOT NULL) NOT VALID;\n"
         "ALTER TABLE t DROP CONSTRAINT k;\n", True, "ec right"),
        ("ban-drop-constraint", "ALTER TABLE t DROP CONSTRAINT k;\n", True, "ec miss"),
        ("identifier-too-long", "DROP INDEX " + "i" * 70 + ";\n", True, "design choice"),
        ("identifier-too-long", "CREATE INDEX " + "i" * 70 + " ON t (a);\n", True, "ec miss"),
        ("prefer-robust-stmts", "ALTER TABLE t ADD CONSTRAINT k CHECK (a > 0);\n", False,
         "design choice"),
        ("prefer-robust-stmts", "ALTER TABLE t DROP COLUMN a;\n", False, "ec miss"),
        ("require-lock-timeout", "ALTER TABLE moves SET (fillfactor = 80);\n", False,
         "design choice"),
        ("ban-drop-function",
         "DROP FUNCTION f(text);\n"
         "CREATE FUNCTION f(text) RETURNS int AS 'SELECT 1' LANGUAGE sql;\n", True, "ec right"),
        ("ban-drop-function", "DROP FUNCTION f(text);\n", True, "ec miss"),
    ],
)  # fmt: skip
def test_decided_classes_are_narrow(rule: str, sql: str, transactional: bool, cls: str) -> None:
    f = facts(sql, transactional=transactional)
    v = lc.classify(rule, len(f.spans) - 1 if rule != "ban-drop-function" else 0, f, {},
                    set(), {}, set())  # fmt: skip
    assert v.cls == cls, v.reason
