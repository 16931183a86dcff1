"""Is a column DEFAULT expression non-volatile (PG 11+ fast default) or does it rewrite?

Functions not on the list are treated as volatile: an unknown user function may be, and a false
"rewrite" warning is cheaper than a missed 500 GB rewrite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the fast path imports NON_VOLATILE without loading sqlglot
    from sqlglot import exp

_NON_VOLATILE_NAMES = (
    "now current_timestamp current_date current_time localtime localtimestamp "
    "transaction_timestamp statement_timestamp current_user session_user current_role "
    "current_schema current_setting current_database coalesce nullif greatest least "
    "lower upper length concat concat_ws substr substring trim btrim replace to_char "
    "to_date to_timestamp to_number date_trunc date_part extract make_interval "
    "make_date make_timestamp make_timestamptz abs round floor ceil ceiling mod power "
    "sqrt array jsonb_build_object json_build_object jsonb_build_array "
    "json_build_array to_jsonb to_json array_length cardinality md5 timezone interval "
    "cast trycast strtotime tsordstotime timestrtotime "
)
NON_VOLATILE = frozenset(_NON_VOLATILE_NAMES.split())


def function_names(node: exp.Expr) -> list[str]:
    from sqlglot import exp

    from expandcontract.lint.dialect import render

    names: list[str] = []
    for sub in node.walk():
        if isinstance(sub, exp.Anonymous):
            names.append(str(sub.this).lower())
        elif isinstance(sub, exp.Cast | exp.TryCast | exp.Array | exp.Paren):
            continue
        elif isinstance(sub, exp.Func):
            rendered = render(sub)
            names.append(rendered.split("(", 1)[0].strip().lower())
    return names


def is_volatile(node: exp.Expr) -> bool:
    return any(name not in NON_VOLATILE for name in function_names(node))
