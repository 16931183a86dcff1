"""Type compatibility rules and import-path inputs (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import BigInteger, Integer, MetaData, Numeric, SmallInteger, String, Text

from expandcontract.errors import ConfigError
from expandcontract.verify.inputs import as_metadata, load_check, load_metadata, load_object
from expandcontract.verify.types import app_kind, db_kind, incompatibility

INTS = [(SmallInteger(), "smallint", 2), (Integer(), "integer", 4), (BigInteger(), "bigint", 8)]


@given(app=st.sampled_from(INTS), db=st.sampled_from(INTS))
def test_integer_narrowing_is_flagged_and_widening_is_not(app: tuple, db: tuple) -> None:
    reason = incompatibility(app_kind(app[0]), db_kind(db[1]))
    if db[2] < app[2]:
        assert reason == f"narrowing: the app declares {app[1]}, the column is {db[1]}"
    else:
        assert reason is None


@given(app_len=st.one_of(st.none(), st.integers(1, 500)),
       db_len=st.one_of(st.none(), st.integers(1, 500)))  # fmt: skip
def test_varchar_lengths(app_len: int | None, db_len: int | None) -> None:
    app = app_kind(String(app_len) if app_len else Text())
    db = db_kind(f"character varying({db_len})" if db_len else "text")
    narrows = db_len is not None and (app_len is None or app_len > db_len)
    assert (incompatibility(app, db) is not None) == narrows


def test_numeric_and_kind_changes() -> None:
    assert incompatibility(app_kind(Numeric(12, 2)), db_kind("numeric(10,2)"))
    assert incompatibility(app_kind(Numeric(12, 2)), db_kind("numeric(12,1)"))
    assert incompatibility(app_kind(Numeric(12, 2)), db_kind("numeric(14,3)")) is None
    assert incompatibility(app_kind(Numeric(12, 2)), db_kind("numeric")) is None
    assert incompatibility(app_kind(Integer()), db_kind("numeric(20,0)")) is None
    assert incompatibility(app_kind(BigInteger()), db_kind("numeric(10,0)"))
    assert incompatibility(app_kind(Integer()), db_kind("text")) == (
        "different kind: the app declares integer, the column is text"
    )


def test_import_paths_load_metadata_bases_and_callables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "models_x.py").write_text(
        "from sqlalchemy import MetaData, Table, Column, Integer\n"
        "md = MetaData()\nTable('t', md, Column('id', Integer, primary_key=True))\n"
        "class Holder:\n    metadata = md\n"
        "def build():\n    return md\n"
        "def check(conn):\n    return None\n"
        "empty = MetaData()\nnot_md = 3\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    md = load_metadata("models_x:md", option="--old")
    assert list(md.tables) == ["t"]
    assert as_metadata(load_object("models_x:Holder", option="--old")) is md
    assert load_metadata("models_x:build", option="--old") is md
    assert callable(load_check("models_x:check", option="--old-check"))
    cases = {
        "models_x": "is not an import path",
        "nope_module:md": "cannot import module 'nope_module'",
        "models_x:missing": "has no attribute 'missing'",
        "models_x:empty": "declares no tables",
        "models_x:not_md": "expected a SQLAlchemy MetaData or declarative Base, got int",
    }
    for spec, message in cases.items():
        with pytest.raises(ConfigError, match=message) as info:
            load_metadata(spec, option="--old")
        assert info.value.exit_code == 2
    with pytest.raises(ConfigError, match="is not callable"):
        load_check("models_x:not_md", option="--old-check")
    assert isinstance(MetaData(), MetaData)


def test_static_check_names_new_constraints_and_not_null_columns() -> None:
    from sqlalchemy import Column, Table

    from expandcontract.verify.catalog import DbColumn, DbConstraint, Relation
    from expandcontract.verify.static import check_version

    md = MetaData()
    Table(
        "users",
        md,
        Column("id", Integer, primary_key=True),
        Column("email", Text, unique=True),
        Column("nick", Text),
    )
    rel = Relation(
        "users",
        "r",
        {
            "id": DbColumn("id", "integer", True, True, False),
            "email": DbColumn("email", "text", False, False, False),
            "nick": DbColumn("nick", "text", True, False, False),
            "added": DbColumn("added", "text", True, False, False),  # filled by ec's trigger
            "_ec_pending": DbColumn("_ec_pending", "boolean", False, True, False),
        },
        [
            DbConstraint("users_email_key", "u", ["email"], "UNIQUE (email)"),
            DbConstraint("users_nick_key", "i", ["nick"], "CREATE UNIQUE INDEX ..."),
            DbConstraint("old_check", "c", ["nick"], "CHECK (nick <> '')"),
        ],
    )
    problems = check_version(
        md,
        {"users": rel},
        schema="public",
        version="old",
        trigger_filled={"users": {"added"}},
        baseline={("users", "old_check")},
    )
    assert problems == [
        "NOT NULL without default: users.nick requires a value, but the old version declares "
        "it nullable and may write NULL",
        "new unique constraint users_nick_key on users(nick): the old version does not declare "
        "these columns unique, so its writes can violate it",
    ]
    assert check_version(md, {}, schema="s", version="new") == [
        "missing table: the new version uses users, which schema s does not have"
    ]
