"""The operations autogenerate writes instead of Alembic's unsafe ones, and how they render.

Imported only while autogenerate runs (never at plugin import: ``alembic.autogenerate.render``
is half-imported then). Each operation keeps the Alembic operations it replaces, so
``alembic check`` still reports the same differences, and reverses into something a
``downgrade()`` can run.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from typing import Any

from alembic.operations import ops

REVIEW = "REVIEW:"
WIDTH = 88  # a formatter's line length: comments are wrapped to fit once indented


def comment_lines(text: str, indent: str = "") -> list[str]:
    """``text`` as ``#`` comment lines. Never ending in ``:``: Alembic's code printer would
    take such a line for the start of a block and indent what follows."""
    # 4: the indentation of a function body, which the template adds around our lines
    if text.startswith("{"):  # code to copy: one line, however long
        return [f"{indent}# {text}"]
    lines = textwrap.wrap(text, WIDTH - 4 - len(indent) - 2, break_on_hyphens=False)
    return [f"{indent}# {line.rstrip(':')}" for line in lines]


def _prefix(autogen_context: Any) -> str:
    return str(autogen_context.opts.get("alembic_module_prefix") or "op.")


def _diffs(originals: list[ops.MigrateOperation]) -> list[Any]:
    out: list[Any] = []
    for original in originals:
        diff = original.to_diff_tuple()
        out.extend(diff if isinstance(diff, list) else [diff])
    return out


class ConcurrentIndexOp(ops.MigrateOperation):
    """``op.create_index`` / ``op.drop_index`` with ``postgresql_concurrently=True`` in an
    autocommit block: CONCURRENTLY cannot run inside a transaction, and without it the build
    blocks every write to the table for its whole duration."""

    def __init__(self, index_op: ops.CreateIndexOp | ops.DropIndexOp) -> None:
        self.index_op = index_op

    def reverse(self) -> ConcurrentIndexOp:
        return ConcurrentIndexOp(self.index_op.reverse())

    def to_diff_tuple(self) -> Any:
        return self.index_op.to_diff_tuple()

    def concurrent(self) -> ops.CreateIndexOp | ops.DropIndexOp:
        index_op = self.index_op
        kw = {**index_op.kw, "postgresql_concurrently": True}
        if isinstance(index_op, ops.CreateIndexOp):
            return ops.CreateIndexOp(
                index_op.index_name,
                index_op.table_name,
                index_op.columns,
                schema=index_op.schema,
                unique=index_op.unique,
                if_not_exists=index_op.if_not_exists,
                **kw,
            )
        return ops.DropIndexOp(
            index_op.index_name,
            table_name=index_op.table_name,
            schema=index_op.schema,
            if_exists=index_op.if_exists,
            _reverse=index_op._reverse,
            **kw,
        )


class ReviewNoteOp(ops.MigrateOperation):
    """An Alembic operation rendered as usual, with review comments above it."""

    def __init__(self, wrapped: ops.MigrateOperation, notes: list[str]) -> None:
        self.wrapped = wrapped
        self.notes = notes

    def reverse(self) -> ops.MigrateOperation:
        return self.wrapped.reverse()

    def to_diff_tuple(self) -> Any:
        return self.wrapped.to_diff_tuple()


@dataclasses.dataclass
class EcEntry:
    """One ec operation (ec's YAML spelling as a dict) with the comments a reviewer needs:
    ``before`` (sentences) above it, ``field_notes`` (a short marker) after a field."""

    kind: str
    body: dict[str, Any]
    before: list[str] = dataclasses.field(default_factory=list)
    field_notes: dict[str, str] = dataclasses.field(default_factory=dict)


class ExpandContractOp(ops.MigrateOperation):
    """``op.expand_contract([...])``: the changes that would break the running app, as one ec
    migration (ec runs one migration per schema at a time)."""

    def __init__(self, entries: list[EcEntry], originals: list[ops.MigrateOperation]) -> None:
        self.entries = entries
        self.originals = originals

    def reverse(self) -> ExpandContractRollbackOp:
        return ExpandContractRollbackOp(self)

    def to_diff_tuple(self) -> Any:
        return _diffs(self.originals)


class ExpandContractRollbackOp(ops.MigrateOperation):
    """``op.expand_contract_rollback()`` in the expanding revision's ``downgrade()``."""

    def __init__(self, expand: ExpandContractOp) -> None:
        self.expand = expand

    def reverse(self) -> ExpandContractOp:
        return self.expand

    def to_diff_tuple(self) -> Any:
        return [("expand_contract_rollback", [e.kind for e in self.expand.entries])]


def _literal(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid Python literal, double-quoted
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _render_entry(entry: EcEntry, indent: str) -> list[str]:
    lines = [line for note in entry.before for line in comment_lines(note, indent)]
    lines.append(f"{indent}{{")
    lines.append(f"{indent}    {_literal(entry.kind)}: {{")
    for key, value in entry.body.items():
        note = entry.field_notes.get(key)
        suffix = f"  # {note}" if note else ""
        lines.append(f"{indent}        {_literal(key)}: {_literal(value)},{suffix}")
    lines.append(f"{indent}    }}")
    lines.append(f"{indent}}},")
    return lines


TWO_DEPLOYS = comment_lines(
    "expand/contract (ec), two deploys. This revision only EXPANDS: both app versions keep "
    "working, ec keeps the old and new columns in sync. Once the new app is deployed "
    "everywhere, contract in a LATER revision whose upgrade() calls "
    "op.expand_contract_complete() (a contract cannot be downgraded). Until then, "
    "`alembic downgrade` of this revision runs op.expand_contract_rollback(), which "
    "restores the tables exactly."
)


def register_renderers() -> None:
    """Teach Alembic's renderer our operations (idempotent; called when autogenerate runs)."""
    from alembic.autogenerate.render import render_op, renderers

    @renderers.dispatch_for(ConcurrentIndexOp, replace=True)
    def _concurrent_index(autogen_context: Any, op: ConcurrentIndexOp) -> list[str]:
        return [
            f"with {_prefix(autogen_context)}get_context().autocommit_block():",
            *render_op(autogen_context, op.concurrent()),
            "",
        ]

    @renderers.dispatch_for(ReviewNoteOp, replace=True)
    def _review_note(autogen_context: Any, op: ReviewNoteOp) -> list[str]:
        notes = [line for note in op.notes for line in comment_lines(note)]
        return [*notes, *render_op(autogen_context, op.wrapped)]

    @renderers.dispatch_for(ExpandContractOp, replace=True)
    def _expand_contract(autogen_context: Any, op: ExpandContractOp) -> list[str]:
        body = [f"{_prefix(autogen_context)}expand_contract(", "    ["]
        for entry in op.entries:
            body.extend(_render_entry(entry, "        "))
        body.extend(["    ]", ")"])
        return [*TWO_DEPLOYS, "\n".join(body)]

    @renderers.dispatch_for(ExpandContractRollbackOp, replace=True)
    def _rollback(autogen_context: Any, op: ExpandContractRollbackOp) -> list[str]:
        return [
            *comment_lines("undoes this revision's expand (refused once it was contracted)"),
            f"{_prefix(autogen_context)}expand_contract_rollback()",
        ]
