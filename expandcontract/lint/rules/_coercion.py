"""Which ALTER COLUMN … TYPE changes PostgreSQL makes without rewriting the table.

PostgreSQL skips the rewrite when the conversion is binary coercible and any length/precision
coercion is a no-op (tablecmds.c ATColumnChangeRequiresRewrite after the planner's support
functions simplify it). The list is deliberately small and exact — every entry is checked
against a real server in tests/lint/test_schema_aware.py, by whether the table's file node
changes — and anything not in it is treated as a rewrite.
"""

from __future__ import annotations

from expandcontract.lint.pgtypes import PgType

VARCHAR = "character varying"
_STRINGS = (VARCHAR, "text")
# a precision (typmod) that only widens is dropped by the type's support function
_PRECISION_TYPES = (
    "timestamp without time zone",
    "timestamp with time zone",
    "time without time zone",
    "time with time zone",
)
_TIMESTAMPS = ("timestamp without time zone", "timestamp with time zone")
# the zones with a fixed zero UTC offset (PostgreSQL checks the offset, not the name)
_UTC_ZONES = frozenset(
    z.lower()
    for z in ("UTC", "Etc/UTC", "UCT", "Etc/UCT", "GMT", "Etc/GMT", "Universal",
              "Etc/Universal", "Zulu", "Etc/Zulu", "Greenwich", "Etc/Greenwich")
)  # fmt: skip
# binary-coercible casts between different types with no typmod to check
_RELABELS = frozenset({("cidr", "inet"), ("xml", "text")})


def rewrites(old: PgType, new: PgType, *, server_major: int, timezone: str) -> bool:
    """True unless changing a column of type ``old`` to ``new`` is known to keep the table."""
    old, new = old.storage, new.storage
    if old == new:
        return False
    if not (old.known and new.known) or old.array or new.array:
        return True  # array element coercion always rewrites
    if old.name in _STRINGS and new.name in _STRINGS:
        return _varchar_rewrites(old, new)
    if old.name == new.name == "numeric":
        return _numeric_rewrites(old.modifiers, new.modifiers)
    if old.name == new.name and old.name in _PRECISION_TYPES:
        return _widens(old.modifiers, new.modifiers) is False
    if old.name.startswith("interval") and new == PgType("interval"):
        return False
    if {old.name, new.name} == set(_TIMESTAMPS):
        # PG 12+: no rewrite when the session's time zone is UTC and no precision is imposed
        utc = timezone.strip().lower() in _UTC_ZONES
        return not (server_major >= 12 and utc and not new.modifiers)
    return (old.name, new.name) not in _RELABELS or bool(new.modifiers)


def _varchar_rewrites(old: PgType, new: PgType) -> bool:
    if new.name == "text" or not new.modifiers:
        return False  # varchar(n)/text -> text or unlimited varchar: a relabel
    if old.name == "text" or not old.modifiers:
        return True  # a new length limit checks every value
    return _widens(old.modifiers, new.modifiers) is False


def _numeric_rewrites(old: tuple[str, ...], new: tuple[str, ...]) -> bool:
    if not new:
        return False
    if not old:
        return True
    try:
        old_p, old_s = int(old[0]), int(old[1]) if len(old) > 1 else 0
        new_p, new_s = int(new[0]), int(new[1]) if len(new) > 1 else 0
    except ValueError:
        return True
    return not (new_s == old_s and new_p >= old_p)


def _widens(old: tuple[str, ...], new: tuple[str, ...]) -> bool:
    """The new single length/precision modifier is absent or at least the old one."""
    if not new:
        return True
    if len(old) != 1 or len(new) != 1:
        return False
    try:
        return int(new[0]) >= int(old[0])
    except ValueError:
        return False
