"""Derived columns across versions: a column one version derives from the other's columns must
follow every change of what its expression reads, whichever version changes it.

The stale-derivation faults are injected for real: a custom backfill job (the verifier's
``backfill=`` hook) first installs, in the throwaway database, a trigger that fires after ec's
dual-write trigger and puts the derived column's previous value back on every update by the
source version - a derivation that is computed on insert (and for never-computed rows) only.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from expandcontract.config import Settings
from expandcontract.dsn import to_psycopg
from expandcontract.engine.phases import BackfillFn
from expandcontract.engine.plan import BackfillJob
from expandcontract.engine.selector import is_version
from expandcontract.ledger import MigrationRecord
from expandcontract.verify.api import verify_backfill
from expandcontract.verify.phases import AFTER_SWITCH
from expandcontract.verify.report import Report
from tests.verify.apps import split
from tests.verify.conftest import Verify, details, failures

SPLIT_SCHEMA = "public_split_name"  # the version schema of split_name.yaml


def insert_only(column: str, writer: str) -> Callable[[str, Settings], BackfillFn]:
    """ec's backfill, after installing a fault: updates by ``writer`` (old or new) no longer
    recompute ``column`` on rows computed before."""
    new_session = is_version(SPLIT_SCHEMA).as_string(None)
    writer_session = new_session if writer == "new" else f"NOT {new_session}"
    name = sql.Literal(column).as_string(None)
    body = (
        f"BEGIN IF {writer_session} AND (to_jsonb(OLD) ->> '_ec_pending') = 'false' THEN"
        f" NEW := jsonb_populate_record(NEW, jsonb_build_object({name}, to_jsonb(OLD) -> {name}));"
        " END IF; RETURN NEW; END"
    )

    def factory(url: str, settings: Settings) -> BackfillFn:
        ec_backfill = verify_backfill(url, settings)

        def run(job: BackfillJob, record: MigrationRecord) -> None:
            with psycopg.connect(to_psycopg(url), autocommit=True) as conn:
                conn.execute(
                    sql.SQL(
                        "CREATE OR REPLACE FUNCTION public.fault_fn() RETURNS trigger"
                        " LANGUAGE plpgsql AS {}"
                    ).format(sql.Literal(body))
                )
                # "zz" sorts after "_ec_dual_write": PostgreSQL fires BEFORE triggers by name
                conn.execute(
                    "CREATE OR REPLACE TRIGGER zz_fault BEFORE UPDATE ON public.users"
                    " FOR EACH ROW EXECUTE FUNCTION public.fault_fn()"
                )
            ec_backfill(job, record)

        return run

    return factory


def derived_failures(report: Report, version: str) -> list[str]:
    return [
        c.detail
        for c in failures(report, version=version, kind="invariants")
        if "derived" in c.detail
    ]


def test_split_column_keeps_every_derived_column_current_in_both_directions(
    verify: Verify,
) -> None:
    report = verify("split_name", old=split.v1, new=split.v2)
    assert report.compatible, report.text()
    # the cross-version writes ran and were checked, for every derivation, in each phase
    checks = [
        c.detail
        for c in report.checks
        if c.ok and c.kind == "invariants" and c.detail.startswith("derived columns follow")
    ]
    assert len(checks) == 3, details(report.checks)  # after expand, switch, switch back
    assert all("4 derivations" in c for c in checks), checks


def test_stale_add_column_derivation_after_an_old_version_update_is_reported(
    verify: Verify,
) -> None:
    report = verify(
        "split_name", old=split.v1, new=split.v2, backfill=insert_only("email_domain", "old")
    )
    assert not report.compatible
    stale = derived_failures(report, "new")
    assert stale, report.text()
    wanted = [
        s
        for s in stale
        if "users.email_domain" in s
        and "split_part(email, '@', 2)" in s
        and "the old version" in s
        and "changed users.email" in s
        and "for row (" in s
    ]
    assert wanted, "\n".join(stale)
    assert AFTER_SWITCH in {c.phase for c in failures(report, version="new", kind="invariants")}


def test_stale_drop_column_derivation_after_a_new_version_update_is_reported(
    verify: Verify,
) -> None:
    report = verify(
        "split_name", old=split.v1, new=split.v2, backfill=insert_only("display_name", "new")
    )
    assert not report.compatible
    stale = derived_failures(report, "old")
    wanted = [
        s
        for s in stale
        if "users.display_name" in s
        and "concat_ws(' ', first_name, last_name)" in s
        and "the new version" in s
        and ("changed users.first_name" in s or "changed users.last_name" in s)
    ]
    assert wanted, report.text()
