"""Bulk key -> id resolution for the build: an open-addressing hash table over the node keys'
UTF-8 bytes, probed in parallel by numba straight from Arrow string buffers.

A dataframe join would copy every string column of the edge table into its output; this reads
the key bytes where they lie and writes one int32 per edge end (-1 for a key not in the table).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from numba import njit, prange

from domain import kernel_cache  # noqa: F401 - before any kernel: the cache directory
from index.files import string_buffers

__all__ = ["KeyTable"]

Array = npt.NDArray[Any]
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@njit(nogil=True, cache=True, inline="always")
def _hash(data: Array, start: int, end: int) -> np.uint64:  # pragma: no cover - numba
    h = _FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(data[i])) * _FNV_PRIME
    return h ^ (h >> np.uint64(29))


@njit(nogil=True, cache=True, inline="always")
def _same(a: Array, a0: int, a1: int, b: Array, b0: int, b1: int) -> bool:  # pragma: no cover
    if a1 - a0 != b1 - b0:
        return False
    for i in range(a1 - a0):  # noqa: SIM110 - a plain loop is what numba compiles best
        if a[a0 + i] != b[b0 + i]:
            return False
    return True


@njit(nogil=True, cache=True, parallel=True)
def _hashes(offsets: Array, data: Array, mask: np.uint64) -> Array:  # pragma: no cover - numba
    """Home slot of every key."""
    n = len(offsets) - 1
    out = np.empty(n, dtype=np.uint64)
    for i in prange(n):
        out[i] = _hash(data, offsets[i], offsets[i + 1]) & mask
    return out


@njit(nogil=True, cache=True)
def _build(offsets: Array, data: Array, slots: Array, home: Array, region_bits: int,
           shift: int, repeated: Array) -> int:  # pragma: no cover - numba
    """Insert every key; returns how many rows repeat a key inserted before them (those are
    not inserted) and marks every row of a repeated key in `repeated`.

    Keys are inserted in order of their home slot's top `region_bits` bits (home >> shift, a
    counting sort), so the slot array is written front to back instead of at random: at
    millions of keys that is several times faster. Lookups do not depend on insertion order."""
    mask = np.uint64(len(slots) - 1)
    regions = np.zeros((1 << region_bits) + 1, dtype=np.int64)
    for node in range(len(home)):
        regions[(home[node] >> np.uint64(shift)) + np.uint64(1)] += 1
    for r in range(1 << region_bits):
        regions[r + 1] += regions[r]
    order = np.empty(len(home), dtype=np.int32)
    for node in range(len(home)):
        r = home[node] >> np.uint64(shift)
        order[regions[r]] = node
        regions[r] += 1
    repeats = 0
    for k in range(len(order)):
        node = int(order[k])
        s, e = offsets[node], offsets[node + 1]
        slot = home[node]
        while True:
            other = slots[slot]
            if other < 0:
                slots[slot] = node
                break
            if home[other] == home[node] and _same(data, offsets[other], offsets[other + 1],
                                                   data, s, e):
                repeated[node] = True
                repeated[other] = True
                repeats += 1
                break
            slot = (slot + np.uint64(1)) & mask
    return repeats


_CHUNKS = 64  # per-call work units: enough for both cores, few enough to keep runs long
_RECENT = 1024  # recently found keys remembered per work unit (direct-mapped by hash)


@njit(nogil=True, cache=True, inline="always")
def _find_hashed(offsets: Array, data: Array, slots: Array, probe: Array, s: int, e: int,
                 h: np.uint64) -> int:  # pragma: no cover - numba
    """`_find` with the key's hash already computed."""
    mask = np.uint64(len(slots) - 1)
    slot = h & mask
    while True:
        node = slots[slot]
        if node < 0:
            return -1
        if _same(data, offsets[node], offsets[node + 1], probe, s, e):
            return int(node)
        slot = (slot + np.uint64(1)) & mask


@njit(nogil=True, cache=True, inline="always")
def _find(offsets: Array, data: Array, slots: Array, probe: Array, s: int,
          e: int) -> int:  # pragma: no cover - numba
    """Id of the key whose UTF-8 bytes are probe[s:e], or -1 (linear probing)."""
    return _find_hashed(offsets, data, slots, probe, s, e, _hash(probe, s, e))


