"""Which version is this session? The one place that decides, in SQL.

A session is the new version when it says so: the setting ``expandcontract.version`` names the
version schema, or — when that setting is empty — the first schema of its search_path is the
version schema (``public_v2, public`` works: it is the first *existing* schema, not a string
match). Everything else, including apps that know nothing of ec, is the old version.
"""

from __future__ import annotations

from psycopg import sql

SETTING = "expandcontract.version"
# Set on ec's own sessions: the dual-write trigger sends its per-row WARNING to apps only.
EC_SESSION = "expandcontract.ec"


def is_version(version_schema: str) -> sql.Composed:
    """A boolean SQL expression: true in sessions that declared ``version_schema``."""
    return sql.SQL(
        "(coalesce(nullif(current_setting({}, true), ''), (current_schemas(false))[1]) = {})"
    ).format(sql.Literal(SETTING), sql.Literal(version_schema))


def as_version(conninfo: str, version: str) -> str:
    """``conninfo`` whose sessions declare ``version`` from their first statement on.

    ec's own sessions (the backfill above all) must never be taken for the new version, even
    when a switched database default search_path starts with the new version's schema. A URL
    stays a URL (readable in messages); the setting travels in libpq's ``options``.
    """
    from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from expandcontract.dsn import to_psycopg

    declared = f"-c {SETTING}={version} -c {EC_SESSION}=on"
    libpq = to_psycopg(conninfo)
    if "://" not in libpq:
        options = str(conninfo_to_dict(libpq).get("options") or "")
        return make_conninfo(libpq, options=f"{options} {declared}".strip())
    parts = urlsplit(libpq)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "options"]
    options = " ".join(v for k, v in parse_qsl(parts.query) if k == "options")
    query.append(("options", f"{options} {declared}".strip()))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))
