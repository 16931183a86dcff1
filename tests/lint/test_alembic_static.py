"""Alembic revisions are read statically by default (``ast``, never imported: CI lints pull
requests from forks), rendered by Alembic from whitelisted arguments; ``--alembic-execute`` /
``ec.lint_execute`` import and run them. Offline: no database is involved in linting."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from expandcontract.cli import cli
from expandcontract.errors import ConfigError
from expandcontract.lint.findings import FileReport
from expandcontract.lint.inputs.alembic_lint import STATIC_NOTE, lint_alembic
from expandcontract.lint.inputs.alembic_project import execution, render
from expandcontract.lint.settings import LintSettings
from tests.lint.test_alembic_revisions import write_project as project

HEADER = (
    "from alembic import op\n"
    "import sqlalchemy as sa\n"
    "from sqlalchemy.dialects import postgresql\n"
    "revision = {rev!r}\n"
    "down_revision = {down!r}\n"
    "branch_labels = {labels!r}\n"
    "depends_on = None\n"
    "\n"
)  # upgrade() on line 9, its body from line 10


def source(rev: str, up: str, down: str | None = None, *, base: str | None = None,
           labels: str | None = None, prelude: str = "") -> str:  # fmt: skip
    text = prelude + HEADER.format(rev=rev, down=base, labels=labels)
    text += "def upgrade():\n" + textwrap.indent(textwrap.dedent(up).strip(), "    ") + "\n"
    if down is not None:
        text += "\n\ndef downgrade():\n" + textwrap.indent(textwrap.dedent(down).strip(), "    ")
        text += "\n"
    return text


def one(root: Path, up: str, down: str | None = None, **kw: str) -> FileReport:
    path = project(root, {"r1.py": source("r1", up, down)}, **kw) / "alembic" / "versions"
    [report] = lint_alembic(str(path / "r1.py"), LintSettings())
    return report


def at(report: FileReport) -> set[tuple[int, str]]:
    return {(f.line, f.rule) for f in report.findings}


# ---- nothing of the file runs unless asked ---------------------------------------------------


def hostile(marker: Path) -> str:
    return source(
        "r1",
        f"""
        open({str(marker) + ".upgrade"!r}, "w").write("ran")
        op.drop_column("users", "legacy")
        raise RuntimeError("upgrade ran")
        """,
        prelude=f"open({str(marker) + '.module'!r}, 'w').write('ran')\n",
    )


def test_a_hostile_revision_is_never_executed_by_default(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    root = project(tmp_path / "p", {"r1.py": hostile(marker)})
    path = root / "alembic" / "versions" / "r1.py"
    result = CliRunner().invoke(cli, ["lint", "--no-cache", "--json", str(path)])
    assert result.exit_code == 1, result.output
    assert not list(tmp_path.glob("marker*"))  # neither the module body nor upgrade() ran
    found = {(f["line"], f["rule"]) for f in json.loads(result.output)["findings"]}
    assert (12, "ban-drop-column") in found  # read statically: the drop is still seen
    [report] = lint_alembic(str(path), LintSettings())
    assert report.reason == STATIC_NOTE and report.status == "ok"
    assert not list(tmp_path.glob("marker*"))


def test_alembic_execute_imports_and_runs_the_revision(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    root = project(tmp_path / "p", {"r1.py": hostile(marker)})
    path = root / "alembic" / "versions" / "r1.py"
    result = CliRunner().invoke(cli, ["lint", "--no-cache", "--alembic-execute", str(path)])
    assert sorted(p.name for p in tmp_path.glob("marker*")) == ["marker.module", "marker.upgrade"]
    assert "cannot render revision offline: RuntimeError: upgrade ran" in result.output
    with execution(True):
        [revision] = render(root)
    assert not revision.static


def test_the_linted_project_cannot_opt_in_to_running_its_code(tmp_path: Path) -> None:
    """A pull request can change alembic.ini or pyproject.toml: neither turns execution on;
    only the person running ec can (--alembic-execute)."""
    marker = tmp_path / "marker"
    root = project(tmp_path / "p", {"r1.py": hostile(marker)}, "ec.lint_execute = true\n")
    (root / "pyproject.toml").write_text("[tool.alembic.ec]\nlint_execute = true\n")
    path = root / "alembic" / "versions" / "r1.py"
    result = CliRunner().invoke(cli, ["lint", "--no-cache", str(path)])
    assert not list(tmp_path.glob("marker*")), result.output
    [revision] = render(root)
    assert revision.static


def test_a_history_that_is_not_literal_cannot_be_read_statically(tmp_path: Path) -> None:
    text = source("r1", "pass").replace("down_revision = None", "down_revision = compute()")
    root = project(tmp_path, {"r1.py": text})
    with pytest.raises(ConfigError, match="line 5: down_revision is not a literal") as err:
        render(root)
    assert "--alembic-execute" in (err.value.hint or "")


# ---- what is read -------------------------------------------------------------------------

WHITELISTED = """
op.create_table(
    "accounts",
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE")),
    sa.Column("kind", sa.Enum("a", "b", name="account_kind"), nullable=False),
    sa.Column("data", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb")),
    sa.Column("tags", pg.ARRAY(Text()), server_default=f"{{}}"),
    sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.Column("score", sa.Numeric(10, 2), server_default=str(-1)),
    sa.CheckConstraint("score > -1", name=op.f("ck_accounts_score")),
)
op.create_index(op.f("ix_accounts_owner"), "accounts", *[["owner_id"]],
                **{"postgresql_where": sa.text("owner_id > -1")}, unique=False)
op.create_index("ix_accounts_pair", "accounts", ("owner_id", "kind"))
op.add_column("users", Column("level", Integer(), nullable=True, comment=None))
op.execute(sa.text("UPDATE users SET level = -1"))
op.execute("ALTER TABLE users ALTER COLUMN level SET DEFAULT " "0")
op.bulk_insert(sa.table("users", sa.column("level", sa.Numeric)), [{"level": -2}, {"level": 3.5}])
"""
PRELUDE = (
    "from sqlalchemy import Column, Integer, Text\nimport sqlalchemy.dialects.postgresql as pg\n"
)


def test_every_whitelisted_form_is_evaluated_and_rendered_by_alembic(tmp_path: Path) -> None:
    text = source("r1", WHITELISTED.replace("str(-1)", "'-1'"), prelude=PRELUDE)
    root = project(tmp_path, {"r1.py": text})
    [revision] = render(root)
    assert revision.static and revision.error is None and revision.unread == []
    sql = " ".join(revision.sql.split())
    for fragment in [
        "CREATE TYPE account_kind AS ENUM ('a', 'b')",
        "id BIGINT GENERATED BY DEFAULT AS IDENTITY",
        "FOREIGN KEY(owner_id) REFERENCES users (id) ON DELETE CASCADE",
        "data JSONB DEFAULT '{}'::jsonb",
        "tags TEXT[] DEFAULT '{}'",
        "created TIMESTAMP WITH TIME ZONE DEFAULT now()",
        "CONSTRAINT ck_accounts_score CHECK (score > -1)",
        "CREATE INDEX ix_accounts_owner ON accounts (owner_id) WHERE owner_id > -1",
        "CREATE INDEX ix_accounts_pair ON accounts (owner_id, kind)",
        "ALTER TABLE users ADD COLUMN level INTEGER",
        "UPDATE users SET level = -1",
        "SET DEFAULT 0",
        "INSERT INTO users (level) VALUES (-2)",
    ]:
        assert fragment in sql, fragment
    # each statement maps to the line of its op.* call (upgrade body starts on line 12 here)
    lines = set(revision.line_map.values())
    assert lines == {12, 23, 25, 26, 27, 28, 29}


UNREADABLE = [
    ('if True:\n    op.drop_column("users", "a")', "an if statement"),
    ('for c in ["a"]:\n    op.drop_column("users", c)', "a loop"),
    ("while False:\n    pass", "a loop"),
    ("try:\n    pass\nexcept Exception:\n    pass", "a try statement"),
    ('with open("x") as f:\n    pass', "a with statement other than op.batch_alter_table"),
    ("helper()", "helper(): only op.* calls are read statically"),
    ("conn = op.get_bind()", "op.get_bind(): SQL run through a connection"),
    ('op.get_bind().execute(sa.text("DROP TABLE t"))', "SQL run through a connection"),
    ('conn.execute("DROP TABLE t")', "conn.execute(): SQL run through a connection"),
    ("op.get_bind()", "op.get_bind(): SQL run through a connection"),
    ("op.my_custom_op()", "op.my_custom_op() is not an Alembic operation"),
    ("t = 'users'", "an assignment"),
    ('op.execute(f"DROP TABLE {name}")', "an f-string with expressions"),
    ('op.execute("DROP TABLE " + "t")', "a BinOp expression"),
    ('op.add_column("t", make_column())', "'make_column' is a name ec does not evaluate"),
    ('op.execute(sa.text("x").bindparams(a=1))', "an attribute of an evaluated object"),
    ('op.execute(sa.text("x")())', "a call of an evaluated object"),
    # a constructor outside the whitelist is refused, never called (nothing connects anywhere)
    ('op.execute(sa.create_engine("sqlite://"))', "not a SQLAlchemy type, schema item"),
    ('op.execute(sa.util.langhelpers._exec_code_in_env("x", {}, "f"))', "(util)"),
    ('op.execute(sa.orm.relationship("X"))', "(orm)"),
    ('op.execute((lambda: "x")())', "a call of an evaluated object"),
    ('op.execute([x for x in "ab"][0])', "a Subscript expression"),
    ('op.execute(__import__("os").system("true"))', "'__import__' is a name"),
    ("op.execute(op.get_context())", "op.get_context, which is not a value"),
    ('op.create_index("i", "t", ["c"], **opts)', "'opts' is a name ec does not evaluate"),
    (
        'with op.batch_alter_table(table_name()) as b:\n    b.drop_column("c")',
        "op.batch_alter_table",
    ),
]


@pytest.mark.parametrize(("body", "reason"), UNREADABLE)
def test_what_cannot_be_read_is_a_finding_at_its_line(
    tmp_path: Path, body: str, reason: str
) -> None:
    report = one(tmp_path, "op.execute(\"SET lock_timeout = '1s'\")\n" + body)
    unread = [f for f in report.findings if f.rule == "unanalysed-statement"]
    assert [f.line for f in unread] == [11], report.findings
    assert reason in unread[0].message and "not read statically" in unread[0].message
    assert unread[0].severity == "warning"


def test_reading_goes_on_after_what_cannot_be_read(tmp_path: Path) -> None:
    body = 'helper()\nop.drop_column("users", "legacy")\nraise NotImplementedError\n'
    report = one(tmp_path, body + 'op.drop_table("never_runs")')
    assert (10, "unanalysed-statement") in at(report)
    assert (11, "ban-drop-column") in at(report)
    assert not any(f.line == 13 for f in report.findings)  # after raise: nothing runs
    assert report.statements == 2  # the drop and the call that was not read


def test_the_unanalysed_rule_can_be_ignored_like_any_other(tmp_path: Path) -> None:
    root = project(tmp_path, {"r1.py": source("r1", "helper()")})
    path = root / "alembic" / "versions" / "r1.py"
    [report] = lint_alembic(str(path), LintSettings(ignore=frozenset({"unanalysed-statement"})))
    assert report.findings == []


def test_batch_alter_table_operations_map_to_their_lines(tmp_path: Path) -> None:
    report = one(
        tmp_path,
        """
        op.execute("SET lock_timeout = '1s'")
        with op.batch_alter_table("users", schema="app") as batch_op:
            batch_op.add_column(sa.Column("status", sa.Text()))
            batch_op.drop_column("legacy")
            batch_op.alter_column("email", new_column_name="mail")
        """,
    )
    assert {(13, "ban-drop-column"), (14, "renaming-column")} <= at(report)
    assert not any(f.rule == "unanalysed-statement" for f in report.findings)
    [revision] = render(tmp_path)
    sql = revision.sql
    assert "ALTER TABLE app.users ADD COLUMN status TEXT" in sql
    assert "ALTER TABLE app.users DROP COLUMN legacy" in sql
    assert revision.line_map[sql[: sql.index("DROP COLUMN")].count("\n") + 1] == 13


def test_autocommit_block_and_execute_strings(tmp_path: Path) -> None:
    report = one(
        tmp_path,
        """
        op.execute("SET lock_timeout = '1s'")
        op.execute(sa.text("ALTER TABLE users ADD CONSTRAINT u_email UNIQUE (email)"))
        with op.get_context().autocommit_block():
            op.create_index("i", "users", ["email"], postgresql_concurrently=True)
        op.execute('''
            CREATE INDEX j ON users (name)
        ''')
        """,
    )
    found = at(report)
    assert (11, "disallowed-unique-constraint") in found
    assert (14, "require-concurrent-index-creation") in found  # the multi-line string
    assert not any(f.line == 13 and f.rule == "require-concurrent-index-creation"
                   for f in report.findings)  # fmt: skip
    [revision] = render(tmp_path)
    assert "COMMIT;" in revision.sql and "CREATE INDEX CONCURRENTLY i ON users" in revision.sql


def test_downgrade_is_linted_as_the_rollback_phase(tmp_path: Path) -> None:
    files = {
        "r0.py": source("r0", "pass", labels="expand"),
        "r1.py": source(
            "r1",
            "op.execute(\"SET lock_timeout = '1s'\")\n"
            'op.add_column("users", sa.Column("x", sa.Text()))',
            'op.execute("SET lock_timeout = \'1s\'")\nop.drop_column("users", "x")\n'
            'op.create_index("i", "users", ["x"])\nhelper()',
            base="r0",
        ),
    }
    root = project(tmp_path, files)
    [report] = lint_alembic(str(root / "alembic" / "versions" / "r1.py"), LintSettings())
    down = [f for f in report.findings if f.line >= 15]
    found = {(f.line, f.rule) for f in down}
    assert {(17, "require-concurrent-index-creation"), (18, "unanalysed-statement")} <= found
    # the revision is in the expand branch, but its downgrade is a rollback: dropping the
    # column the upgrade added is neither an expand error nor a data-loss warning there
    assert not {(16, "expand-phase-destructive"), (16, "ban-drop-column")} & found
    assert all(f.message.startswith("(downgrade) ") for f in down)
    [rendered] = render(root, within=root / "alembic" / "versions" / "r1.py")
    assert rendered.downgrade is not None and "DROP COLUMN x" in rendered.downgrade.sql


SAFE = "ec.safe_ops = true\n"


def test_safe_ops_render_statically(tmp_path: Path) -> None:
    files = {
        "r0.py": source("r0", "op.create_table('users', sa.Column('id', sa.Integer))"),
        "r1.py": source(
            "r1",
            """
            op.create_index("users_id_idx", "users", ["id"])
            op.create_table("new_t", sa.Column("id", sa.Integer))
            op.create_index("new_t_id_idx", "new_t", ["id"])
            op.drop_column("users", "legacy")
            op.create_index("never", "users", ["id"])
            """,
            base="r0",
        ),
    }
    root = project(tmp_path, files, SAFE)
    by_rev = {r.revision: r for r in render(root)}
    sql = by_rev["r1"].sql
    assert "CREATE INDEX CONCURRENTLY users_id_idx ON users (id)" in sql
    # a table created earlier in the same revision stays plain: the revision is one run
    assert "CREATE INDEX new_t_id_idx ON new_t (id)" in sql
    assert "never" not in sql  # the refusal stops the revision there
    assert by_rev["r1"].refusal is not None and by_rev["r1"].refusal[0] == 13
    [report] = lint_alembic(str(root / "alembic" / "versions" / "r1.py"), LintSettings())
    assert (13, "invalid-migration") in at(report)
    assert "require-concurrent-index-creation" not in {r for _, r in at(report)}


def test_safe_ops_opt_outs_are_read_from_the_file(tmp_path: Path) -> None:
    up = 'op.drop_column("users", "legacy")'
    text = source("r1", up) + '\nec_allow = {"drop_column"}\n'
    root = project(tmp_path, {"r1.py": text}, SAFE)
    [revision] = render(root)
    assert revision.refusal is None and "DROP COLUMN legacy" in revision.sql


def test_a_revision_that_is_not_python_is_a_config_error(tmp_path: Path) -> None:
    root = project(tmp_path, {"r1.py": "def upgrade(:\n"})
    with pytest.raises(ConfigError, match="cannot parse it as Python"):
        render(root)


def test_ec_lint_text_output_of_a_static_revision(tmp_path: Path) -> None:
    root = project(tmp_path, {"r1.py": source("r1", 'op.drop_column("users", "legacy")')})
    path = root / "alembic" / "versions" / "r1.py"
    result = CliRunner().invoke(cli, ["lint", "--no-cache", str(path)])
    assert f"{path}:10:1: warning [ban-drop-column]" in result.output or (
        f"{path}:10:1: error [ban-drop-column]" in result.output
    ), result.output


# ---- code that runs is never skipped silently (review of issue 12) --------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("class _H:\n    op.drop_table('users')", "definition that runs code"),
        ("def _f(x=op.drop_column('orders', 'total')):\n    pass", "definition that runs code"),
        ("del [op.drop_table('audit')][0]", "del statement"),
        ("import helpers_that_run_sql", "importing a module runs its code"),
        ("raise RuntimeError(op.drop_table('payments'))", "raise with a computed value"),
    ],
)
def test_statements_that_run_code_are_reported_not_skipped(
    tmp_path: Path, body: str, reason: str
) -> None:
    report = one(tmp_path, body)
    unread = [f for f in report.findings if f.rule == "unanalysed-statement"]
    assert [f.line for f in unread] == [10] and reason in unread[0].message


def test_a_decorated_upgrade_is_not_read_as_written(tmp_path: Path) -> None:
    text = source("r1", "op.add_column('t', sa.Column('a', sa.Text()))").replace(
        "def upgrade():", "@wrap\ndef upgrade():"
    )
    text = "def wrap(f):\n    return lambda: op.drop_table('accounts')\n" + text
    root = project(tmp_path, {"r1.py": text})
    [report] = lint_alembic(str(root / "alembic" / "versions" / "r1.py"), LintSettings())
    assert [f.rule for f in report.findings] == ["unanalysed-statement"]
    assert "decorated upgrade()" in report.findings[0].message


def test_a_module_level_rebinding_inside_if_hides_op(tmp_path: Path) -> None:
    text = source("r1", "op.drop_column('users', 'legacy')", prelude="")
    text = text.replace(
        "import sqlalchemy as sa\n", "import sqlalchemy as sa\nif True:\n    import evil as op\n"
    )
    root = project(tmp_path, {"r1.py": text})
    [report] = lint_alembic(str(root / "alembic" / "versions" / "r1.py"), LintSettings())
    assert "ban-drop-column" not in {f.rule for f in report.findings}
    assert "unanalysed-statement" in {f.rule for f in report.findings}


@pytest.mark.parametrize("given", ["/etc/passwd", "../../../../etc/passwd", "/dev/zero"])
def test_static_expand_contract_reads_no_file_outside_the_revision_folder(
    tmp_path: Path, given: str
) -> None:
    report = one(tmp_path, f"op.expand_contract({given!r})")
    assert [f.rule for f in report.findings] == ["unanalysed-statement"]
    assert "inside the revision's folder only" in report.findings[0].message
    assert "root:" not in " ".join(f.message for f in report.findings)
