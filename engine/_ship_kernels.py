"""Private numba kernels of the consignee list: which affected items reached which shipments and
customers through their packaging, with the quantity and ship time of each, and each serial's
lot. Same conventions as engine._kernels (dense ids, epoch marks, snapshot CSR + live delta)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from domain import kernel_cache  # noqa: F401 - before any kernel: the cache directory
from engine._kernels import MAX_TIME, MIN_TIME, NO_TIME, _retracted_at, edge_ok, visible
from engine._row_kernels import CUSTOMER, SHIPMENT, finish, net_item

__all__ = ["CUSTOMER", "SHIPMENT", "out_quantities", "parents_of_kind", "ship_pairs",
           "tally_quantities"]

Array = npt.NDArray[Any]


@njit(nogil=True, cache=True)
def ship_pairs(
    indptr: Array, neighbor: Array, ekind: Array, etime: Array, erec: Array, equantity: Array,
    kind_allowed: Array, filter_kinds: bool, since: int, until: int, as_of: int,
    node_kind: Array, affected: Array, affected_epoch: int, visited: Array,
    item: Array, container: Array, target: Array,
    marks: Array, epoch0: int, stack: Array, stack_qty: Array, stack_time: Array,
    stack_via: Array, stack_root: Array, out_item: Array, out_target: Array, out_via: Array,
    out_qty: Array, out_time: Array, out_branch: Array, live: Any, dquantity: Array,
    serial_kind: int, keep_pairs: bool, named: Array, anchored: Array, slot: Array,
    stamp0: int,
    row_customer: Array, row_shipment: Array, row_item: Array, row_qty: Array,
    row_time: Array, chain: Array, compensation: Array, counted_time: Array,
    last_branch: Array, memo_mark: Array, memo_start: Array, memo_customers: Array,
    memo_shipments: Array, memo_customer: Array, memo_shipment: Array, memo_time: Array,
) -> tuple[int, int, int, int, int]:  # pragma: no cover - numba
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
    Each item's pairs are netted into rows as soon as its walk ends, while they are in cache
    (engine._row_kernels.net_item: row_* from the front for customers, from the back for
    shipments without one; `named`, `anchored`, `slot` stamped per item from stamp0). The
    pairs are kept, all of them, only with `keep_pairs` (the tests hold the rows to the
    pairs); otherwise out_* holds one item's at a time.

    Most items are serials with one branch, into their case: the rows of such a branch are the
    same for every item in that case but for the item and its quantity. The first such item's
    rows are kept per case (memo_*, valid where memo_mark[case] == stamp0) and the next items
    packed in it take them instead of walking case, pallet, shipment, customer and netting
    again (not with `keep_pairs`, whose pairs the tests hold the rows to; not for an item with
    delta edges or retracted ones).

    Returns (pairs kept, the next free epoch, customer rows, shipment rows, the next free
    stamp), or -1 first when the out or row arrays are too small (the caller grows them and
    calls again)."""
    check_edges = filter_kinds or since != MIN_TIME or until != MAX_TIME or as_of != MAX_TIME
    # `as_of` alone tested inline: through edge_ok, LLVM loads each tested edge's kind and
    # event time ahead of its branches (2.5x slower walks as of a time, at 1M units).
    only_as_of = not filter_kinds and since == MIN_TIME and until == MAX_TIME
    head, nxt, dnbr = live.head, live.next_edge, live.neighbor
    dkind, dtime, drec, dret, n_edges = (live.kind, live.event_time, live.recorded_at,
                                         live.retracted_at, live.n_edges)
    rflag, rpos, rtime = live.retracted_flag, live.retracted_pos, live.retracted_time
    n_snap = len(indptr) - 1
    capacity = len(out_item)
    n_out = 0
    epoch = epoch0 + 1
    n_cust, n_ship, run = 0, 0, stamp0 - 1
    n_memo = 0
    for i in range(len(visited)):
        u = visited[i]
        if not item[node_kind[u]]:
            continue
        item_start = n_out if keep_pairs else 0
        n_out = item_start
        # Its one branch into a logistic unit (-1: none, -2: more, or one into a shipment or
        # a customer, or edges only the general walk reads).
        root, root_qty = -1, 0.0
        if keep_pairs or u >= n_snap or (len(rpos) > 0 and rflag[u] != 0) or (
                n_edges > 0 and u < len(head) and head[u] >= 0):
            root = -2
        else:
            for e in range(indptr[u], indptr[u + 1]):
                w = neighbor[e]
                if not container[node_kind[w]] or affected[w] != affected_epoch:
                    continue
                if check_edges and ((erec[e] > as_of) if only_as_of else not edge_ok(
                        e, ekind, etime, erec, kind_allowed, filter_kinds, since, until,
                        as_of)):
                    continue
                if root != -1 or target[node_kind[w]] != 0:
                    root = -2
                    break
                root, root_qty = w, equantity[e]
        if root >= 0 and memo_mark[root] == stamp0:
            k0 = memo_start[root]
            k1 = k0 + memo_customers[root] + memo_shipments[root]
            if n_cust + n_ship + k1 - k0 > len(row_item):
                return -1, epoch, 0, 0, run
            q = root_qty
            if np.isnan(q) and node_kind[u] == serial_kind:
                q = 1.0
            counted = np.isnan(q) or q > 0
            for k in range(k0, k1):
                if k < k0 + memo_customers[root]:
                    g = n_cust
                    n_cust += 1
                else:
                    n_ship += 1
                    g = len(row_item) - n_ship
                row_customer[g], row_shipment[g], row_item[g] = (
                    memo_customer[k], memo_shipment[k], u)
                row_qty[g] = 0.0 + (q - 0.0)  # as net_item sums one branch
                row_time[g] = memo_time[k]
                counted_time[g] = memo_time[k] if counted else NO_TIME
            continue
        v = u
        qty = 0.0
        when = NO_TIME
        top = 0
        first = True
        while True:
            if not first and target[node_kind[v]] == SHIPMENT:
                if n_out >= capacity:
                    return -1, epoch, 0, 0, run
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
                    if check_edges and ((erec[e] > as_of) if only_as_of else not edge_ok(
                            e, ekind, etime, erec, kind_allowed, filter_kinds, since, until,
                            as_of)):
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
                            return -1, epoch, 0, 0, run
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
                                    return -1, epoch, 0, 0, run
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
        if n_out == item_start:
            continue
        if n_cust + n_ship + n_out - item_start > len(row_item):
            return -1, epoch, 0, 0, run
        run += 1
        c0, s0 = n_cust, n_ship
        n_cust, n_ship = net_item(
            u, item_start, n_out, out_target, out_via, out_qty, out_time, out_branch,
            node_kind, target, node_kind[u] == serial_kind, run, named, anchored, slot,
            row_customer, row_shipment, row_item, row_qty, row_time, chain, compensation,
            counted_time, last_branch, n_cust, n_ship)
        if root >= 0 and n_memo + n_cust - c0 + n_ship - s0 <= len(memo_customer):
            # Keep the case's rows (one pair each, so a row's time is its pair's).
            memo_mark[root], memo_start[root] = stamp0, n_memo
            memo_customers[root], memo_shipments[root] = n_cust - c0, n_ship - s0
            for g in range(c0, n_cust):  # customer rows, in order
                memo_customer[n_memo], memo_shipment[n_memo] = row_customer[g], row_shipment[g]
                memo_time[n_memo] = row_time[g]
                n_memo += 1
            for k in range(s0, n_ship):  # shipment rows, in the order they were written
                g = len(row_item) - 1 - k
                memo_customer[n_memo], memo_shipment[n_memo] = row_customer[g], row_shipment[g]
                memo_time[n_memo] = row_time[g]
                n_memo += 1
    finish(n_cust, n_ship, row_item, row_qty, row_time, counted_time, node_kind, serial_kind)
    return n_out, epoch + 1, n_cust, n_ship, run + 1


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


