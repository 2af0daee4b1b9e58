"""Private numba kernels of the consignee list: an item's branch pairs (engine._ship_kernels.
ship_pairs) netted into rows, one per (customer, shipment, item), by dense id; and the
comparison of two answers' rows. Same conventions as engine._kernels (dense ids, stamps
instead of clearing)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from domain import kernel_cache  # noqa: F401 - before any kernel: the cache directory
from engine._kernels import NO_TIME

Array = npt.NDArray[Any]

SHIPMENT, CUSTOMER = 1, 2  # codes of `role` (a node kind's part in the consignee list)
NO_SHIP_TIME = np.iinfo(np.int64).max
"""A row's ship time when no branch had one (sorts last)."""


@njit(nogil=True, cache=True, inline="always")
def net_item(
    u: int, start: int, end: int, targets: Array, via: Array, qty: Array, when: Array,
    branch: Array, node_kind: Array, role: Array, serial: bool, run: int, named: Array,
    anchored: Array, slot: Array, out_customer: Array, out_shipment: Array, out_item: Array,
    out_qty: Array, out_time: Array, chain: Array, compensation: Array, counted_time: Array,
    last_branch: Array, n_cust: int, n_ship: int,
) -> tuple[int, int]:  # pragma: no cover - numba
    """Net item u's pairs [start, end) (ship_pairs writes them branch by branch, so a
    branch's pairs are adjacent) into rows: a pair at a customer is a row (customer, the
    shipment it was reached from, or -1 when none); a pair at a shipment is a row (-1,
    shipment). A customer reached both through a shipment and straight from a container
    keeps the shipment's rows only; a shipment row stays only if no customer row of the item
    names that shipment.

    A row's quantity is the sum of its branches' quantities (a branch counts once per row;
    a serial's unknown quantity is 1), summed with Kahan's compensation in pair order, as
    polars sums a group; `finish` then counts a serial's row at most 1 and settles its ship
    time: the earliest of its counted branches (quantity unknown or > 0), else of all of
    them; NO_SHIP_TIME when none had one.

    Customer rows are written from out[n_cust] up, shipment rows from out[-1 - n_ship] down,
    each in order of first appearance. `named`, `anchored` and `slot` are node-indexed scratch,
    `run` the item's own stamp (no other item's): named[x] says a customer row reached
    customer x through a shipment, or named shipment x; anchored[x] says slot[x] holds the
    item's first row anchored at x (its customer, or its shipment when it has none), chain[]
    the next. Returns (n_cust, n_ship) after the item; n_cust + n_ship grows by at most
    end - start."""
    n = len(out_item)
    for r in range(start, end):
        if role[node_kind[targets[r]]] == CUSTOMER and role[node_kind[via[r]]] == SHIPMENT:
            named[targets[r]] = run
            named[via[r]] = run
    for r in range(start, end):
        t = targets[r]
        if role[node_kind[t]] == CUSTOMER:
            c = t
            s = via[r] if role[node_kind[via[r]]] == SHIPMENT else -1
            if s < 0 and named[c] == run:
                continue  # the rows through a shipment stand for this customer
            anchor = c
        else:
            c = -1
            s = t
            if named[s] == run:
                continue  # a customer row names this shipment
            anchor = s
        g = slot[anchor] if anchored[anchor] == run else -1
        while g >= 0 and out_shipment[g] != s:
            g = chain[g]
        if g < 0:
            if c >= 0:
                g = n_cust
                n_cust += 1
            else:
                n_ship += 1
                g = n - n_ship
            out_customer[g], out_shipment[g], out_item[g] = c, s, u
            out_qty[g], compensation[g] = 0.0, 0.0
            out_time[g], counted_time[g] = NO_SHIP_TIME, NO_TIME  # NO_TIME: none counted
            last_branch[g] = branch[r] - 1  # no branch yet
            chain[g] = slot[anchor] if anchored[anchor] == run else -1
            anchored[anchor], slot[anchor] = run, g
        if branch[r] == last_branch[g]:
            continue  # this branch already counts in this row (its pairs are adjacent)
        last_branch[g] = branch[r]
        q = qty[r]
        if np.isnan(q) and serial:
            q = 1.0
        y = q - compensation[g]
        total = out_qty[g] + y
        compensation[g] = (total - out_qty[g]) - y
        out_qty[g] = total
        tm = NO_SHIP_TIME if when[r] == NO_TIME else when[r]
        out_time[g] = min(out_time[g], tm)
        if np.isnan(q) or q > 0:  # tm is never NO_TIME here
            counted_time[g] = tm if counted_time[g] == NO_TIME else min(counted_time[g], tm)
    return n_cust, n_ship


