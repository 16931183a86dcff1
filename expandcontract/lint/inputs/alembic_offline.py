"""One revision function (``upgrade`` or ``downgrade``) rendered as SQL by Alembic itself in an
offline MigrationContext (``as_sql``, PostgreSQL, no database), with the revision-file line
that produced each SQL line.

Statically (the default), the ``op.*`` calls read by alembic_static.py are made here, one by
one, on Alembic's ``Operations`` with arguments evaluated through the whitelist; ec's own
plugin (``ec.safe_ops``, ``op.expand_contract``) sees them as it would in the revision.
Executed (opt-in), the revision module's own function runs and a tracing buffer finds its
lines on the call stack."""

from __future__ import annotations

import contextlib
import io
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expandcontract.lint.inputs.alembic_static import Block, OpCall, StaticRevision, Step, Unread
from expandcontract.lint.inputs.alembic_whitelist import Evaluator, NotReadable

if TYPE_CHECKING:
    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationContext


def _calling(steps: Callable[[], None]) -> None:
    steps()


def _as_revision_function(name: str, namespace: dict[str, Any]) -> Callable[..., None]:
    """ec.safe_ops and op.expand_contract find "the revision running" on the call stack: a
    function named upgrade*/downgrade* of a module defining revision and down_revision (as
    Alembic calls it). Static rendering makes its calls from inside ``_calling`` renamed to
    ``name``, with globals carrying the revision's literal attributes, so they see the
    revision as they would when it runs."""
    code = _calling.__code__.replace(co_name=name, co_qualname=name)
    function = types.FunctionType(code, namespace, name)
    namespace[name] = function
    return function


@dataclass(kw_only=True)
class Rendered:
    sql: str = ""
    # rendered line (1-based) -> revision file line
    line_map: dict[int, int] = field(default_factory=dict)
    error: str | None = None
    # ec.safe_ops refused an operation: (line of the op.* call, message, hint)
    refusal: tuple[int, str, str] | None = None
    unread: list[Unread] = field(default_factory=list)  # static reading only

    def map_line(self, line: int) -> int:
        candidates = [k for k in self.line_map if k <= line]
        return self.line_map[max(candidates)] if candidates else 1


def _context(environment: EnvironmentContext | None, buffer: io.StringIO) -> MigrationContext:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(
        dialect_name="postgresql",
        opts={"as_sql": True, "output_buffer": buffer, "literal_binds": True},
        environment_context=environment,
    )


def _refusal(exc: Exception) -> tuple[str, str] | None:
    from expandcontract.alembic.safe_checks import UnsafeOperation

    return (exc.message, exc.hint or "") if isinstance(exc, UnsafeOperation) else None


class _Stop(Exception):
    """The revision would stop here (a refusal or an error): nothing after it is rendered."""


class _Walker:
    def __init__(self, operations: Any, evaluator: Evaluator, buffer: io.StringIO) -> None:
        self.operations, self.evaluator, self.buffer = operations, evaluator, buffer
        self.out = Rendered()

    def record(self, start: int, line: int) -> None:
        """Map the SQL lines written since ``start`` to ``line`` (unless already mapped)."""
        value = self.buffer.getvalue()
        written = value[start:]
        if not written:
            return
        first = value.count("\n", 0, start) + 1
        # not the empty line after a final newline: it belongs to what is written next
        spanned = written.count("\n") + (0 if written.endswith("\n") else 1)
        for k in range(spanned):
            self.out.line_map.setdefault(first + k, line)

    def walk(self, steps: tuple[Step, ...], batch: tuple[list[Any], dict[str, Any]] | None) -> None:
        for step in steps:
            if isinstance(step, Unread):
                self.out.unread.append(step)
            elif isinstance(step, Block) and step.kind == "autocommit":
                start = self.buffer.tell()
                with self.operations.get_context().autocommit_block():
                    self.record(start, step.line)  # its COMMIT
                    self.walk(step.steps, batch)
                    start = self.buffer.tell()
                self.record(start, step.line)  # its BEGIN
            elif isinstance(step, Block):
                assert step.node is not None
                arguments = self.arguments(step.line, "batch_alter_table", step.node)
                if arguments is not None:
                    self.walk(step.steps, arguments)
            else:
                self.call(step, batch)

    def arguments(self, line: int, name: str, node: Any) -> tuple[list[Any], dict[str, Any]] | None:
        try:
            return self.evaluator.arguments(node)
        except NotReadable as exc:
            self.out.unread.append(Unread(line, f"op.{name}(...): {exc.describe()}"))
            return None
        except Exception as exc:  # a whitelisted SQLAlchemy constructor refused its arguments
            self.out.error = f"line {line}: op.{name}(...): {type(exc).__name__}: {exc}"
            raise _Stop from exc

    def call(self, step: OpCall, batch: tuple[list[Any], dict[str, Any]] | None) -> None:
        arguments = self.arguments(step.line, step.name, step.node)
        if arguments is None:
            return
        args, kwargs = arguments
        start = self.buffer.tell()
        try:
            if step.batch and batch is not None:
                # one block per operation, so each one's SQL is on its own line; on PostgreSQL
                # a batch that does not recreate the table runs its operations in order
                with self.operations.batch_alter_table(*batch[0], **batch[1]) as batch_op:
                    getattr(batch_op, step.name)(*args, **kwargs)
            else:
                getattr(self.operations, step.name)(*args, **kwargs)
        except Exception as exc:
            refused = _refusal(exc)
            if refused is not None:
                self.out.refusal = (step.line, *refused)
            else:
                self.out.error = (
                    f"line {step.line}: op.{step.name}(...) cannot be rendered offline: "
                    f"{type(exc).__name__}: {exc}"
                )
            raise _Stop from exc
        finally:
            self.record(start, step.line)