@njit(nogil=True, cache=True)
def tally_quantities(
    indptr: Array, neighbor: Array, ekind: Array, etime: Array, erec: Array, equantity: Array,
    kind_allowed: Array, filter_kinds: bool, since: int, until: int, as_of: int,
    node_kind: Array, affected: Array, affected_epoch: int, visited: Array,
    item: Array, eligible: Array, unit_kind: int, container: Array, counted: Array,
    marks: Array, epoch0: int, branch: Array, branch_qty: Array, stack: Array, reached: Array,
    tally_marks: Array, quantity: Array, unknown: Array, live: Any, dquantity: Array,
) -> int:  # pragma: no cover - numba
    """The quantities of affected items (kinds flagged in `item`, nodes flagged in `eligible`:
    finished units) at the counted containers (shipments, customers) their packaging reaches:
    the counts of the consignee list (engine.shipped), without its rows.

    As in ship_pairs, each followed edge of an item into an affected container is a branch
    with that edge's quantity (none: a unit of `unit_kind`, a serial, counts 1; a lot's is
    unknown and counts in `unknown` instead), so a reversal nets against its posting and a
    return against what the party received. Every distinct counted node a branch reaches gets
    the branch's quantity (valid where tally_marks == epoch0). Each branch walks on an epoch
    of its own on `marks` (epoch0 + 1, ...); a branch into the same container as the one
    before replays that walk (`reached`): the units of one case walk once. Returns the next
    free epoch, or -1 when an item has more branches than `branch` holds (the caller sizes
    it to the widest item, so never). A serial repacked into two cases of one shipment
    counts in both here; the consignee list counts it once."""
    check_edges = filter_kinds or since != MIN_TIME or until != MAX_TIME or as_of != MAX_TIME
    # `as_of` alone tested inline: through edge_ok, LLVM loads each tested edge's kind and
    # event time ahead of its branches (2.5x slower walks as of a time, at 1M units).
    only_as_of = not filter_kinds and since == MIN_TIME and until == MAX_TIME
    head, nxt, dnbr = live.head, live.next_edge, live.neighbor
    dkind, dtime, drec, dret, n_edges = (live.kind, live.event_time, live.recorded_at,
                                         live.retracted_at, live.n_edges)
    rflag, rpos, rtime = live.retracted_flag, live.retracted_pos, live.retracted_time
    n_snap = len(indptr) - 1
    epoch = epoch0 + 1
    last_root = -1
    n_reached = 0
    for i in range(len(visited)):
        u = visited[i]
        if not item[node_kind[u]] or not eligible[u]:
            continue
        # The item's branches: its followed edges into affected containers.
        nb = 0
        if u < n_snap:
            retracted = len(rpos) > 0 and rflag[u] != 0
            for e in range(indptr[u], indptr[u + 1]):
                w = neighbor[e]
                if not container[node_kind[w]] or affected[w] != affected_epoch:
                    continue
                if check_edges and ((erec[e] > as_of) if only_as_of else not edge_ok(
                        e, ekind, etime, erec, kind_allowed, filter_kinds, since, until,
                        as_of)):
                    continue
                if retracted and not visible(_retracted_at(e, rpos, rtime), as_of):
                    continue
                if nb >= len(branch):
                    return -1
                branch[nb], branch_qty[nb] = w, equantity[e]
                nb += 1
        if n_edges > 0 and u < len(head):
            e = head[u]
            while e >= 0:
                if e < n_edges:
                    w = dnbr[e]
                    if (container[node_kind[w]] and affected[w] == affected_epoch
                            and visible(dret[e], as_of)
                            and edge_ok(e, dkind, dtime, drec, kind_allowed, filter_kinds,
                                        since, until, as_of)):
                        if nb >= len(branch):
                            return -1
                        branch[nb], branch_qty[nb] = w, dquantity[e]
                        nb += 1
                e = nxt[e]
        for b in range(nb):
            root = branch[b]
            q = branch_qty[b]
            if np.isnan(q) and node_kind[u] == unit_kind:
                q = 1.0
            if root != last_root:  # walk the branch: root and the containers below it
                epoch += 1
                n_reached = 0
                marks[root] = epoch
                stack[0] = root
                top = 1
                while top > 0:
                    top -= 1
                    v = stack[top]
                    if counted[node_kind[v]]:
                        reached[n_reached] = v
                        n_reached += 1
                    if v < n_snap:
                        retracted = len(rpos) > 0 and rflag[v] != 0
                        for e in range(indptr[v], indptr[v + 1]):
                            w = neighbor[e]
                            if (not container[node_kind[w]] or affected[w] != affected_epoch
                                    or marks[w] == epoch):
                                continue
                            if check_edges and ((erec[e] > as_of) if only_as_of
                                                else not edge_ok(e, ekind, etime, erec,
                                                                 kind_allowed, filter_kinds,
                                                                 since, until, as_of)):
                                continue
                            if retracted and not visible(_retracted_at(e, rpos, rtime),
                                                         as_of):
                                continue
                            marks[w] = epoch
                            stack[top] = w
                            top += 1
                    if n_edges > 0 and v < len(head):
                        e = head[v]
                        while e >= 0:
                            if e < n_edges:
                                w = dnbr[e]
                                if (container[node_kind[w]] and affected[w] == affected_epoch
                                        and marks[w] != epoch and visible(dret[e], as_of)
                                        and edge_ok(e, dkind, dtime, drec, kind_allowed,
                                                    filter_kinds, since, until, as_of)):
                                    marks[w] = epoch
                                    stack[top] = w
                                    top += 1
                            e = nxt[e]
                last_root = root
            for j in range(n_reached):
                v = reached[j]
                if tally_marks[v] != epoch0:
                    tally_marks[v] = epoch0
                    quantity[v] = 0.0
                    unknown[v] = 0
                if np.isnan(q):
                    unknown[v] += 1
                else:
                    quantity[v] += q
    return epoch + 1


