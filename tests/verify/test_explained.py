"""Errors a user can act on: an expression that cannot hold a value is named, with the value,
the SQLSTATE and how to write it instead - not just "integer out of range"."""

from __future__ import annotations

from sqlalchemy import Integer, MetaData

from tests.verify.apps import widen
from tests.verify.conftest import Verify, details, failures


def test_down_that_cannot_hold_the_new_versions_value_says_how_to_write_it(
    verify: Verify,
) -> None:
    report = verify("widen_amount", old=widen.v1, new=widen.v2)
    new = failures(report, version="new", kind="dynamic")
    explained = [
        c
        for c in new
        if "down of counters.amount (amount::integer) cannot represent the value the new "
        "version wrote" in c.detail
    ]
    assert explained, details(report.failures)
    text = explained[0].detail
    assert "while the old version is live" in text
    assert "integer out of range" in text and "22003" in text
    assert "counters.amount = " in text  # the value
    # a clamp that keeps NULL as NULL (amount is nullable: least/greatest would skip NULLs)
    assert (
        "(CASE WHEN amount > 2147483647 THEN 2147483647 WHEN amount < -2147483648 THEN "
        "-2147483648 ELSE amount END)::integer" in text
    )
    assert "CHECK (amount BETWEEN -2147483648 AND 2147483647)" in text
    assert explained[0].statement
    # no bare "integer out of range" left for the user to decode
    assert all("cannot represent" in c.detail for c in new if "out of range" in c.detail)


def test_the_suggested_clamp_makes_the_widening_compatible(verify: Verify) -> None:
    report = verify("widen_amount_clamped", old=widen.v1, new=widen.v2)
    assert report.compatible, report.text()


def test_a_clamp_that_turns_null_into_a_value_is_reported(verify: Verify) -> None:
    report = verify("widen_amount_greatest", old=widen.v1, new=widen.v2, rows=60)
    made_up = [
        c.detail
        for c in failures(report, version="old", kind="invariants")
        if "where the new version wrote NULL to counters.amount" in c.detail
    ]
    assert made_up, report.text()
    assert "counters.amount = -2147483648" in made_up[0]
    assert "down `least(greatest(amount, -2147483648), 2147483647)::integer` makes up" in made_up[0]


def test_up_that_cannot_convert_what_the_old_version_wrote_says_how_to_write_it(
    verify: Verify,
) -> None:
    new = MetaData()
    for table in widen.v1.sorted_tables:
        table.to_metadata(new)
    new.tables["counters"].c.label.type = Integer()
    report = verify("label_to_integer", old=widen.v1, new=new)
    texts = [c.detail for c in failures(report, version="new", kind="invariants")]
    explained = [
        t
        for t in texts
        if t.startswith("up of counters.label (label::integer) fails on row (")
        and "the old version wrote (counters.label = " in t
        and "invalid input syntax for type integer" in t
        and "SQLSTATE 22P02" in t
        and "How to fix: guard the conversion in up" in t
    ]
    assert explained, "\n".join(texts)
    # rows left pending say why, instead of a "value lost" for each of them
    pending = [t for t in texts if " rows of counters unconverted (still marked _ec_pending)" in t]
    assert pending and all(
        "up of counters.label (label::integer) fails on row" in t for t in pending
    )
    assert not [t for t in texts if t.startswith("value lost")], "\n".join(texts)


def test_down_that_gives_null_for_a_not_null_column_says_how_to_write_it(
    verify: Verify,
) -> None:
    from tests.verify.apps import memo

    report = verify("drop_body", old=memo.v1, new=memo.v2)
    new = failures(report, version="new", kind="dynamic")
    explained = [
        c.detail
        for c in new
        if c.detail.startswith("down of memos.body (title) cannot represent the value the new ")
        and "memos.title = None" in c.detail
        and "SQLSTATE 23502" in c.detail
        and "the old version's memos.body is NOT NULL" in c.detail
        and "coalesce(title, <a value the old version accepts>)" in c.detail
    ]
    assert explained, details(report.failures)
