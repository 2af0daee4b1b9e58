"""Query filters checked once and turned into what the kernels read (`Filter`): kind names to
256-entry masks, times to microseconds, no bound to the kernels' open-ended sentinels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.errors import InvalidInput
from domain.time import TimeLike, to_micros
from engine import _kernels as k
from engine.view import View

__all__ = ["NO_LIMIT", "UNFILTERED", "Filter", "kind_flags", "make_filter"]

Array = npt.NDArray[Any]
NO_LIMIT = np.iinfo(np.int64).max - 1
_NO_KINDS = np.zeros(256, dtype=np.bool_)  # read-only placeholder when a filter is off
_NO_KINDS.flags.writeable = False


@dataclass(frozen=True)
class Filter:
    """Validated, kernel-ready edge and node filters (see engine._kernels: the edge filter)."""

    kind_allowed: Array
    filter_kinds: bool
    since: int
    until: int
    as_of: int
    node_allowed: Array
    filter_nodes: bool
    max_depth: int
    limit: int

    @property
    def only_as_of(self) -> bool:
        """No edge filter but (perhaps) `as_of`: engine._kernels.traverse_plain may walk."""
        return not self.filter_kinds and self.since == k.MIN_TIME and self.until == k.MAX_TIME

    @property
    def edges_unfiltered(self) -> bool:
        """No edge filter at all: the plain kernel may walk."""
        return (not self.filter_kinds and self.since == k.MIN_TIME and self.until == k.MAX_TIME
                and self.as_of == k.MAX_TIME)


UNFILTERED = Filter(
    kind_allowed=_NO_KINDS, filter_kinds=False, since=k.MIN_TIME, until=k.MAX_TIME,
    as_of=k.MAX_TIME, node_allowed=_NO_KINDS, filter_nodes=False, max_depth=-1, limit=NO_LIMIT,
)


def make_filter(view: View, max_depth: int | None, edge_kinds: Iterable[str] | None,
                node_kinds: Iterable[str] | None, since: TimeLike, until: TimeLike,
                as_of: TimeLike, limit: int | None) -> Filter:
    """Check every filter argument against `view` (kind names it knows, non-negative depth,
    positive limit, since <= until); raises InvalidInput naming the argument."""
    if (max_depth is None and edge_kinds is None and node_kinds is None and since is None
            and until is None and as_of is None and limit is None):
        return UNFILTERED
    if max_depth is not None and (isinstance(max_depth, bool) or not isinstance(max_depth, int)
                                  or max_depth < 0):
        raise InvalidInput(f"max_depth must be a non-negative integer, got {max_depth!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise InvalidInput(f"limit must be a positive integer, got {limit!r}")
    kind_allowed, filter_kinds = _kind_mask(edge_kinds, view.edge_kind_index, "edge kind")
    node_allowed, filter_nodes = _kind_mask(node_kinds, view.node_kind_index, "node kind")
    lo = to_micros(since, "since")
    hi = to_micros(until, "until")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidInput(f"since ({since}) is after until ({until})")
    as_of_us = to_micros(as_of, "as_of")
    if as_of_us is not None and as_of_us >= view.newest_record_time:
        # Nothing in the view was recorded after it: the same answer as no `as_of`, and the
        # kernels skip reading every edge's record time (a pinned recall answer of "now").
        as_of_us = None
    return Filter(
        kind_allowed=kind_allowed, filter_kinds=filter_kinds,
        since=k.MIN_TIME if lo is None else lo, until=k.MAX_TIME if hi is None else hi,
        as_of=k.MAX_TIME if as_of_us is None else as_of_us,
        node_allowed=node_allowed, filter_nodes=filter_nodes,
        max_depth=-1 if max_depth is None else max_depth,
        limit=NO_LIMIT if limit is None else limit,
    )


def _kind_mask(names: Iterable[str] | None, index: dict[str, int],
               what: str) -> tuple[Array, bool]:
    if names is None:
        return _NO_KINDS, False
    mask = np.zeros(256, dtype=np.bool_)
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise InvalidInput(f"{what} filter is empty; pass None for no filter")
    for name in names:
        if name not in index:
            raise InvalidInput(f"unknown {what} {name!r}; this graph has: "
                               f"{', '.join(sorted(index)) or 'none'}")
        mask[index[name]] = True
    return mask, True


def kind_flags(view: View, names: Sequence[str]) -> Array:
    """A 256-entry mask of the node kinds `names` (kinds this view lacks are left out)."""
    flags = np.zeros(256, dtype=np.bool_)
    for name in names:
        if (code := view.kind_code(name)) >= 0:
            flags[code] = True
    return flags
