"""Slow, obviously-right twins of the engine's queries, on networkx. Test-only."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import networkx as nx

CONTAINERS = {"logistic_unit", "shipment", "customer"}


@dataclass(frozen=True)
class EdgeFilter:
    edge_kinds: frozenset[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    as_of: datetime | None = None

    def allows(self, data: dict[str, object]) -> bool:
        if self.edge_kinds is not None and data["kind"] not in self.edge_kinds:
            return False
        t = data.get("event_time")
        if t is not None:
            if self.since is not None and t < self.since:  # type: ignore[operator]
                return False
            if self.until is not None and t > self.until:  # type: ignore[operator]
                return False
        if self.as_of is not None and data["recorded_at"] > self.as_of:  # type: ignore[operator]
            return False
        # A retracted edge is followed only as of a time before its retraction.
        retracted = data.get("retracted_at")
        return retracted is None or (self.as_of is not None
                                     and retracted > self.as_of)  # type: ignore[operator]


def genealogy(nodes: Iterable[dict[str, object]], edges: Iterable[dict[str, object]]
              ) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph()
    for node in nodes:
        graph.add_node(node["key"], kind=node["kind"])
    for edge in edges:
        graph.add_edge(edge["src"], edge["dst"], **{k: v for k, v in edge.items()
                                                     if k not in ("src", "dst")})
    return graph


def _neighbors(graph: nx.MultiDiGraph, node: str, downstream: bool, flt: EdgeFilter
               ) -> Iterable[str]:
    edges = (graph.out_edges(node, data=True) if downstream
             else graph.in_edges(node, data=True))
    for src, dst, data in edges:
        if flt.allows(data):
            yield dst if downstream else src


def trace(graph: nx.MultiDiGraph, seeds: Iterable[str], downstream: bool = True,
          flt: EdgeFilter | None = None, max_depth: int | None = None,
          node_kinds: set[str] | None = None) -> dict[str, int]:
    """key -> depth (fewest followed edges from any seed), seeds excluded."""
    flt = flt or EdgeFilter()
    depth = dict.fromkeys(seeds, 0)
    queue = deque(depth)
    while queue:
        v = queue.popleft()
        if max_depth is not None and depth[v] >= max_depth:
            continue
        for w in _neighbors(graph, v, downstream, flt):
            if w not in depth:
                depth[w] = depth[v] + 1
                queue.append(w)
    return {k: d for k, d in depth.items() if d > 0
            and (node_kinds is None or graph.nodes[k]["kind"] in node_kinds)}


def tally(graph: nx.MultiDiGraph, affected: set[str], flt: EdgeFilter, item_kind: str,
          counted: set[str]) -> dict[str, int]:
    """For each node of a `counted` kind: how many affected `item_kind` nodes reach it by a
    followed edge into an affected container and then through affected containers only."""
    out: dict[str, int] = {}
    for item in affected:
        if graph.nodes[item]["kind"] != item_kind:
            continue
        start = {c for c in _neighbors(graph, item, True, flt)
                 if c in affected and graph.nodes[c]["kind"] in CONTAINERS}
        seen = set(start)
        stack = list(start)
        while stack:
            v = stack.pop()
            for w in _neighbors(graph, v, True, flt):
                if w in affected and w not in seen and graph.nodes[w]["kind"] in CONTAINERS:
                    seen.add(w)
                    stack.append(w)
        for v in seen:
            if graph.nodes[v]["kind"] in counted:
                out[v] = out.get(v, 0) + 1
    return out


def shortest_path_length(graph: nx.MultiDiGraph, src: str, dst: str,
                         flt: EdgeFilter) -> int | None:
    if src == dst:
        return 0
    found = trace(graph, [src], True, flt)
    return found.get(dst)
