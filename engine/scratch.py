"""Per-thread scratch space for the kernels, reused across queries.

Each worker thread gets its own arrays of node-count length, allocated once (np.zeros/np.empty:
pages are only touched where a query writes). Visited marks are epoch-stamped, so a query costs
what it visits, not what the graph holds; the arrays are cleared only when the 32-bit epoch wraps.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Scratch", "ScratchPool"]

Array = npt.NDArray[Any]
_EPOCH_LIMIT = np.iinfo(np.uint32).max - 1


class Scratch:
    """Arrays one thread's traversals write into. Not shared between threads."""

    def __init__(self, nodes: int) -> None:
        self.nodes = nodes
        self.marks = np.zeros(nodes, dtype=np.uint32)
        self.queue = np.empty(nodes + 1, dtype=np.int32)  # traverse_plain: one slot spare
        self.depth = np.empty(nodes, dtype=np.int32)
        self.parent = np.empty(nodes, dtype=np.int32)  # queue order: the parent's position
        self.rows = np.empty(max(nodes, 1), dtype=np.int32)
        self.codes = np.empty(max(nodes, 1), dtype=np.int8)
        self.depths = np.empty(max(nodes, 1), dtype=np.int32)
        self.parents = np.empty(max(nodes, 1), dtype=np.int32)
        self.offsets = np.empty(nodes + 1, dtype=np.int64)
        self.via_offsets = np.empty(nodes + 1, dtype=np.int64)
        self.cancel = np.zeros(1, dtype=np.uint8)  # never set: for queries without a Cancellation
        self.epoch = 0
        self._tally: tuple[Array, Array, Array, Array, Array] | None = None
        self.tally_epoch = 0
        self._timed: tuple[Array, Array] | None = None
        self._weighed: tuple[Array, Array, Array, Array, Array] | None = None
        self._stamped: tuple[Array, ...] | None = None
        self.row_stamp = 0
        self._grown: dict[str, Array] = {}

    def time_arrays(self) -> tuple[Array, Array]:
        """(state, ring) for a time-respecting walk (engine._time_kernels): state[v] is
        (label, epoch << 32 | queued bit | hops), epoch-stamped like `marks`."""
        if self._timed is None:
            size = max(self.nodes, 1)
            self._timed = (np.zeros((size, 2), dtype=np.int64), np.empty(size, dtype=np.int32))
        return self._timed

    def quantity_arrays(self) -> tuple[Array, Array, Array, Array, Array]:
        """(quantity, unknown, stack, reached, every) for `tally_quantities`
        (engine._ship_kernels): per-node sums, read only where its tally marks say so; and
        `every`, all True (every node eligible)."""
        if self._weighed is None:
            size = max(self.nodes, 1)
            self._weighed = (np.empty(size, dtype=np.float64), np.empty(size, dtype=np.int64),
                             np.empty(size, dtype=np.int32), np.empty(size, dtype=np.int32),
                             np.ones(size, dtype=np.bool_))
        return self._weighed

    def row_arrays(self, stamps_needed: int) -> tuple[tuple[Array, ...], int]:
        """((named, anchored, slot, memo_mark, memo_start, memo_customers, memo_shipments),
        stamp0) for `ship_pairs`' netting (engine._ship_kernels), which may use stamps
        stamp0 .. stamp0 + stamps_needed; the caller stores the returned next stamp in
        `row_stamp`."""
        if self._stamped is None:
            size = max(self.nodes, 1)
            self._stamped = (np.zeros(self.nodes, dtype=np.uint32),
                             np.zeros(self.nodes, dtype=np.uint32),
                             np.empty(size, dtype=np.int32),
                             np.zeros(self.nodes, dtype=np.uint32),
                             np.empty(size, dtype=np.int32), np.empty(size, dtype=np.int32),
                             np.empty(size, dtype=np.int32))
        if self.row_stamp + stamps_needed + 2 >= _EPOCH_LIMIT:
            for stamps in (self._stamped[0], self._stamped[1], self._stamped[3]):
                stamps.fill(0)
            self.row_stamp = 0
        return self._stamped, self.row_stamp + 1

    def grown(self, name: str, length: int, dtype: Any) -> Array:
        """A buffer of `length` items kept for the next query on this thread (grown, never
        shrunk): a kernel's working rows, valid until this thread's next query asks for
        `name` again. Fresh pages cost a fault each: at 1M units, allocating the consignee
        rows' buffers per query took as long as filling them."""
        kept = self._grown.get(name)
        if kept is None or len(kept) < length or kept.dtype != np.dtype(dtype):
            kept = np.empty(max(length, 1024) + length // 4, dtype=dtype)
            self._grown[name] = kept
        return kept[:length]

    def next_epoch(self) -> int:
        """A fresh epoch for `marks`: every node reads as unvisited."""
        if self.epoch >= _EPOCH_LIMIT:
            self.marks.fill(0)
            if self._timed is not None:
                self._timed[0][:, 1] = 0
            self.epoch = 0
        self.epoch += 1
        return self.epoch

    def tally_arrays(self, epochs_needed: int) -> tuple[Array, Array, Array, Array, Array, int]:
        """(marks, stack, tally_marks, tally, reached, epoch0) for a `tally_units` run that may use
        epochs epoch0 .. epoch0 + epochs_needed; the caller stores the returned next epoch."""
        if self._tally is None:
            self._tally = (np.zeros(self.nodes, dtype=np.uint32),
                           np.empty(max(self.nodes, 1), dtype=np.int32),
                           np.zeros(self.nodes, dtype=np.uint32),
                           np.zeros(self.nodes, dtype=np.int64),
                           np.empty(max(self.nodes, 1), dtype=np.int32))
        if self.tally_epoch + epochs_needed + 2 >= _EPOCH_LIMIT:
            self._tally[0].fill(0)
            self._tally[2].fill(0)
            self.tally_epoch = 0
        return (*self._tally, self.tally_epoch + 1)


class ScratchPool:
    """One `Scratch` per thread, created on first use by that thread."""

    def __init__(self, nodes: int) -> None:
        self.nodes = nodes
        self._local = threading.local()

    def get(self, nodes: int | None = None) -> Scratch:
        """This thread's scratch, big enough for `nodes` (a live graph grows: the arrays are
        then reallocated with headroom, so growth costs a few reallocations, not one per
        query)."""
        scratch: Scratch | None = getattr(self._local, "scratch", None)
        need = self.nodes if nodes is None else nodes
        if scratch is None or scratch.nodes < need:
            size = need if scratch is None else need + need // 4
            scratch = Scratch(size)
            self._local.scratch = scratch
        return scratch
