"""Every row the verifier wrote, by whom and with which values: what the invariants check."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

Key = tuple[Any, ...]


@dataclasses.dataclass
class Written:
    version: str  # the version that wrote the row last: old | new
    table: str  # in that version's names
    values: dict[str, Any]  # in that version's names, as written
    phase: str
    # the version inserted the row (then every column it reads was computed from its write);
    # otherwise ``values`` holds the columns its updates changed
    inserted: bool = False


class Tracker:
    """Rows keyed by (old version's table name, primary key); thread-safe."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, Key], Written] = {}
        self.deleted: set[tuple[str, Key]] = set()
        self._lock = threading.Lock()

    def wrote(self, identity: str, key: Key, written: Written) -> None:
        with self._lock:
            previous = self.rows.get((identity, key))
            if previous is not None and previous.version == written.version:
                written.values = {**previous.values, **written.values}
                written.inserted = written.inserted or previous.inserted
            self.rows[(identity, key)] = written
            self.deleted.discard((identity, key))

    def removed(self, identity: str, key: Key) -> None:
        with self._lock:
            self.rows.pop((identity, key), None)
            self.deleted.add((identity, key))

    def live(self) -> dict[tuple[str, Key], Written]:
        with self._lock:
            return dict(self.rows)

    def copy(self) -> Tracker:
        other = Tracker()
        with self._lock:
            other.rows = {
                k: dataclasses.replace(v, values=dict(v.values)) for k, v in self.rows.items()
            }
            other.deleted = set(self.deleted)
        return other
