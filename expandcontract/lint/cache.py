"""Result cache, like ruff's: one index file per settings, read once per run.

The file is one line of JSON (tag, stats, reports) followed by one line per report: the JSON
text of its findings (ASCII), sliced out by offset and copied to a warm ``--format json``
output without being decoded.

The index maps each file path to (size, mtime_ns, content key) and each content key to its
report. A file whose size and mtime are unchanged is not even read; one whose stat changed is
hashed, and served from the cache if its content is known. The whole index is discarded when
its tag changes: the cache format, the ec version, the linter's own sources (an edited rule in
an editable install) or the installed sqlglot.

Deliberately free of sqlglot imports: a run where every file is a hit never loads the parser.
"""

from __future__ import annotations

import json
import os
import sys
import time
import zlib
from pathlib import Path
from typing import Any, NamedTuple

from expandcontract import __version__

try:  # the built-in BLAKE2 module: ``import hashlib`` also loads OpenSSL (~6 ms per process)
    from _blake2 import blake2b as _blake2b
except ImportError:  # pragma: no cover - CPython builds without it
    from hashlib import blake2b as _blake2b

CACHE_FORMAT = 4
# mtimes this close to "now" may not change on a same-size rewrite (coarse filesystem clocks):
# such files are hashed again next run instead of trusted by stat, as git does for racy entries
_RACY_NS = 2_000_000_000


def default_dir() -> Path:
    override = os.environ.get("EC_LINT_CACHE_DIR")
    return Path(override) if override else Path.cwd() / ".ec_cache" / "lint"


def content_key(data: bytes, kind: str, name: str = "") -> str:
    """The file name, with the facts outside the file (``outside_facts``), is part of the key:
    they decide the migration tool's convention (Flyway ``V1__x.sql`` runs in a transaction,
    ``1_x.down.sql`` is a rollback, a diesel ``metadata.toml`` opts out)."""
    return _blake2b(data + f"\0{kind}\0{name}".encode(), digest_size=16).hexdigest()


def outside_facts(absolute: str, kind: str) -> str:
    """Its folders and the sidecar files its migration tool reads (conventions.py)."""
    if kind != "sql":
        return ""
    from expandcontract.lint.inputs.conventions import outside_facts as facts

    return facts(absolute)


def code_fingerprint() -> str:
    """ec's version, the linter's sources, the code that reads ec migration files (ec plan's
    own: operations, engine/migration.py) and sqlglot's version file, by size and mtime."""
    parts = [__version__]
    root = os.path.dirname(os.path.abspath(__file__))
    package = os.path.dirname(root)
    for top in (root, os.path.join(package, "operations")):
        for directory, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(f for f in files if f.endswith(".py")):
                st = os.stat(os.path.join(directory, name))
                parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    st = os.stat(os.path.join(package, "engine", "migration.py"))
    parts.append(f"engine/migration.py:{st.st_size}:{st.st_mtime_ns}")
    for entry in sys.path:  # locate sqlglot without importing it
        version_file = os.path.join(entry or ".", "sqlglot", "_version.py")
        if os.path.isfile(version_file):
            st = os.stat(version_file)
            parts.append(f"sqlglot:{st.st_size}:{st.st_mtime_ns}")
            break
    return "|".join(parts)


class ReadFile(NamedTuple):
    """A file read and hashed for the cache; ``content`` is dropped before results travel
    (a tuple: a worker sends hundreds back, and tuples pickle cheaply)."""

    absolute: str
    size: int
    mtime_ns: int
    key: str
    content: bytes | None = None
    facts: str = ""


def read_file(path: str, kind: str, cwd: str) -> ReadFile:
    """Read and hash ``path``: safe in any process (changes no index)."""
    absolute = os.path.join(cwd, path)
    st = os.stat(absolute)
    with open(absolute, "rb") as fh:
        content = fh.read()
    facts = outside_facts(absolute, kind)
    name = os.path.basename(absolute)
    key = content_key(content, kind, f"{name}\0{facts}" if facts else name)
    return ReadFile(absolute, st.st_size, st.st_mtime_ns, key, content, facts)


class ResultCache:
    def __init__(self, directory: Path | None, settings_fingerprint: str) -> None:
        self.directory = directory
        self.tag = f"{CACHE_FORMAT}|{code_fingerprint()}|{settings_fingerprint}"
        # the full settings are in the tag; the name only has to spread them over files
        name = f"{zlib.crc32(settings_fingerprint.encode()):08x}"
        self.file = directory / f"index-{name}.json" if directory else None
        self.stats: dict[str, list[Any]] = {}  # abs path -> [size, mtime_ns, key]
        self.results: dict[str, dict[str, Any]] = {}  # key -> report
        self.fresh: set[str] = set()  # keys of files too recently written to index by stat
        self.dirty = False
        self.now_ns = time.time_ns()
        self.cwd = os.getcwd()
        self.raw = b""  # the file as read; findings text is sliced from it on demand
        self.body_start = 0
        if self.file is None:
            return
        try:
            with open(self.file, "rb") as fh:
                self.raw = fh.read()
            end = self.raw.find(b"\n")
            data = json.loads(self.raw[:end])
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and data.get("tag") == self.tag:
            self.body_start = end + 1
            self.stats, self.results = data["stats"], data["results"]

    def known_key(self, path: str, kind: str = "") -> str | None:
        """The content key of ``path`` when its stat, and the facts outside it that its
        findings depend on, are the ones in the index (the file is not read)."""
        absolute = os.path.join(self.cwd, path)  # no normpath: a key only has to be stable
        known = self.stats.get(absolute)
        if known is None:
            return None
        st = os.stat(absolute)
        if known[0] == st.st_size and known[1] == st.st_mtime_ns:
            if len(known) > 3 and known[3] != outside_facts(absolute, kind):
                return None
            return str(known[2])
        return None

    def remember(self, read: ReadFile) -> None:
        """Index a file that was read and hashed (``read_file``), unless it was written too
        recently for its mtime to prove a later change."""
        if self.now_ns - read.mtime_ns > _RACY_NS:
            self.stats[read.absolute] = [read.size, read.mtime_ns, read.key, read.facts]
        else:
            self.stats.pop(read.absolute, None)
            self.fresh.add(read.key)
        self.dirty = True

    def get(self, key: str) -> dict[str, Any] | None:
        report = self.results.get(key)
        if report is not None and isinstance(report["findings"], list):  # [start, end)
            start, end = report["findings"]
            text = self.raw[self.body_start + start : self.body_start + end]
            report["findings"] = text.decode("ascii")  # json.dumps output is ASCII
        return report

    def put(self, key: str, report: dict[str, Any]) -> None:
        self.results[key] = report
        self.dirty = True

    def save(self) -> None:
        if not (self.file and self.dirty and self.directory):
            return
        # keep only results some file still has: an edited file's old result is garbage
        live = {entry[2] for entry in self.stats.values()} | self.fresh
        lines: list[str] = []
        results: dict[str, dict[str, Any]] = {}
        offset = 0
        for key in self.results:
            if key in live:  # json.dumps never writes a raw newline: one line per report
                text = self.get(key)["findings"]  # type: ignore[index]
                results[key] = {**self.results[key], "findings": [offset, offset + len(text)]}
                lines.append(text)
                offset += len(text) + 1
        header = json.dumps({"tag": self.tag, "stats": self.stats, "results": results})
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(header + "\n" + "\n".join(lines), encoding="utf-8")
            tmp.replace(self.file)  # atomic: concurrent runs never read half a file
        except OSError:
            pass  # a read-only checkout still lints, just without a cache
