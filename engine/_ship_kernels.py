"""Private numba kernels of the consignee list: which affected items reached which shipments and
customers through their packaging, with the quantity and ship time of each, and each serial's
lot. Same conventions as engine._kernels (dense ids, epoch marks, snapshot CSR + live delta)."""

from __future__ import annotations

from typing import Any

import numpy.typing as npt
from numba import njit

from engine._kernels import MAX_TIME, MIN_TIME, NO_TIME, _retracted_at, edge_ok, visible

Array = npt.NDArray[Any]

SHIPMENT, CUSTOMER = 1, 2  # codes of `target` (a node kind's role in the consignee list)


@njit(nogil=True, cache=True)
def ship_pairs(
    indptr: Array, neighbor: Array, ekind: Array, etime: Array, erec: Array, equantity: Array,
    kind_allowed: Array, filter_kinds: bool, since: int, until: int, as_of: int,
    node_kind: Array, affected: Array, affected_epoch: int, visited: Array,
    item: Array, container: Array, target: Array,
    marks: Array, epoch0: int, stack: Array, stack_qty: Array, stack_time: Array,
    stack_via: Array, stack_root: Array, out_item: Array, out_target: Array, out_via: Array,
    out_qty: Array, out_time: Array, out_branch: Array, live: Any, dquantity: Array,
) -> tuple[int, int]:  # pragma: no cover - numba
    """For every affected item (a node whose kind is flagged in `item`) walk downstream through
    affected containers (kinds flagged in `container`; this adjacency is the downstream one,
    `live` its delta) and write one row per affected target reached (a kind with
    target[kind] != 0: SHIPMENT or CUSTOMER): (item, target, the node it was reached from,
    the quantity of the item's own edge into the first container on that branch (NaN: none
    recorded), the ship time: the event time of the edge into the shipment on that branch, or
    into the customer when no shipment came first).

    Every edge of the item into a container starts a branch of its own, with that edge's
    quantity: a lot split over two cases of one shipment reached it twice (the caller sums
    the branches), and a reversal (an edge of negative quantity, SAP 602 against 601) nets
    against the posting it reverses. Within a branch a container is expanded once; a customer
    gets a row for every container it is reached from (so a customer reached both straight
    from a case and through a shipment has both rows, and the caller keeps the shipment's).
    out_branch[r] is the epoch of row r's branch (each branch uses its own epoch on `marks`,
    from epoch0 + 1; an item's edge straight into a customer is a branch of one row, -1 - r).
    Returns (rows written, the next free epoch), or (-1, ...) when the out arrays are too
    small (the caller grows them and calls again)."""
    check_edges = filter_kinds or since != MIN_TIME or until != MAX_TIME or as_of != MAX_TIME
    head, nxt, dnbr = live.head, live.next_edge, live.neighbor
    dkind, dtime, drec, dret, n_edges = (live.kind, live.event_time, live.recorded_at,
                                         live.retracted_at, live.n_edges)
    rflag, rpos, rtime = live.retracted_flag, live.retracted_pos, live.retracted_time
    n_snap = len(indptr) - 1
    capacity = len(out_item)
    n_out = 0
    epoch = epoch0 + 1
    for i in range(len(visited)):
        u = visited[i]
        if not item[node_kind[u]]:
            continue
        v = u
        qty = 0.0
        when = NO_TIME
        top = 0
        first = True
        while True:
            if not first and target[node_kind[v]] == SHIPMENT:
                if n_out >= capacity:
                    return -1, epoch
                out_item[n_out] = u
                out_target[n_out] = v
                out_via[n_out] = stack_via[top]
                out_qty[n_out] = qty
                out_time[n_out] = when
                out_branch[n_out] = epoch
                n_out += 1
            # Push v's unmarked affected containers over followed snapshot and delta edges.
            if v < n_snap:
                retracted = len(rpos) > 0 and rflag[v] != 0
                for e in range(indptr[v], indptr[v + 1]):
                    w = neighbor[e]
                    if not container[node_kind[w]] or affected[w] != affected_epoch:
                        continue
                    is_customer = target[node_kind[w]] == CUSTOMER
                    if not first and marks[w] == epoch and not is_customer:
                        continue
                    if check_edges and not edge_ok(e, ekind, etime, erec, kind_allowed,
                                                   filter_kinds, since, until, as_of):
                        continue
                    if retracted and not visible(_retracted_at(e, rpos, rtime), as_of):
                        continue
                    w_qty = equantity[e] if first else qty
                    if target[node_kind[w]] == SHIPMENT or (is_customer and when == NO_TIME):
                        w_time = etime[e]
                    else:
                        w_time = when
                    if is_customer:
                        if n_out >= capacity:
                            return -1, epoch
                        out_item[n_out], out_target[n_out], out_via[n_out] = u, w, v
                        out_qty[n_out], out_time[n_out] = w_qty, w_time
                        out_branch[n_out] = epoch if not first else -1 - n_out
                        n_out += 1
                        if first or marks[w] == epoch:
                            continue  # a customer is a leaf
                    if not first:
                        marks[w] = epoch
                    stack[top], stack_qty[top], stack_time[top] = w, w_qty, w_time
                    stack_via[top], stack_root[top] = v, first
                    top += 1
            if n_edges > 0 and v < len(head):
                e = head[v]
                while e >= 0:
                    if e < n_edges:
                        w = dnbr[e]
                        is_customer = target[node_kind[w]] == CUSTOMER
                        if (container[node_kind[w]] and affected[w] == affected_epoch
                                and (first or marks[w] != epoch or is_customer)
                                and visible(dret[e], as_of)
                                and edge_ok(e, dkind, dtime, drec, kind_allowed, filter_kinds,
                                            since, until, as_of)):
                            w_qty = dquantity[e] if first else qty
                            if target[node_kind[w]] == SHIPMENT or (is_customer
                                                                    and when == NO_TIME):
                                w_time = dtime[e]
                            else:
                                w_time = when
                            if is_customer:
                                if n_out >= capacity:
                                    return -1, epoch
                                out_item[n_out], out_target[n_out], out_via[n_out] = u, w, v
                                out_qty[n_out], out_time[n_out] = w_qty, w_time
                                out_branch[n_out] = epoch if not first else -1 - n_out
                                n_out += 1
                            elif first or marks[w] != epoch:
                                if not first:
                                    marks[w] = epoch
                                stack[top], stack_qty[top], stack_time[top] = w, w_qty, w_time
                                stack_via[top], stack_root[top] = v, first
                                top += 1
                    e = nxt[e]
            first = False
            if top == 0:
                break
            top -= 1
            v = stack[top]
            qty = stack_qty[top]
            when = stack_time[top]
            if stack_root[top]:  # a new branch: its containers are unvisited again
                epoch += 1
                marks[v] = epoch
            # stack_via[top] stays readable until the next push overwrites it (the row for v
            # is written before any push of v's own containers).
    return n_out, epoch + 1