@njit(parallel=True, nogil=True, cache=True)
def _probe(offsets: Array, data: Array, slots: Array, probe_offsets: Array, probe_data: Array,
           valid: Array, has_nulls: bool, out: Array) -> None:  # pragma: no cover - numba
    """probe_many over a whole column in parallel; null entries get -1.

    A table of millions of keys is hundreds of megabytes: a cold lookup costs about three
    random memory reads. Two shortcuts avoid most of them on real exports, each verified byte
    for byte so neither can change an answer:
    - sequential guess: exports often list edges in the order their nodes were listed
      (serials in production order), so a probe first tries the key after the one the
      previous row found (after a wrong guess only every 16th row guesses, so unordered
      input pays a few per cent);
    - recent keys: a few keys repeat all over a batch (the work order or lot that hundreds
      of units consumed), so found keys are remembered by hash and checked before the table.
    """
    n = len(out)
    last = len(offsets) - 2
    per = (n + _CHUNKS - 1) // _CHUNKS
    for chunk in prange(_CHUNKS):
        recent_hash = np.zeros(_RECENT, dtype=np.uint64)
        recent_node = np.full(_RECENT, -1, dtype=np.int64)
        guess = -1
        streak = False
        for i in range(chunk * per, min(n, chunk * per + per)):
            if has_nulls and not valid[i]:
                out[i] = -1
                guess = -1
                continue
            s, e = probe_offsets[i], probe_offsets[i + 1]
            if (0 <= guess <= last and (streak or i % 16 == 0)
                    and _same(data, offsets[guess], offsets[guess + 1], probe_data, s, e)):
                node = guess
                streak = True
            else:
                streak = False
                h = _hash(probe_data, s, e)
                r = h & np.uint64(_RECENT - 1)
                node = recent_node[r]
                if not (node >= 0 and recent_hash[r] == h
                        and _same(data, offsets[node], offsets[node + 1], probe_data, s, e)):
                    node = _find_hashed(offsets, data, slots, probe_data, s, e, h)
                    if node >= 0:
                        recent_hash[r] = h
                        recent_node[r] = node
            out[i] = node
            guess = node + 1 if node >= 0 else -1


@njit(nogil=True, cache=True)
def probe_one(offsets: Array, data: Array, slots: Array, probe: Array) -> int:  # pragma: no cover
    """Id of the key whose UTF-8 bytes are `probe`, or -1."""
    return _find(offsets, data, slots, probe, 0, len(probe))


@njit(nogil=True, cache=True)
def probe_many(offsets: Array, data: Array, slots: Array, probe_offsets: Array,
               probe_data: Array, out: Array) -> None:  # pragma: no cover - numba
    """out[i] = id of the i-th probe key, or -1 (serial: for a handful of query seeds)."""
    for i in range(len(out)):
        out[i] = _find(offsets, data, slots, probe_data, probe_offsets[i], probe_offsets[i + 1])


class KeyTable:
    """Hash table from node key to row position in `keys` (a string array of unique keys).

    `slots` (int32, a power of two at least twice the key count, -1 = empty) is all the table
    holds besides the keys, so a snapshot can store it and pass it back in as `slots`."""

    def __init__(self, keys: pa.Array, slots: Array | None = None, *,
                 allow_repeats: bool = False) -> None:
        """A repeated key is a ValueError, unless `allow_repeats`: then `repeated` marks every
        row of a repeated key (the first included) and the table holds one of each, so it is
        for finding repeats, not for lookups, until rebuilt without them."""
        self.keys = keys.cast(pa.large_string()) if keys.type != pa.large_string() else keys
        self.offsets, self.data = string_buffers(self.keys)
        self.repeated = np.zeros(0, dtype=np.bool_)
        if slots is not None:
            self.slots = slots
            return
        size = 1 << max(4, int(2 * len(self.keys)).bit_length())
        self.slots = np.full(size, -1, dtype=np.int32)
        home = _hashes(self.offsets, self.data, np.uint64(size - 1))
        bits = size.bit_length() - 1
        region_bits = min(16, bits)  # slot regions of a few KB, written in order
        repeated = np.zeros(len(self.keys), dtype=np.bool_)
        if _build(self.offsets, self.data, self.slots, home, region_bits, bits - region_bits,
                  repeated):
            if not allow_repeats:
                first = int(np.argmax(repeated))
                raise ValueError(f"duplicate node key {self.keys[first].as_py()!r}")
            self.repeated = repeated

    def renumbered(self, old_to_new: Array, keys: pa.Array) -> KeyTable:
        """The same table after ids were renumbered (keys[old_to_new[i]] == self.keys[i])."""
        slots = np.empty_like(self.slots)
        _renumber(self.slots, old_to_new.astype(np.int32, copy=False), slots)
        return KeyTable(keys, slots)

    def find(self, key: str) -> int:
        """Id of one key, or -1."""
        return int(probe_one(self.offsets, self.data, self.slots,
                             np.frombuffer(key.encode(), dtype=np.uint8)))

    def resolve(self, column: pa.ChunkedArray | pa.Array) -> Array:
        """int32 ids of the keys in `column` (-1 where null or unknown), chunk by chunk. A
        dictionary-encoded chunk is resolved once per dictionary entry."""
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        out = np.empty(len(column), dtype=np.int32)
        position = 0
        for chunk in chunks:
            part = out[position: position + len(chunk)]
            if pa.types.is_dictionary(chunk.type):
                entries = self.resolve(chunk.dictionary)
                indices = chunk.indices.fill_null(0).to_numpy(zero_copy_only=False)
                part[:] = entries[indices] if len(entries) else -1
                if chunk.null_count:
                    part[~chunk.is_valid().to_numpy(zero_copy_only=False)] = -1
            else:
                self._probe_strings(chunk, part)
            position += len(chunk)
        return out

    def _probe_strings(self, chunk: pa.Array, out: Array) -> None:
        keys = chunk if chunk.type == pa.large_string() else chunk.cast(pa.large_string())
        probe_offsets, probe_data = string_buffers(keys)
        valid = (np.ones(0, dtype=np.bool_) if keys.null_count == 0
                 else keys.is_valid().to_numpy(zero_copy_only=False))
        _probe(self.offsets, self.data, self.slots, probe_offsets, probe_data, valid,
               keys.null_count > 0, out)


