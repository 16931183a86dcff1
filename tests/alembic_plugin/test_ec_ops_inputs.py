"""What `op.expand_contract` accepts: operations from a migration file next to the revision,
invalid input refused before anything runs (nothing changed), offline `--sql` output, and
`ec switch` on a migration Alembic started."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from expandcontract.alembic.ec_ops import ExpandContractError
from expandcontract.cli import cli
from expandcontract.engine.migration import from_spec
from tests.alembic_plugin.conftest import AlembicProject
from tests.alembic_plugin.test_ec_ops import (
    VERSION_SCHEMA,
    alembic_version,
    catalog_and_rows,
    ec_status,
    write_base,
    write_complete,
    write_expand,
)
from tests.engine.harness import Session

RENAME = {"rename_column": {"table": "items", "from": "title", "to": "name"}}


def ec(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def test_operations_from_a_yaml_file_next_to_the_revision_and_ec_switch(
    alembic_project: AlembicProject,
) -> None:
    project, url = alembic_project, alembic_project.db.url
    write_base(project, rows=100)
    (project.versions / "ops").mkdir()
    (project.versions / "ops" / "items.yaml").write_text(
        "operations:\n"
        "  - rename_column: {table: items, from: title, to: name}\n"
        "  - add_column:\n"
        "      table: items\n"
        "      column: {name: tier, type: text, nullable: false}\n"
        "      up: \"'basic'\"\n"
    )
    project.write_revision(
        "0002", "0001", "op.expand_contract('ops/items.yaml')", "op.expand_contract_rollback()"
    )
    project.cli("upgrade", "head")
    assert ec_status(url)["migration"] == "0002"
    new = Session(url, VERSION_SCHEMA)
    assert new.rows("SELECT name, tier FROM items WHERE id = 7") == [("item 7", "basic")]

    switched = ec("switch", "-d", url)  # `ec switch` works on the migration Alembic started
    assert switched["current_schema"] == VERSION_SCHEMA
    assert ec("switch", "--back", "-d", url)["current_schema"] == "public"

    project.command("downgrade", "0001")
    assert ec_status(url)["migration"] is None


def test_a_file_that_names_another_migration_is_refused(alembic_project: AlembicProject) -> None:
    project = alembic_project
    write_base(project, rows=10)
    (project.versions / "items.json").write_text(
        json.dumps({"name": "other", "operations": [RENAME]})
    )
    project.write_revision("0002", "0001", "op.expand_contract('items.json')")
    project.command("upgrade", "0001")
    with pytest.raises(ExpandContractError, match="names its migration 'other'") as refused:
        project.command("upgrade", "head")
    assert "name='other'" in str(refused.value.hint)
    project.write_revision("0002", "0001", "op.expand_contract('items.json', name='other')")
    project.command("upgrade", "head")
    assert ec_status(project.db.url)["migration"] == "other"


INVALID = [
    pytest.param(
        "op.expand_contract([{'rename_colum': {'table': 'items', 'from': 'title', 'to': 'x'}}])",
        "operation 1: unknown operation 'rename_colum'",
        id="unknown-operation",
    ),
    pytest.param(
        "op.expand_contract([{'rename_column': {'table': 'items', 'from': 'nope', 'to': 'x'}}])",
        "nope",
        id="unknown-column",  # found only against the live schema
    ),
    pytest.param(
        "op.expand_contract([{'alter_column': {'table': 'items', 'column': 'cents',"
        " 'type': 'bigint', 'up': 'cents); DROP TABLE items; --'}}])",
        "operation 1 (alter_column)",
        id="injection-in-up",
    ),
    pytest.param("op.expand_contract(42)", "takes the list of ec operations", id="not-a-list"),
    pytest.param(
        "op.expand_contract('missing.yaml')", "cannot read migration file", id="missing-file"
    ),
    pytest.param(
        f"op.expand_contract([{RENAME!r}], name='no spaces allowed')",
        "migration name 'no spaces allowed' must be",
        id="bad-name",
    ),
]


@pytest.mark.parametrize(("call", "message"), INVALID)
def test_invalid_operations_are_refused_with_nothing_changed(
    alembic_project: AlembicProject, call: str, message: str
) -> None:
    project = alembic_project
    write_base(project, rows=10)
    project.write_revision("0002", "0001", call)
    project.command("upgrade", "0001")
    before = catalog_and_rows(project)
    with pytest.raises(ExpandContractError, match=r"op\.expand_contract in revision 0002") as exc:
        project.command("upgrade", "head")
    assert message in str(exc.value)
    assert catalog_and_rows(project) == before
    assert alembic_version(project) == ["0001"]
    with project.db.connect() as conn:
        created = conn.execute(
            "SELECT to_regnamespace('expandcontract'), to_regnamespace(%s)", (VERSION_SCHEMA,)
        ).fetchone()
    assert created == (None, None)  # not even ec's ledger


def test_the_alembic_command_line_shows_a_refusal_as_one_line(
    alembic_project: AlembicProject,
) -> None:
    project = alembic_project
    write_base(project, rows=10)
    project.write_revision("0002", "0001", "op.expand_contract([{'rename_colum': {}}])")
    failed = project.cli("upgrade", "head", check=False)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "Traceback" not in output
    assert (
        "FAILED: ec: op.expand_contract in revision 0002: operation 1: unknown operation "
        "'rename_colum' (hint: kinds: add_column" in output
    )
    # Refused before Alembic committed anything: 0001 of the same run was rolled back too.
    with project.db.connect() as conn:
        tables = conn.execute("SELECT to_regclass('alembic_version'), to_regclass('items')")
        assert tables.fetchone() == (None, None)


def test_offline_sql_says_a_live_database_is_needed_and_stops_the_script(
    alembic_project: AlembicProject,
) -> None:
    project = alembic_project
    write_base(project, rows=10)
    write_expand(project)
    write_complete(project)
    out = project.cli("upgrade", "head", "--sql").stdout

    assert "CREATE TABLE items" in out
    expand = out[out.index("-- Running upgrade 0001 -> 0002") :]
    assert expand.index("COMMIT;") < expand.index(
        "-- ec migration '0002' (op.expand_contract): expand + backfill; the new version's "
        "schema will be public_0002"
    )
    assert "-- this needs a live database to run" in expand
    (spec_line,) = [line for line in out.splitlines() if line.startswith("-- ec:migration ")]
    spec = json.loads(spec_line.removeprefix("-- ec:migration "))
    assert from_spec(spec, default_name="x").to_spec()["name"] == "0002"
    assert len(spec["operations"]) == 3
    assert "-- op.expand_contract_complete: contract the active migration" in out

    # The script stops at the ec revision when run: it cannot skip the migration silently.
    stops = [line for line in out.splitlines() if line.startswith("DO ")]
    assert len(stops) == 2
    with project.db.connect() as conn:
        assert conn.execute("SELECT to_regclass('alembic_version')").fetchone() == (None,)
        with pytest.raises(psycopg.errors.RaiseException, match="must be run online"):
            conn.execute(stops[0])

    down = project.cli("downgrade", "0002:0001", "--sql").stdout
    assert "-- op.expand_contract_rollback: undo the expand of ec migration '0002'" in down


def test_rollback_of_a_migration_run_under_another_name_needs_that_name(
    alembic_project: AlembicProject,
) -> None:
    project = alembic_project
    write_base(project, rows=10)
    project.write_revision(
        "0002",
        "0001",
        f"op.expand_contract([{RENAME!r}], name='items_v2')",
        "op.expand_contract_rollback()",
    )
    project.command("upgrade", "head")
    with pytest.raises(
        ExpandContractError,
        match="ec migration 'items_v2' is active on schema 'public', not '0002'",
    ) as refused:
        project.command("downgrade", "0001")
    assert "ran it as name='items_v2', pass the same name" in str(refused.value.hint)
    assert alembic_version(project) == ["0002"]
    assert ec_status(project.db.url)["migration"] == "items_v2"

    project.write_revision(
        "0002",
        "0001",
        f"op.expand_contract([{RENAME!r}], name='items_v2')",
        "op.expand_contract_rollback(name='items_v2')",
    )
    project.command("downgrade", "0001")
    assert ec_status(project.db.url)["migration"] is None
