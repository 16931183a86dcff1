"""Lint many files on every CPU.

On POSIX the parent forks one child per extra CPU and lints a share itself: children inherit the
imported linter, its rules and a ``shared`` object (the cache index: never pickled), and each
sends its results back in one pickle. Shares are balanced by file size. Without ``os.fork``, or
when other threads run (forking a threaded process can deadlock), a ``ProcessPoolExecutor`` does
the same job, and ``work`` gets ``None`` for ``shared``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
from collections.abc import Callable
from typing import Any

Work = Callable[[Any, Any], Any]


def map_in_processes(
    work: Work, items: list[Any], sizes: list[int], jobs: int, shared: Any = None
) -> list[Any]:
    """``[work(item, shared) for item in items]``, computed on ``jobs`` processes, in order."""
    if not items:
        return []
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return _with_executor(work, items, jobs)
    shares = _balanced(sizes, jobs)
    children: list[tuple[int, int, list[int]]] = []
    results: list[Any] = [None] * len(items)
    try:
        for share in shares[1:]:
            children.append((*_fork(work, [items[i] for i in share], shared), share))
        for i in shares[0]:
            results[i] = work(items[i], shared)
        while children:
            pid, fd, share = children[0]
            with os.fdopen(fd, "rb", closefd=False) as pipe:
                data = pipe.read()
            children.pop(0)  # only now: an interrupted read leaves it to be killed and reaped
            os.close(fd)
            os.waitpid(pid, 0)
            for i, result in zip(share, _decode(data), strict=True):
                results[i] = result
    finally:
        for pid, fd, _ in children:  # the parent's share or a read failed: stop the rest
            _abandon(pid, fd)
    return results


def _balanced(sizes: list[int], jobs: int) -> list[list[int]]:
    """Item indexes in ``jobs`` shares of about equal total size (largest first, each to the
    lightest share), each share in the original order."""
    shares: list[list[int]] = [[] for _ in range(jobs)]
    totals = [0] * jobs
    for i in sorted(range(len(sizes)), key=lambda k: -sizes[k]):
        lightest = totals.index(min(totals))
        shares[lightest].append(i)
        totals[lightest] += sizes[i] + 1
    return [sorted(share) for share in shares if share]


def _fork(work: Work, items: list[Any], shared: Any) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into the caller's code
        try:
            os.close(read_fd)
            try:
                payload: tuple[str, Any] = ("ok", [work(item, shared) for item in items])
            except BaseException as exc:
                payload = ("error", f"{type(exc).__name__}: {exc}")
            with os.fdopen(write_fd, "wb") as out:
                pickle.dump(payload, out, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            os._exit(0)
    os.close(write_fd)
    return pid, read_fd


def _decode(data: bytes) -> list[Any]:
    if not data:
        raise RuntimeError("a lint worker process died without a result")
    status, value = pickle.loads(data)
    if status != "ok":
        raise RuntimeError(f"a lint worker failed: {value}")
    return list(value)


def _abandon(pid: int, fd: int) -> None:
    import signal

    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    with contextlib.suppress(OSError):
        os.close(fd)


def _with_executor(work: Work, items: list[Any], jobs: int) -> list[Any]:
    from concurrent.futures import ProcessPoolExecutor

    chunk = max(1, len(items) // (jobs * 4))
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(work, items, [None] * len(items), chunksize=chunk))
