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
