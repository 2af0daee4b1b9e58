"""Questions about a whole population of units, key-level, for engine.Graph (a mixin): which
units of some products each of several seed sets reaches downstream (qms completeness,
effectivity), one walk per seed set."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from domain.errors import InvalidInput
from domain.time import NO_TIME, TimeLike, to_micros
from engine.filters import make_filter
from engine.units import coverage_table

if TYPE_CHECKING:
    from engine.algorithms import Walks
    from engine.scratch import ScratchPool
    from engine.view import View

__all__ = ["PopulationQueries"]


class PopulationQueries:
    """Mixed into engine.Graph, whose view and scratch space it uses."""

    _scratch: ScratchPool
    _walks: Walks

    def _state(self) -> View:
        raise NotImplementedError

    def coverage(self, products: Iterable[str] | None, kinds: Sequence[str],
                 seeds: Mapping[str, Sequence[str] | str], since: TimeLike = None,
                 as_of: TimeLike = None, reaches: Mapping[str, str] | None = None,
                 ) -> pa.Table:
        """One row per unit (a node of `kinds` whose product is one of `products`; None: any)
        built at or after `since`: key, product, built_at (the latest event time on an edge
        into it) and, per entry of `seeds`, a bool column: does any of its nodes reach the
        unit downstream (a node reaches itself)? An entry is node keys (unknown ones are
        skipped) or "kind:K", every node of kind K. Per entry of `reaches` (name -> kind), a
        bool column: does the unit reach a node of that kind downstream (a shipment: it
        shipped)?"""
        st = self._state()
        flt = make_filter(st, None, None, None, None, None, as_of, None)
        ids: dict[str, npt.NDArray[Any]] = {}
        for name, given in seeds.items():
            if isinstance(given, str):
                if not given.startswith("kind:"):
                    raise InvalidInput(f"seed set {name}: give keys or 'kind:K', not {given!r}")
                ids[name] = self._kind_ids(st, given[5:])
            else:
                found = st.lookup(list(given)) if given else np.zeros(0, np.int64)
                ids[name] = found[found >= 0].astype(np.int32)
        micros = to_micros(since)
        return coverage_table(st, products, kinds, ids, flt,
                              self._scratch.get(st.node_count), self._walks,
                              NO_TIME if micros is None else micros,
                              {name: self._kind_ids(st, kind) for name, kind in
                               (reaches or {}).items()})

    @staticmethod
    def _kind_ids(st: View, kind: str) -> npt.NDArray[Any]:
        code = st.kind_code(kind)
        return (np.flatnonzero(st.node_kind[: st.node_count] == code).astype(np.int32) if code >= 0
                else np.zeros(0, np.int32))
