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
        self.queue = np.empty(max(nodes, 1), dtype=np.int32)
        self.depth = np.empty(nodes, dtype=np.int32)
        self.parent = np.empty(nodes, dtype=np.int32)
        self.rows = np.empty(max(nodes, 1), dtype=np.int32)
        self.cancel = np.zeros(1, dtype=np.uint8)
        self.epoch = 0
        self._cone: tuple[Array, Array, Array] | None = None
        self.cone_epoch = 0

    def next_epoch(self) -> int:
        """A fresh epoch for `marks`: every node reads as unvisited."""
        if self.epoch >= _EPOCH_LIMIT:
            self.marks.fill(0)
            self.epoch = 0
        self.epoch += 1
        return self.epoch

    def cone_arrays(self, epochs_needed: int) -> tuple[Array, Array, Array, int]:
        """(marks, unit_marks, stack, first epoch) for `epochs_needed` cone walks."""
        if self._cone is None:
            self._cone = (np.zeros(self.nodes, dtype=np.uint32),
                          np.zeros(self.nodes, dtype=np.uint32),
                          np.empty(max(self.nodes, 1), dtype=np.int32))
        if self.cone_epoch + epochs_needed + 1 >= _EPOCH_LIMIT:
            self._cone[0].fill(0)
            self._cone[1].fill(0)
            self.cone_epoch = 0
        first = self.cone_epoch + 1
        return (*self._cone, first)


class ScratchPool:
    """One `Scratch` per thread, created on first use by that thread."""

    def __init__(self, nodes: int) -> None:
        self.nodes = nodes
        self._local = threading.local()

    def get(self) -> Scratch:
        scratch: Scratch | None = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = Scratch(self.nodes)
            self._local.scratch = scratch
        return scratch