@njit(nogil=True, cache=True, parallel=True)
def _renumber(slots: Array, old_to_new: Array, out: Array) -> None:  # pragma: no cover - numba
    for i in prange(len(slots)):
        out[i] = old_to_new[slots[i]] if slots[i] >= 0 else -1


@njit(nogil=True, cache=True)
def _insert(offsets: Array, data: Array, slots: Array, start: int,
            end: int) -> None:  # pragma: no cover - numba
    """Insert keys start..end-1 (their bytes already in data); keys are known to be new."""
    mask = np.uint64(len(slots) - 1)
    for node in range(start, end):
        slot = _hash(data, offsets[node], offsets[node + 1]) & mask
        while slots[slot] >= 0:
            slot = (slot + np.uint64(1)) & mask
        slots[slot] = node


@njit(nogil=True, cache=True)
def _probe_serial(offsets: Array, data: Array, slots: Array, probe_offsets: Array,
                  probe_data: Array, out: Array) -> None:  # pragma: no cover - numba
    """out[i] = id of the i-th probe key where out[i] < 0 on entry (a second table fills the
    misses of a first); -1 stays where this table has no such key either."""
    if len(slots) == 0:
        return
    for i in range(len(out)):
        if out[i] < 0:
            out[i] = _find(offsets, data, slots, probe_data, probe_offsets[i],
                           probe_offsets[i + 1])


def fill_misses(offsets: Array, data: Array, slots: Array, keys: pa.Array, out: Array) -> None:
    """Look up, in a table given by its arrays, the keys of `keys` (large_string, no nulls)
    whose `out` entry is negative."""
    probe_offsets, probe_data = string_buffers(keys)
    _probe_serial(offsets, data, slots, probe_offsets, probe_data, out)


class GrowingKeyTable:
    """An append-only key -> id table (ids 0, 1, ... in insertion order) for keys that arrive
    while queries run. One writer appends; readers use `arrays()` taken at one moment and ignore
    ids at or beyond the count they saw. Bytes and offsets are written before the slots that
    point at them, in separate calls, so a reader never finds a slot whose key is not there."""

    def __init__(self) -> None:
        self.count = 0
        self.offsets = np.zeros(1025, dtype=np.int64)
        self.data = np.empty(1 << 16, dtype=np.uint8)
        self.slots = np.full(2048, -1, dtype=np.int32)

    def arrays(self) -> tuple[Array, Array, Array]:
        return self.offsets, self.data, self.slots

    def add(self, keys: pa.Array) -> int:
        """Append new, distinct keys; returns the id of the first."""
        keys = keys.cast(pa.large_string()) if keys.type != pa.large_string() else keys
        first, n = self.count, len(keys)
        probe_offsets, probe_data = string_buffers(keys)
        base = int(self.offsets[first])
        size = int(probe_offsets[n] - probe_offsets[0])
        moved = False  # reallocated arrays need new slots too: old views keep a matching set
        if first + n + 1 > len(self.offsets):
            grown = np.zeros(max(2 * len(self.offsets), first + n + 1), dtype=np.int64)
            grown[: first + 1] = self.offsets[: first + 1]
            self.offsets, moved = grown, True
        if base + size > len(self.data):
            grown_data = np.empty(max(2 * len(self.data), base + size), dtype=np.uint8)
            grown_data[:base] = self.data[:base]
            self.data, moved = grown_data, True
        self.data[base: base + size] = probe_data[probe_offsets[0]: probe_offsets[n]]
        self.offsets[first + 1: first + n + 1] = base + (probe_offsets[1:] - probe_offsets[0])
        if moved or 2 * (first + n) > len(self.slots):
            slots = np.full(max(len(self.slots), 1 << (2 * (first + n)).bit_length()), -1,
                            dtype=np.int32)
            _insert(self.offsets, self.data, slots, 0, first + n)
            self.slots = slots  # a new array: views taken before keep the old one
        else:
            _insert(self.offsets, self.data, self.slots, first, first + n)
        self.count = first + n
        return first
