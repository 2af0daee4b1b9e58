"""Key search over a View: keys by their beginning, and the ERP systems keys name. The
snapshot's keys are sorted once per snapshot, on first use (about 0.7 s at 1M units), then
each search is a binary search; the few keys the live delta added are scanned."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.view import View
from index.snapshot import Snapshot

__all__ = ["erp_systems", "with_prefix"]


class _SortedKeys:
    """A snapshot's keys in sorted order, for prefix search."""

    def __init__(self, keys: pa.LargeStringArray) -> None:
        self.keys = keys
        self.order = pc.array_sort_indices(keys).to_numpy()

    def _at(self, i: int) -> str:
        return str(self.keys[int(self.order[i])].as_py())

    def lower_bound(self, text: str) -> int:
        low, high = 0, len(self.order)
        while low < high:
            mid = (low + high) // 2
            if self._at(mid) < text:
                low = mid + 1
            else:
                high = mid
        return low

    def with_prefix(self, prefix: str, limit: int) -> Iterator[int]:
        """Local ids of keys starting with `prefix`, in key order, at most `limit`."""
        i = self.lower_bound(prefix)
        end = min(len(self.order), i + limit)
        while i < end and self._at(i).startswith(prefix):
            yield int(self.order[i])
            i += 1


_SORTED: weakref.WeakKeyDictionary[Snapshot, _SortedKeys] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _sorted(snapshot: Snapshot) -> _SortedKeys:
    with _LOCK:
        found = _SORTED.get(snapshot)
        if found is None:
            found = _SORTED[snapshot] = _SortedKeys(snapshot.node_keys)
        return found


def with_prefix(view: View, prefix: str, limit: int) -> list[int]:
    """Ids of keys starting with `prefix` (snapshot keys in key order, then delta keys), at
    most `limit`."""
    ids = list(_sorted(view.snapshot).with_prefix(prefix, limit))
    delta = view.delta
    if delta is not None and delta.n_nodes > delta.n_snap and len(ids) < limit:
        table = delta.new_node_table()
        keys = table.column("key")
        hits = np.flatnonzero(pc.starts_with(keys, prefix).to_numpy(zero_copy_only=False))
        ids += [int(delta.n_snap + i) for i in hits[: limit - len(ids)]]
    return ids


def erp_systems(view: View) -> list[str]:
    """The ERP systems whose keys the graph holds (erp:<system>:...)."""
    systems: list[str] = []
    index = _sorted(view.snapshot)
    i = index.lower_bound("erp:")
    while i < len(index.order):
        key = index._at(i)
        if not key.startswith("erp:"):
            break
        system = key.split(":", 2)[1]
        systems.append(system)
        i = index.lower_bound(f"erp:{system};")  # ';' sorts right after ':'
    delta = view.delta
    if delta is not None and delta.n_nodes > delta.n_snap:
        for key in delta.new_node_table().column("key").to_pylist():
            if key.startswith("erp:") and key.count(":") >= 2:
                system = key.split(":", 2)[1]
                if system not in systems:
                    systems.append(system)
    return systems
