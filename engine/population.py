"""Questions about a whole population of units, key-level, for engine.Graph (a mixin): which
units of some products each of several seed sets reaches downstream (qms completeness,
effectivity), one walk per seed set; and many keys' products or direct suppliers at once
(qms alerts)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from domain.errors import InvalidInput
from domain.time import NO_TIME, TimeLike, to_micros
from engine._ship_kernels import out_quantities, parents_of_kind
from engine.filters import make_filter
from engine.shipped import node_columns
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

    def balance(self, kind: str = "lot") -> pa.Table:
        """Per node of `kind`: key, product, uom, its own quantity (what it was: received or
        made), out_quantity (the sum over its live downstream edges: what left it),
        out_edges with a quantity and out_edges_without one. The stuff of a mass balance
        (qms.kpi.mass_balance)."""
        st = self._state()
        ids = self._kind_ids(st, kind)
        total = np.zeros(len(ids), np.float64)
        counted, missing = np.zeros(len(ids), np.int64), np.zeros(len(ids), np.int64)
        delta = st.delta
        out_quantities(ids, st.snapshot.down.indptr, st.snapshot.edge_quantity, st.down_live,
                       delta.edge_quantity if delta is not None else np.zeros(0), total,
                       counted, missing)
        attributes = node_columns(st, ids, ("product", "uom", "quantity"))
        return pa.table({"key": st.keys(ids) if len(ids) else pa.array([], pa.large_string()),
                         **attributes, "out_quantity": total, "out_edges": counted,
                         "out_edges_without_quantity": missing})

    def keys_of_kind(self, kind: str) -> list[str]:
        """Every node key of `kind` (snapshot and delta), in id order; [] for a kind the
        graph does not have."""
        st = self._state()
        ids = self._kind_ids(st, kind)
        return st.keys(ids).to_pylist() if len(ids) else []

    def products_of(self, keys: Sequence[str]) -> list[str | None]:
        """The product each key's node carries (corrections applied); None for a key that
        names no node or a node without one. One vectorised lookup, no walk."""
        st = self._state()
        ids = st.lookup(list(keys)) if keys else np.zeros(0, np.int32)
        known = ids >= 0
        out: list[str | None] = [None] * len(ids)
        if known.any():
            found = node_columns(st, ids[known].astype(np.int32), ("product",))["product"]
            for position, product in zip(np.flatnonzero(known).tolist(), found.to_pylist(),
                                         strict=True):
                out[position] = product
        return out

    def parents_of_kind(self, keys: Sequence[str], kind: str) -> list[str | None]:
        """Per key, the first node of `kind` directly upstream of it (a supplier lot's
        supplier); None where there is none, or the key names no node."""
        st = self._state()
        ids = st.lookup(list(keys)) if keys else np.zeros(0, np.int32)
        out: list[str | None] = [None] * len(ids)
        code = st.kind_code(kind)
        known = np.flatnonzero(ids >= 0)
        if code < 0 or not len(known):
            return out
        nodes = ids[known].astype(np.int32)
        capacity = max(4 * len(nodes), 1024)
        while True:
            owner, parent = np.empty(capacity, np.int32), np.empty(capacity, np.int32)
            n = parents_of_kind(nodes, st.snapshot.up.indptr, st.snapshot.up.neighbor,
                                st.node_kind, code, st.up_live, owner, parent)
            if n >= 0:
                break
            capacity *= 4
        owner, parent = owner[:n][::-1], parent[:n][::-1]  # the first parent wins
        first = np.full(len(nodes), -1, dtype=np.int64)
        first[owner] = parent
        names = st.keys(np.where(first >= 0, first, 0)).to_pylist()
        for i, position in enumerate(known.tolist()):
            if first[i] >= 0:
                out[position] = names[i]
        return out
