"""The advice for an expression that cannot hold a value, by SQLSTATE and column type (no
database: pure functions over the migration's derivations and the apps' MetaData)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Integer, MetaData, Numeric, String, Table

from expandcontract.verify.derived import Derivation
from expandcontract.verify.explain import how_to_write


def tables(new_type: Any, old_type: Any, *, nullable: bool) -> tuple[Table, Table]:
    """(source, target) tables of one column ``v``."""
    new = Table("t", MetaData(), Column("v", new_type, nullable=nullable))
    old = Table("t", MetaData(), Column("v", old_type, nullable=nullable))
    return new, old


def down(expression: str) -> Derivation:
    return Derivation("new", "t", "t", "v", expression, "alter_column", frozenset({"v"}))


def test_a_clamp_that_cannot_see_null_uses_least_and_greatest() -> None:
    new, old = tables(BigInteger(), Integer(), nullable=False)
    advice = how_to_write(down("v::integer"), "22003", new, old)
    assert "least(greatest(v, -2147483648), 2147483647)::integer" in advice
    assert "CHECK (v BETWEEN -2147483648 AND 2147483647)" in advice


def test_a_clamp_over_a_nullable_value_keeps_null() -> None:
    new, old = tables(BigInteger(), Integer(), nullable=True)
    advice = how_to_write(down("v::integer"), "22003", new, old)
    assert "least(" not in advice
    assert "ELSE v END)::integer" in advice


def test_numeric_overflow_and_string_truncation() -> None:
    new, old = tables(Numeric(12, 2), Numeric(8, 2), nullable=True)
    advice = how_to_write(down("v::numeric(8, 2)"), "22003", new, old)
    assert "CASE WHEN abs(v) < 1e6 THEN v::numeric(8, 2) END" in advice
    new, old = tables(String(50), String(20), nullable=True)
    advice = how_to_write(down("v::varchar(20)"), "22001", new, old)
    assert "left(v, 20)" in advice and "CHECK (char_length(v) <= 20)" in advice


def test_an_up_is_told_the_old_version_cannot_change() -> None:
    old, new = tables(String(20), Integer(), nullable=True)
    up = Derivation("old", "t", "t", "v", "v::integer", "alter_column", frozenset({"v"}))
    advice = how_to_write(up, "22P02", old, new)
    assert advice.startswith("guard the conversion in up")
    assert advice.endswith("(the old version is deployed: up must take whatever it writes)")
