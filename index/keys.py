"""Key -> dense id lookup without a Python dict.

The node keys stay in the memory-mapped Arrow string column; `by_key` lists node ids in byte order
of their keys, and a numba binary search compares raw UTF-8 bytes. Opening costs nothing,
memory is a 4-byte id per node, and a lookup is about log2(nodes) comparisons. A miss returns
its insertion point, which `suggest` uses to name the nearest known keys.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from numba import njit

from domain import kernel_cache  # noqa: F401 - before any kernel: the cache directory
from index.files import string_buffers
from index.key_table import KeyTable, probe_many

__all__ = ["KeyIndex"]

Array = npt.NDArray[Any]


@njit(nogil=True, cache=True)
def _compare(a: Array, a_start: int, a_end: int, b: Array, b_start: int,
             b_end: int) -> int:  # pragma: no cover - numba
    la = a_end - a_start
    lb = b_end - b_start
    m = min(la, lb)
    for i in range(m):
        x = a[a_start + i]
        y = b[b_start + i]
        if x != y:
            return -1 if x < y else 1
    if la == lb:
        return 0
    return -1 if la < lb else 1


@njit(nogil=True, cache=True)
def _lookup(offsets: Array, data: Array, by_key: Array, probe_offsets: Array,
            probe_data: Array, out: Array) -> None:  # pragma: no cover - numba
    n = len(by_key)
    for i in range(len(out)):
        ps = probe_offsets[i]
        pe = probe_offsets[i + 1]
        lo = 0
        hi = n
        while lo < hi:
            mid = (lo + hi) >> 1
            node = by_key[mid]
            if _compare(data, offsets[node], offsets[node + 1], probe_data, ps, pe) < 0:
                lo = mid + 1
            else:
                hi = mid
        if lo < n:
            node = by_key[lo]
            if _compare(data, offsets[node], offsets[node + 1], probe_data, ps, pe) == 0:
                out[i] = node
                continue
        out[i] = -(lo + 1)


class KeyIndex:
    """Key -> id: a hash probe per key, and binary search in key order (`by_key`) to place a
    miss among its neighbours. Thread-safe: it holds only read-only arrays."""

    def __init__(self, keys: pa.Array, by_key: Array, slots: Array) -> None:
        self.keys = keys
        self.offsets, self.data = string_buffers(keys)
        self.by_key = by_key
        self.table = KeyTable(keys, slots)

    def lookup(self, keys: Sequence[str]) -> Array:
        """Ids of `keys` (int64); a missing key gets -(insertion point in key order + 1)."""
        if len(keys) == 1:
            found = self.table.find(keys[0])
            if found >= 0:
                return np.array([found], dtype=np.int64)
        encoded = [key.encode() for key in keys]
        probe_offsets = np.fromiter(accumulate((len(b) for b in encoded), initial=0),
                                    dtype=np.int64, count=len(keys) + 1)
        probe_data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        out = np.empty(len(keys), dtype=np.int64)
        probe_many(self.offsets, self.data, self.table.slots, probe_offsets, probe_data, out)
        if out.min() < 0:  # place the misses in key order, for suggestions
            _lookup(self.offsets, self.data, self.by_key, probe_offsets, probe_data, out)
        return out

    def suggest(self, key: str, miss: int, count: int = 2) -> tuple[str, ...]:
        """Known keys close to a missing `key`, from its neighbourhood in key order."""
        position = -miss - 1
        window = self.by_key[max(0, position - 25): position + 25]
        if len(window) == 0:
            return ()
        candidates = self.keys.take(pa.array(window)).to_pylist()
        return tuple(difflib.get_close_matches(key, candidates, n=count, cutoff=0.8))

    def warm(self) -> None:
        """Compile the search (cached on disk after the first run)."""
        if len(self.by_key):
            first = self.keys[int(self.by_key[0])].as_py()
            self.lookup([first, first + "\x7f"])
            self.lookup([first])
