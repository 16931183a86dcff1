"""Connection-string handling; above all, passwords never leave ec unmasked."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

MASK = "***"

# postgresql://user:secret@host -> the secret part, in URL form.
_URL_PASSWORD = re.compile(
    r"(?P<pre>\b[a-z][a-z0-9+.\-]*://[^:/?#@\s]*:)(?P<pw>[^@\s/]*)(?P<post>@)", re.I
)
# password=secret or password='sec ret' in key/value DSNs, and ?password=secret in URL queries.
_KV_PASSWORD = re.compile(r"(?P<pre>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^\s&]+)", re.I)


def mask_dsn(text: str) -> str:
    """Return ``text`` with every password in URL or key=value form replaced by ``***``.

    Works on whole log lines and error messages too, not only on a bare DSN.
    """

    def _url(m: re.Match[str]) -> str:
        # An empty password ("postgres:@host") has nothing to hide; keep it recognisable.
        return m.group("pre") + (MASK if m.group("pw") else "") + m.group("post")

    masked = _URL_PASSWORD.sub(_url, text)
    return _KV_PASSWORD.sub(lambda m: m.group("pre") + MASK, masked)


# What ec adds to a user's DSN for its own sessions (selector.as_version): never shown back.
_EC_OPTION = re.compile(r"\s*-c\s*expandcontract\.[a-z_]+=[^\s']*", re.I)
# ``options=`` in a URL query (percent-encoded, ends at & or whitespace; punctuation that ends
# a sentence around it stays in the sentence) and in key=value form (quoted or one word).
_URL_OPTIONS = re.compile(
    r"(?P<sep>[?&])options=(?P<value>[^&\s\"']*?)(?P<next>&?)(?=(?<=&)|[\"']|[:;,.)]?(?:\s|$))"
)
_KV_OPTIONS = re.compile(r"(?P<pre>^|\s+)options=(?P<value>'(?:[^'\\]|\\.)*'|[^\s']+)")


def _strip_url_options(m: re.Match[str]) -> str:
    sep, following = m.group("sep"), m.group("next")
    value = _EC_OPTION.sub("", unquote(m.group("value"))).strip()
    if value:
        return f"{sep}options={quote(value)}{following}"
    # Dropped: "?options=…&a=1" -> "?a=1", "&options=…&a=1" -> "&a=1", "?options=…" -> "".
    return sep if following else ""


def _strip_kv_options(m: re.Match[str]) -> str:
    raw = m.group("value")
    quoted = raw.startswith("'")
    value = _EC_OPTION.sub("", raw[1:-1] if quoted else raw).strip()
    if not value:
        return ""
    shown = f"'{value}'" if quoted or " " in value else value
    return f"{m.group('pre')}options={shown}"


def display_text(text: str) -> str:
    """``text`` (a message, a log line or a bare DSN) as ec shows it: passwords masked and the
    ``-c expandcontract.…`` options ec adds to its own sessions removed, in URL and key=value
    form, wherever they appear."""
    out = _URL_OPTIONS.sub(_strip_url_options, text)
    out = _KV_OPTIONS.sub(_strip_kv_options, out)
    return mask_dsn(out)


def display_dsn(conninfo: str) -> str:
    """A connection string as the user wrote it, for messages: passwords masked and the
    ``-c expandcontract.…`` options ec added for its own sessions removed."""
    return display_text(conninfo.strip()).strip()


def user_of(conninfo: str) -> str:
    """The role a connection string logs in as: its ``user``, else $PGUSER, else the OS user
    (libpq's own rule; service files aside). Used to name the role in privilege hints."""
    import getpass
    import os

    from psycopg.conninfo import conninfo_to_dict

    try:
        user = conninfo_to_dict(to_psycopg(conninfo)).get("user")
    except Exception:
        user = None
    return str(user or os.environ.get("PGUSER") or getpass.getuser())


def mask_secrets(text: str, secrets: list[str]) -> str:
    """Mask DSNs and any literal occurrence of known secrets (a password echoed in an error)."""
    out = mask_dsn(text)
    for secret in secrets:
        if secret and len(secret) >= 3:
            for form in {secret, quote(secret, safe=""), unquote(secret)}:
                out = out.replace(form, MASK)
    return out


def password_of(url: str) -> str | None:
    """The password embedded in a URL or key=value DSN, if any (used to mask echoes of it)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        value = conninfo_to_dict(url).get("password")
    except Exception:
        return None
    return str(value) if value else None


def to_psycopg(url: str) -> str:
    """Accept SQLAlchemy-style URLs (postgresql+psycopg://) and return one libpq understands."""
    return re.sub(r"^postgres(?:ql)?\+[a-z0-9_]+://", "postgresql://", url, flags=re.I)


def to_sqlalchemy(url: str) -> str:
    """Return a SQLAlchemy URL that uses the psycopg 3 driver."""
    return re.sub(r"^postgres(?:ql)?(?:\+[a-z0-9_]+)?://", "postgresql+psycopg://", url, flags=re.I)


def with_database(url: str, dbname: str) -> str:
    """Return ``url`` pointing at another database on the same server (URL or key=value form)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    if "://" not in url:
        return make_conninfo(url, dbname=dbname)
    scheme, rest = url.split("://", 1)
    path_start = rest.find("/")
    query = ""
    if "?" in rest:
        rest, query = rest.split("?", 1)
        query = "?" + query
        path_start = rest.find("/")
    authority = rest if path_start < 0 else rest[:path_start]
    # Validate that libpq can read what we produce.
    new = f"{scheme}://{authority}/{quote(dbname, safe='')}{query}"
    conninfo_to_dict(to_psycopg(new))
    return new
