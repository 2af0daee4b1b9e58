"""A genealogy drawn for people: the walk from some keys laid out in layers, with big fan-outs
folded into count nodes, small enough for a browser to draw (a mixin of engine.Graph).

How a walk becomes a drawing (engine._layout_kernels does each step in one loop):
- Each reached node hangs from the node that first reached it (the walk's breadth-first
  tree). Nodes of a hidden kind (cases, pallets) are not drawn: their children hang from the
  nearest drawn ancestor.
- The children of one drawn node, by kind, form a group. A group larger than the fan-out
  threshold is drawn as one count node ("9,812 serials · 14 customers"): its members and
  everything that hangs from them fold into it, counted by kind. An expanded node shows up
  to EXPANDED members of each of its groups. The threshold is the largest with which the
  drawing has at most `max_elements` nodes and edges (a binary search: elements grow with
  the threshold), or the caller's, halved until it fits.
- Edges: each drawn node to the node it hangs from, plus the graph's direct edges between
  drawn nodes (a customer that two drawn shipments reached), as many as the budget allows.
- Layers are walk depths (empty ones closed up), ordered by barycentre sweeps; a wide layer
  wraps onto sub-rows; material flows top to bottom in both directions (an upstream walk
  puts its seed at the bottom), and edges point the way it flows. An hourglass is both walks,
  the upstream one above the seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from domain.direction import direction_of
from domain.errors import InvalidInput
from domain.time import TimeLike
from engine import _layout_kernels as lk
from engine.algorithms import trace_ids
from engine.cancellation import Cancellation, cancel_flag
from engine.filters import make_filter

if TYPE_CHECKING:
    from engine.algorithms import Walks
    from engine.scratch import ScratchPool
    from engine.view import View
    from index.snapshot import Adjacency

__all__ = ["EXPANDED", "Drawing", "DrawingQueries"]

Array = npt.NDArray[Any]
EXPANDED = 500
"""Members of one group an expanded node shows; the rest stay folded ("and N more")."""
X_SPACING, Y_SPACING, SUB_ROW = 150, 130, 55
ROW_WIDTH = 12
"""Nodes side by side in one row of a layer before it wraps."""
NODE_SCHEMA = pa.schema([("id", pa.string()), ("key", pa.string()), ("kind", pa.string()),
                         ("label", pa.string()), ("layer", pa.int32()), ("x", pa.float64()),
                         ("y", pa.float64()), ("count", pa.int64()),
                         ("parent_key", pa.string()), ("depth", pa.int32()),
                         ("upstream", pa.bool_())])
EDGE_SCHEMA = pa.schema([("source", pa.string()), ("target", pa.string()),
                         ("tree", pa.bool_())])


@dataclass(frozen=True)
class Drawing:
    """Nodes (drawn nodes `n<i>` and count nodes `g<i>`) with positions, and edges; `reached`
    is how many nodes the walk reached (seeds included), `threshold` the fan-out used."""

    nodes: pa.Table
    edges: pa.Table
    reached: int
    threshold: int
    links_left_out: int

    @property
    def elements(self) -> int:
        return int(self.nodes.num_rows + self.edges.num_rows)


class DrawingQueries:
    """Mixed into engine.Graph, whose view, key resolution and scratch space it uses."""

    _scratch: ScratchPool
    _walks: Walks

    def _state(self) -> View:
        raise NotImplementedError

    def _resolve(self, st: View, keys: str | Sequence[str]) -> Array:
        raise NotImplementedError

    def _adjacency(self, st: View, direction: str) -> Adjacency:
        raise NotImplementedError

    def drawing(
        self,
        keys: str | Sequence[str],
        direction: str = "downstream",
        max_depth: int | None = None,
        hide_kinds: Sequence[str] = (),
        expand: Sequence[str] = (),
        fan_out: int | None = None,
        max_elements: int = 2000,
        as_of: TimeLike = None,
        cancellation: Cancellation | None = None,
    ) -> Drawing:
        """The walk from `keys` drawn in layers (see the module docstring); `direction`
        "hourglass" draws both walks, upstream above the seeds. `hide_kinds`:
        node kinds not drawn (the seeds always are); `expand`: drawn keys whose groups open;
        `fan_out`: the largest group drawn node by node (None: the largest that fits)."""
        if (fan_out is not None and fan_out < 1) or max_elements < 10:
            raise InvalidInput("a drawing needs fan_out >= 1 and max_elements >= 10")
        if direction == "hourglass":  # upstream above the seeds, downstream below
            up = self.drawing(keys, "upstream", max_depth, hide_kinds, expand, fan_out,
                              max(max_elements // 2, 10), as_of, cancellation)
            down = self.drawing(keys, "downstream", max_depth, hide_kinds, expand, fan_out,
                                max(max_elements - up.elements, 10), as_of, cancellation)
            return _hourglass(up, down)
        st = self._state()
        unknown = sorted(set(hide_kinds) - set(st.node_kinds))
        if unknown:
            raise InvalidInput(f"unknown node kind(s) to hide: {', '.join(unknown)}; this "
                               f"graph has {', '.join(st.node_kinds)}")
        downstream = direction_of(direction) == "downstream"
        adjacency = self._adjacency(st, direction)
        flt = make_filter(st, max_depth, None, None, None, None, as_of, None)
        seeds = self._resolve(st, keys)
        opened = self._resolve(st, list(expand)) if expand else np.zeros(0, np.int32)
        scratch = self._scratch.get(st.node_count)
        count, n_seeds = trace_ids(st, adjacency, seeds, flt, scratch, self._walks,
                                   want_parent=True, cancel=cancel_flag(cancellation))
        rows = scratch.queue[:count].copy()
        depth = scratch.depth[:count].astype(np.int32)
        parent = scratch.parent[:count].astype(np.int32)
        return _draw(st, adjacency, rows, depth, parent, n_seeds, hide_kinds, opened,
                     fan_out, max_elements, downstream)


def _draw(st: View, adjacency: Adjacency, rows: Array, depth: Array, parent: Array,
          n_seeds: int, hide_kinds: Sequence[str], opened: Array, fan_out: int | None,
          max_elements: int, downstream: bool) -> Drawing:
    count = len(rows)
    kinds = st.node_kind[rows].astype(np.int64)
    hidden_kind = np.zeros(256, dtype=np.bool_)
    for name in hide_kinds:
        if (code := st.kind_code(name)) >= 0:
            hidden_kind[code] = True
    hidden = hidden_kind[kinds]
    hidden[:n_seeds] = False
    hangs_from = lk.drawn_parents(parent, hidden)
    grouped = ~hidden & (parent >= 0)
    group_keys, inverse, sizes = np.unique(hangs_from[grouped].astype(np.int64) * 256
                                           + kinds[grouped], return_inverse=True,
                                           return_counts=True)
    group = np.full(count, -1, dtype=np.int32)
    group[grouped] = inverse
    group_parent = (group_keys // 256).astype(np.int32)  # a row
    group_kind = group_keys % 256
    is_open = np.isin(rows[group_parent], opened) if len(opened) else np.zeros(
        len(group_keys), np.bool_)
    state = np.empty(count, dtype=np.int32)

    def fold(threshold: int) -> int:
        """Fold at `threshold`; returns the elements it draws (each node but a seed also
        has its tree edge)."""
        shown = np.where(sizes <= threshold, sizes, 0)
        shown[is_open] = np.minimum(sizes[is_open], EXPANDED)
        drawn_count, groups = lk.fold_rows(parent, hidden, group, shown, state)
        return int(2 * (drawn_count + groups) - n_seeds)

    if fan_out is not None:  # the caller's threshold, halved until the drawing fits
        threshold = fan_out
        while fold(threshold) > max_elements and threshold > 1:
            threshold = max(threshold // 2, 1)
    else:  # the largest threshold that fits: elements grow with the threshold
        low, high = 1, max(int(sizes.max(initial=1)), 1)
        while low < high:
            middle = (low + high + 1) // 2
            if fold(middle) <= max_elements:
                low = middle
            else:
                high = middle - 1
        threshold = low
        fold(threshold)
    folded = np.unique(state[state >= 0])
    drawn = np.flatnonzero(state == lk.DRAWN)
    element_of = np.full(count, -1, dtype=np.int64)
    element_of[drawn] = np.arange(len(drawn))
    group_element = np.full(len(group_keys), -1, dtype=np.int64)
    group_element[folded] = len(drawn) + np.arange(len(folded))
    n_elements = len(drawn) + len(folded)
    # Layers: the depth of a drawn node; of a count node, its shallowest member.
    element_depth = np.empty(n_elements, dtype=np.int64)
    element_depth[: len(drawn)] = depth[drawn]
    in_group = np.flatnonzero(state >= 0)
    shallowest = np.full(len(group_keys), np.iinfo(np.int64).max)
    np.minimum.at(shallowest, state[in_group], depth[in_group])
    element_depth[len(drawn):] = shallowest[folded]
    levels, layer = np.unique(element_depth, return_inverse=True)
    # Tree edges: a drawn node from the node it hangs from; a count node from its parent.
    child = drawn[hangs_from[drawn] >= 0]
    tree_src = np.concatenate([element_of[hangs_from[child]], element_of[group_parent[folded]]])
    tree_dst = np.concatenate([element_of[child], group_element[folded]])
    links_src, links_dst, left_out = _links(st, adjacency, rows[drawn], tree_src, tree_dst,
                                            max_elements - n_elements - len(tree_src))
    source = np.concatenate([tree_src, links_src]).astype(np.int64)
    target = np.concatenate([tree_dst, links_dst]).astype(np.int64)
    pos = lk.order_layers(layer.astype(np.int64), len(levels), source, target, 2)
    x, y = _place(layer, pos, len(levels), downstream)
    ids = [f"n{i}" for i in range(len(drawn))] + [f"g{i}" for i in range(len(folded))]
    names = np.asarray(st.node_kinds, dtype=object)
    keys = st.keys(rows[drawn]).to_pylist()
    labels, counts = _group_labels(st, state, kinds, folded, group_kind)
    nodes = pa.table({
        "id": ids,
        "key": keys + [None] * len(folded),
        "kind": names[kinds[drawn]].tolist() + names[group_kind[folded]].tolist(),
        "label": keys + labels,
        "layer": layer.astype(np.int32),
        "x": x, "y": y,
        "count": np.concatenate([np.ones(len(drawn), np.int64), counts]),
        "parent_key": [None] * len(drawn) + st.keys(rows[group_parent[folded]]).to_pylist(),
        "depth": element_depth.astype(np.int32),
        "upstream": np.full(n_elements, not downstream) & (element_depth > 0),
    }, schema=NODE_SCHEMA)
    if not downstream:  # edges point the way material flows, whichever way the walk went
        source, target = target, source
    edges = pa.table({"source": [ids[i] for i in source.tolist()],
                      "target": [ids[i] for i in target.tolist()],
                      "tree": np.arange(len(source)) < len(tree_src)}, schema=EDGE_SCHEMA)
    return Drawing(nodes, edges, count, threshold, left_out)


def _hourglass(up: Drawing, down: Drawing) -> Drawing:
    """One drawing of both walks: the downstream one as drawn, the upstream one above it,
    its seeds (the same nodes) merged into the downstream ones and aligned with them."""
    up_nodes, down_nodes = up.nodes.to_pylist(), down.nodes.to_pylist()
    seed_id = {n["key"]: n["id"] for n in down_nodes if n["depth"] == 0}
    up_seeds = [n for n in up_nodes if n["depth"] == 0]
    anchor = next(n for n in down_nodes if n["id"] == seed_id[up_seeds[0]["key"]])
    dx, dy = anchor["x"] - up_seeds[0]["x"], anchor["y"] - up_seeds[0]["y"]
    renamed = {n["id"]: seed_id[n["key"]] if n["depth"] == 0 else f"u{n['id']}"
               for n in up_nodes}
    above = [{**n, "id": renamed[n["id"]], "x": n["x"] + dx, "y": n["y"] + dy}
             for n in up_nodes if n["depth"] > 0]
    edges = [{**e, "source": renamed[e["source"]], "target": renamed[e["target"]]}
             for e in up.edges.to_pylist()] + down.edges.to_pylist()
    return Drawing(pa.Table.from_pylist(above + down_nodes, schema=NODE_SCHEMA),
                   pa.Table.from_pylist(edges, schema=EDGE_SCHEMA),
                   up.reached + down.reached - len(up_seeds),
                   min(up.threshold, down.threshold), up.links_left_out + down.links_left_out)


def _place(layer: Array, pos: Array, n_layers: int, downstream: bool) -> tuple[Array, Array]:
    """Coordinates: a layer wider than ROW_WIDTH wraps onto sub-rows (a screen is wider
    than tall, but not 50 nodes wide), each layer centred; material flows down."""
    width = np.bincount(layer, minlength=n_layers)
    rows = np.maximum((width + ROW_WIDTH - 1) // ROW_WIDTH, 1)
    height = (rows - 1) * SUB_ROW + Y_SPACING
    if not downstream:
        height = height[::-1]
    top = np.concatenate([[0], np.cumsum(height)[:-1]]).astype(np.float64)
    if not downstream:
        top = top[::-1]
    row, column = pos // ROW_WIDTH, pos % ROW_WIDTH
    in_row = np.where(row < rows[layer] - 1, ROW_WIDTH,
                      width[layer] - (rows[layer] - 1) * ROW_WIDTH)
    x = (column - (in_row - 1) / 2.0) * X_SPACING
    y = top[layer] + row * SUB_ROW
    return x, y


def _links(st: View, adjacency: Adjacency, nodes: Array, tree_src: Array, tree_dst: Array,
           budget: int) -> tuple[Array, Array, int]:
    """Direct edges between drawn nodes that are not tree edges, at most `budget` of them;
    also how many were left out."""
    position = np.full(st.node_count, -1, dtype=np.int32)
    position[nodes] = np.arange(len(nodes), dtype=np.int32)
    capacity = max(4 * len(nodes), 64)
    while True:
        src, dst = np.empty(capacity, np.int64), np.empty(capacity, np.int64)
        n = lk.links_among(nodes, adjacency.indptr, adjacency.neighbor, st.live(adjacency),
                           position, src, dst)
        if n >= 0:
            break
        capacity *= 4
    src, dst = src[:n], dst[:n]
    span = len(nodes) + 1
    tree = np.isin(src * span + dst, tree_src * span + tree_dst)
    src, dst = src[~tree], dst[~tree]
    keep = max(budget, 0)
    return src[:keep], dst[:keep], max(len(src) - keep, 0)


def _group_labels(st: View, state: Array, kinds: Array, folded: Array,
                  group_kind: Array) -> tuple[list[str], Array]:
    """Per count node: "9,812 serials · 14 customers" (its own kind first, then what hangs
    from its members, largest first) and how many members of its own kind it holds."""
    inside = state >= 0
    n_kinds = len(st.node_kinds)
    tally = np.zeros((len(folded), n_kinds), dtype=np.int64)
    slot = np.searchsorted(folded, state[inside])
    np.add.at(tally, (slot, kinds[inside]), 1)
    labels, counts = [], np.empty(len(folded), dtype=np.int64)
    for i in range(len(folded)):
        own = int(group_kind[folded[i]])
        counts[i] = tally[i, own]
        parts = [_counted(int(tally[i, own]), st.node_kinds[own])]
        for kind in np.argsort(-tally[i], kind="stable").tolist():
            if kind != own and tally[i, kind] > 0:
                parts.append(_counted(int(tally[i, kind]), st.node_kinds[kind]))
        labels.append(" · ".join(parts))
    return labels, counts


def _counted(n: int, kind: str) -> str:
    return f"{n:,} {kind}" + ("" if n == 1 else ("es" if kind.endswith(("s", "x")) else "s"))
