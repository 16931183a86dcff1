"""Which version is this session? The one place that decides, in SQL.

A session is the new version when it says so: the setting ``expandcontract.version`` names the
version schema, or — when that setting is empty — the first schema of its search_path is the
version schema (``public_v2, public`` works: it is the first *existing* schema, not a string
match). Everything else, including apps that know nothing of ec, is the old version.
"""

from __future__ import annotations

from psycopg import sql

SETTING = "expandcontract.version"


def is_version(version_schema: str) -> sql.Composed:
    """A boolean SQL expression: true in sessions that declared ``version_schema``."""
    return sql.SQL(
        "(coalesce(nullif(current_setting({}, true), ''), (current_schemas(false))[1]) = {})"
    ).format(sql.Literal(SETTING), sql.Literal(version_schema))


def as_version(conninfo: str, version: str) -> str:
    """``conninfo`` whose sessions declare ``version`` from their first statement on.

    ec's own sessions (the backfill above all) must never be taken for the new version, even
    when a switched database default search_path starts with the new version's schema.
    """
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from expandcontract.dsn import to_psycopg

    libpq = to_psycopg(conninfo)
    options = str(conninfo_to_dict(libpq).get("options") or "")
    declared = f"-c {SETTING}={version}"
    return make_conninfo(libpq, options=f"{options} {declared}".strip())