@njit(nogil=True, cache=True)
def parents_of_kind(nodes: Array, indptr: Array, neighbor: Array, node_kind: Array,
                    kind: int, live: Any, owner: Array, parent: Array) -> int:
    # pragma: no cover - numba
    """The live upstream neighbours of kind `kind` of each of `nodes`: row r is
    (owner[r] = index into nodes, parent[r]). This adjacency is the upstream one and `live`
    its delta; retracted edges are skipped. Returns the rows written, or -1 when the out
    arrays are too small."""
    head, nxt, dnbr, dret, n_edges = (live.head, live.next_edge, live.neighbor,
                                      live.retracted_at, live.n_edges)
    rflag, rpos, rtime = live.retracted_flag, live.retracted_pos, live.retracted_time
    n_snap = len(indptr) - 1
    n = 0
    for i in range(len(nodes)):
        v = nodes[i]
        if v < n_snap:
            retracted = len(rpos) > 0 and rflag[v] != 0
            for e in range(indptr[v], indptr[v + 1]):
                w = neighbor[e]
                if node_kind[w] != kind:
                    continue
                if retracted and not visible(_retracted_at(e, rpos, rtime), MAX_TIME):
                    continue
                if n >= len(owner):
                    return -1
                owner[n], parent[n] = i, w
                n += 1
        if n_edges > 0 and v < len(head):
            e = head[v]
            while e >= 0:
                if e < n_edges and node_kind[dnbr[e]] == kind and visible(dret[e], MAX_TIME):
                    if n >= len(owner):
                        return -1
                    owner[n], parent[n] = i, dnbr[e]
                    n += 1
                e = nxt[e]
    return n