@njit(nogil=True, cache=True)
def out_quantities(nodes: Array, indptr: Array, equantity: Array, live: Any,
                   dquantity: Array, total: Array, counted: Array,
                   missing: Array) -> None:  # pragma: no cover - numba
    """Per node of `nodes`: the sum of the quantities on its live downstream edges (what left
    it: consumed, packed, shipped), how many edges had one, and how many had none. Retracted
    edges are skipped; a negative quantity (a reversal) counts as given."""
    rflag, rpos, rtime = live.retracted_flag, live.retracted_pos, live.retracted_time
    head, nxt, dret, n_edges = live.head, live.next_edge, live.retracted_at, live.n_edges
    n_snap = len(indptr) - 1
    for i in range(len(nodes)):
        v = nodes[i]
        if v < n_snap:
            retracted = len(rpos) > 0 and rflag[v] != 0
            for e in range(indptr[v], indptr[v + 1]):
                if retracted and not visible(_retracted_at(e, rpos, rtime), MAX_TIME):
                    continue
                q = equantity[e]
                if np.isnan(q):
                    missing[i] += 1
                else:
                    total[i] += q
                    counted[i] += 1
        if n_edges > 0 and v < len(head):
            e = head[v]
            while e >= 0:
                if e < n_edges and visible(dret[e], MAX_TIME):
                    q = dquantity[e]
                    if np.isnan(q):
                        missing[i] += 1
                    else:
                        total[i] += q
                        counted[i] += 1
                e = nxt[e]
