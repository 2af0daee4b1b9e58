"""The recall questions of `engine.Graph`, key-level (what affected lots shipped, which
upstream nodes complaint units share): a mixin, so graph.py keeps the traversal core."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from domain.time import TimeLike
from engine.cancellation import Cancellation, cancel_flag
from engine.common_cause import common_cause_table
from engine.containment import containment
from engine.filters import make_filter
from engine.shipped import ShippedRows, shipped_rows

if TYPE_CHECKING:
    from engine.algorithms import Walks
    from engine.scratch import ScratchPool
    from engine.view import View

__all__ = ["RecallQueries"]


class RecallQueries:
    """Mixed into engine.Graph, whose view, key resolution and scratch space it uses."""

    _scratch: ScratchPool
    _walks: Walks

    def _state(self) -> View:
        raise NotImplementedError

    def _resolve(self, st: View, keys: str | Sequence[str]) -> npt.NDArray[Any]:
        raise NotImplementedError

    def common_cause(
        self,
        keys: Sequence[str],
        min_shared: int = 2,
        limit: int = 50,
        edge_kinds: Iterable[str] | None = None,
        as_of: TimeLike = None,
        cancellation: Cancellation | None = None,
    ) -> pa.Table:
        """Upstream nodes the complaint units `keys` share, ranked against the production
        population of their products (engine.common_cause): COMMON_CAUSE_SCHEMA rows."""
        st = self._state()
        flt = make_filter(st, None, edge_kinds, None, None, None, as_of, None)
        return common_cause_table(st, self._resolve(st, keys), flt, self._scratch,
                                  self._walks, min_shared, limit, cancel_flag(cancellation))

    def shipped(
        self,
        keys: Sequence[str],
        max_depth: int | None = None,
        edge_kinds: Iterable[str] | None = None,
        since: TimeLike = None,
        until: TimeLike = None,
        as_of: TimeLike = None,
        cancellation: Cancellation | None = None,
    ) -> pa.Table:
        """What the downstream closure of `keys` shipped: SHIPPED_SCHEMA rows, one per
        (customer, shipment, item) (engine.shipped)."""
        return self.shipped_rows(keys, max_depth, edge_kinds, since, until, as_of,
                                 cancellation).table

    def shipped_rows(
        self,
        keys: Sequence[str],
        max_depth: int | None = None,
        edge_kinds: Iterable[str] | None = None,
        since: TimeLike = None,
        until: TimeLike = None,
        as_of: TimeLike = None,
        cancellation: Cancellation | None = None,
    ) -> ShippedRows:
        """`shipped` by dense id of the view it read, keys made when first asked for (a diff
        of two answers makes them only for the rows that changed)."""
        st = self._state()
        flt = make_filter(st, max_depth, edge_kinds, None, since, until, as_of, None)
        seeds = self._resolve(st, keys)
        return shipped_rows(st, seeds, flt, self._scratch.get(st.node_count), self._walks,
                            cancel_flag(cancellation))

    def containment(
        self,
        key: str,
        since: TimeLike = None,
        until: TimeLike = None,
        edge_kinds: Iterable[str] | None = None,
        as_of: TimeLike = None,
        unit_kinds: Sequence[str] = ("serial",),
        cancellation: Cancellation | None = None,
    ) -> tuple[pa.Table, pa.Table]:
        """The units whose genealogy passes through `key` between `since` and `until`, and
        how that scope grows with the window (engine.containment): (curve, units: key, kind)."""
        st = self._state()
        flt = make_filter(st, None, edge_kinds, None, since, until, as_of, None)
        suspect = int(self._resolve(st, [key])[0])
        curve, ids = containment(st, suspect, flt, tuple(unit_kinds),
                                 self._scratch.get(st.node_count), self._walks,
                                 cancel_flag(cancellation))
        names = np.asarray(st.node_kinds, dtype=object)
        units = pa.table({"key": st.keys(ids),
                          "kind": pa.array(names[st.node_kind[ids]].tolist() if len(ids)
                                           else [], pa.string())})
        return curve, units