@njit(nogil=True, cache=True)
def finish(n_cust: int, n_ship: int, out_item: Array, out_qty: Array, out_time: Array,
           counted_time: Array, node_kind: Array, serial_kind: int) -> None:
    # pragma: no cover - numba
    """The rows net_item wrote, settled: a serial counts at most 1; the ship time of the
    counted branches, if any."""
    n = len(out_item)
    for g in range(n_cust):
        _finish(g, out_item, out_qty, out_time, counted_time, node_kind, serial_kind)
    for g in range(n - n_ship, n):
        _finish(g, out_item, out_qty, out_time, counted_time, node_kind, serial_kind)


@njit(nogil=True, cache=True, inline="always")
def _finish(g: int, out_item: Array, out_qty: Array, out_time: Array, counted_time: Array,
            node_kind: Array, serial_kind: int) -> None:  # pragma: no cover - numba
    """A serial counts at most 1; the ship time of the counted branches, if any."""
    if node_kind[out_item[g]] == serial_kind and out_qty[g] > 1:
        out_qty[g] = 1.0
    if counted_time[g] != NO_TIME:
        out_time[g] = counted_time[g]


@njit(nogil=True, cache=True)
def match_rows(a_customer: Array, a_shipment: Array, a_item: Array, b_customer: Array,
               b_shipment: Array, b_item: Array, head: Array, seen: Array,
               a_found: Array, b_found: Array) -> None:  # pragma: no cover - numba
    """Which rows of answer a have a row of answer b with the same (customer, shipment,
    item), and the other way round (both of one view, each row's triple unique): a's rows
    listed per item (head[item], node-indexed, valid where seen[item] != 0; seen zeros),
    then each of b's rows looks among its item's. Fills a_found and b_found."""
    nxt = np.empty(len(a_item), dtype=np.int32)
    for r in range(len(a_item)):
        u = a_item[r]
        nxt[r] = head[u] if seen[u] else -1
        head[u] = r
        seen[u] = 1
        a_found[r] = False
    for r in range(len(b_item)):
        u = b_item[r]
        b_found[r] = False
        if not seen[u]:
            continue
        q = head[u]
        while q >= 0:
            if a_customer[q] == b_customer[r] and a_shipment[q] == b_shipment[r]:
                a_found[q] = True
                b_found[r] = True
                break
            q = nxt[q]


@njit(nogil=True, cache=True)
def sums_by_code(codes: Array, values: Array, n_codes: int) -> Array:  # pragma: no cover
    """Per code, the sum of its rows' values (NaN: unknown, left out), in row order with
    Kahan's compensation (as polars sums a group)."""
    sums = np.zeros(n_codes, dtype=np.float64)
    compensation = np.zeros(n_codes, dtype=np.float64)
    for r in range(len(codes)):
        x = values[r]
        if np.isnan(x):
            continue
        g = codes[r]
        y = x - compensation[g]
        total = sums[g] + y
        compensation[g] = (total - sums[g]) - y
        sums[g] = total
    return sums


@njit(nogil=True, cache=True)
def dense_codes(ids: Array, code_of: Array, seen: Array) -> tuple[Array, Array]:
    # pragma: no cover - numba
    """Codes 0.. of `ids` (node ids, -1 allowed) in order of first appearance, and the id of
    each code. `code_of` is node-indexed (valid where seen != 0; seen zeros)."""
    codes = np.empty(len(ids), dtype=np.int32)
    uniques = np.empty(len(ids), dtype=np.int32)
    n = 0
    none = -1
    for r in range(len(ids)):
        v = ids[r]
        if v < 0:
            if none < 0:
                none = n
                uniques[n] = -1
                n += 1
            codes[r] = none
            continue
        if not seen[v]:
            seen[v] = 1
            code_of[v] = n
            uniques[n] = v
            n += 1
        codes[r] = code_of[v]
    return codes, uniques[:n]
