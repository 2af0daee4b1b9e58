"""Common cause: for a set of complaint units, the upstream nodes they share, ranked by how
unusual the sharing is against the production population.

The population is every serial of the complaint units' products (node attribute `product`).
For each upstream node u shared by at least `min_shared` complaints:

    k  complaints with u upstream          n  complaints
    K  population units downstream of u    N  population

The p-value is the hypergeometric tail P(X >= k), X ~ Hypergeom(N, K, n) (scipy): how likely
k or more of n units drawn from the population would pass through u by chance. Lift is
(k / n) / (K / N). A lot in every unit's history (K = N) is shared by all complaints and is
no evidence (p = 1); a sub-assembly lot in 5 % of production but 4 of 5 complaints is.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import hypergeom

from domain.errors import InvalidInput
from domain.schemas import COMMON_CAUSE_SCHEMA
from engine.algorithms import Walks, trace_ids
from engine.filters import Filter
from engine.scratch import ScratchPool
from engine.shipped import node_columns
from engine.view import View

__all__ = ["common_cause_table"]

Array = npt.NDArray[Any]
MAX_CANDIDATES = 2_000  # upstream nodes scored, most shared first
WORKERS = max(1, min(4, os.cpu_count() or 1))
_POOL = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="tracegraph-cause")



def _population(view: View, products: list[str]) -> Array:
    """True for every serial whose product is one of `products` (by dense id)."""
    serial = view.kind_code("serial")
    mask = np.zeros(view.node_count, dtype=np.bool_)
    if serial < 0 or not products:
        return mask
    wanted = pa.array(products, pa.string())
    snap = view.snapshot
    if snap.node_count:
        column = snap.nodes.column("product").combine_chunks()
        if pa.types.is_dictionary(column.type):  # test the few distinct products, then index
            hit = pc.is_in(column.dictionary, value_set=wanted).to_numpy(zero_copy_only=False)
            codes = pc.fill_null(column.indices, 0).to_numpy(zero_copy_only=False)
            valid = column.indices.is_valid().to_numpy(zero_copy_only=False)
            mask[: snap.node_count] = valid & hit[codes]
        else:
            mask[: snap.node_count] = pc.fill_null(pc.is_in(column.cast(pa.string()),
                                                            value_set=wanted),
                                                   False).to_numpy(zero_copy_only=False)
    if view.delta is not None and view.node_count > snap.node_count:
        table = view.delta.new_node_table()
        mask[snap.node_count:] = pc.is_in(table.column("product").cast(pa.string()),
                                          value_set=wanted).to_numpy(zero_copy_only=False)
    changes = view.delta.attributes if view.delta is not None else {}
    for sid, fields in changes.items():  # products corrected since the snapshot
        if "product" in fields:
            local = int(snap.local_of_sid[sid]) if sid < snap.node_count else sid
            mask[local] = fields["product"] in products
    mask &= view.node_kind[: view.node_count] == serial
    return mask


def common_cause_table(view: View, seeds: Array, flt: Filter, scratches: ScratchPool,
                       walks: Walks, min_shared: int = 2, limit: int = 50,
                       cancel: Array | None = None) -> pa.Table:
    """COMMON_CAUSE_SCHEMA rows for complaint units `seeds`, most significant first. The
    candidates' downstream walks run on every core (the kernels release the GIL), each
    worker thread with its own scratch space from `scratches`."""
    scratch = scratches.get(view.node_count)
    complaints = np.unique(seeds)
    n = len(complaints)
    if n == 0:
        raise InvalidInput("common cause needs at least one complaint unit")
    products = sorted({p for p in node_columns(view, complaints)["product"].to_pylist() if p})
    if not products:
        raise InvalidInput("the complaint units carry no product, so there is no production "
                           "population to compare with (set the nodes' product)")
    population = _population(view, products)
    population[complaints] |= view.node_kind[complaints] == view.kind_code("serial")
    big_n = int(population.sum())
    up = view.snapshot.up
    reached = []
    for unit in complaints:
        count, n_seeds = trace_ids(view, up, np.array([unit], dtype=np.int32), flt, scratch,
                                   walks, cancel=cancel)
        reached.append(scratch.queue[n_seeds:count].copy())
    every = np.concatenate(reached) if reached else np.zeros(0, dtype=np.int32)
    nodes, shared = np.unique(every, return_counts=True)
    keep = (shared >= max(min_shared, 1)) & ~np.isin(nodes, complaints)
    nodes, shared = nodes[keep], shared[keep]
    order = np.argsort(-shared, kind="stable")[:MAX_CANDIDATES]
    candidates, k = nodes[order], shared[order].astype(np.int64)
    down = view.snapshot.down

    def reach(nodes: Array) -> list[int]:
        """Population units downstream of each of `nodes` (in this worker's scratch)."""
        mine = scratches.get(view.node_count)
        out = []
        for node in nodes.tolist():
            count, _ = trace_ids(view, down, np.array([node], dtype=np.int32), flt, mine,
                                 walks, cancel=cancel)
            out.append(int(np.count_nonzero(population[mine.queue[:count]])))
        return out

    # Interleaved shares: the few wide bulk lots come first (most shared) and spread out.
    big_k = np.zeros(len(candidates), dtype=np.int64)
    for i, part in enumerate(_POOL.map(reach, [candidates[i::WORKERS]
                                               for i in range(WORKERS)])):
        big_k[i::WORKERS] = part
    # K >= k: a complaint unit of another product still counts as drawn from the population.
    big_k = np.maximum(big_k, k)
    big_n = max(big_n, int(big_k.max()) if len(big_k) else 0, n)
    p_value = hypergeom.sf(k - 1, big_n, big_k, n) if len(k) else np.zeros(0)
    lift = np.where(big_k > 0, (k / n) / np.maximum(big_k / max(big_n, 1), 1e-300), 0.0)
    ranked = np.lexsort((candidates, -lift, p_value))[:limit]
    ids = candidates[ranked]
    names = np.asarray(view.node_kinds, dtype=object)
    return pa.table({
        "key": view.keys(ids.astype(np.int32)),
        "kind": pa.array(names[view.node_kind[ids]].tolist() if len(ids) else [], pa.string()),
        "product": node_columns(view, ids.astype(np.int32))["product"],
        "shared": pa.array(k[ranked]), "complaints": pa.array(np.full(len(ids), n)),
        "downstream_population": pa.array(big_k[ranked]),
        "population": pa.array(np.full(len(ids), big_n)),
        "lift": pa.array(lift[ranked].astype(np.float64)),
        "p_value": pa.array(np.clip(p_value[ranked], 0.0, 1.0).astype(np.float64)),
    }, schema=COMMON_CAUSE_SCHEMA)