def render_static(
    revision: StaticRevision, function: str, environment: EnvironmentContext | None
) -> Rendered | None:
    """``function`` of a statically read revision, or None when the file has none."""
    from alembic.operations import Operations

    steps = revision.functions.get(function)
    if steps is None:
        return None
    buffer = io.StringIO()
    buffer.write("BEGIN;\n")  # env.py runs a revision in a transaction (transactional DDL)
    namespace: dict[str, Any] = {
        "__name__": "expandcontract_static_revision",
        "__file__": str(Path(revision.path).resolve()),
        **{k: v for k, v in revision.attributes.items()},
    }
    namespace.setdefault("down_revision", None)
    run = _as_revision_function(function, namespace)
    ctx = _context(environment, buffer)
    with Operations.context(ctx) as operations:
        names = revision.local_names.get(function, revision.names)
        walker = _Walker(operations, Evaluator(names, operations), buffer)
        with contextlib.suppress(_Stop):  # the revision stops there; its SQL so far stays
            run(lambda: walker.walk(steps, None))
    walker.out.sql = buffer.getvalue() + "\nCOMMIT;\n"
    return walker.out


class _TracingBuffer(io.StringIO):
    """Records which line of the revision file was executing when SQL was written."""

    def __init__(self, revision_path: str, prefix: str) -> None:
        super().__init__()
        self.revision_path = str(Path(revision_path).resolve())
        self.lines: dict[int, int] = {}
        super().write(prefix)

    def write(self, s: str) -> int:
        frame = sys._getframe(1)
        while frame is not None:
            if str(Path(frame.f_code.co_filename).resolve()) == self.revision_path:
                start_line = self.getvalue().count("\n") + 1
                # the lines ``s`` puts text on: not the empty one after its final newline,
                # which belongs to whatever is written next
                spanned = s.count("\n") + (0 if s.endswith("\n") else 1)
                for k in range(spanned):
                    self.lines.setdefault(start_line + k, frame.f_lineno)
                break
            frame = frame.f_back  # type: ignore[assignment]
        return super().write(s)


def render_executed(
    path: str, function: Callable[[], Any] | None, environment: EnvironmentContext | None
) -> Rendered | None:
    """The revision module's own ``function`` run offline (the opt-in: runs the file's code)."""
    from alembic.operations import Operations

    if function is None:
        return None
    buffer = _TracingBuffer(path, "BEGIN;\n")
    out = Rendered()
    try:
        with Operations.context(_context(environment, buffer)):
            function()
    except Exception as exc:
        refused = _refusal(exc)
        if refused is not None:  # what `alembic upgrade` would refuse: a finding
            out.refusal = (_line_in(exc, path), *refused)
        else:  # the revision itself is broken: say so, lint the rest
            out.error = f"cannot render revision offline: {type(exc).__name__}: {exc}"
    out.sql = buffer.getvalue() + "\nCOMMIT;\n"
    out.line_map = buffer.lines
    return out


def _line_in(exc: Exception, path: str) -> int:
    """The innermost frame of the traceback in the revision file: its op.* call."""
    wanted = Path(path).resolve()
    line = 1
    tb = exc.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == wanted:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
