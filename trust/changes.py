"""What a correction may change, each kind checked, named for the audit trail, inverted for a
rollback and turned into the records of the batch that applies it.

An edge change lists exactly the edge assertions it touches, each {src, dst, kind,
event_time, event_id, quantity (decimal text)}, found in the live store when it is proposed:
the approver signs exactly what will change, and a rollback restores exactly that (an
assertion keeps its event time, event id and quantity).

    retract-edge     {edges: [assertion, ...]}: retract these assertions
    restore-edge     {edges: [assertion, ...]}: assert them again
    move-serial      {serial, from, to, kind, edges: [assertion of from -> serial, ...]}:
                     the serial's parent becomes `to`; each assertion moves with its event
                     time, event id and quantity (one log entry: never both parents, never none)
    set-attribute    {key, field, value, previous}: a node's product, quantity, uom or
                     created_at (index.attributes; text, "" or None clears it); `previous`
                     is the value it had when proposed (the audit record's old value)
    approval-policy  {policy: TOML text, previous: TOML text}: who approves which change
                     (trust.approvals)
    quality-record   {record_id, version, content, previous}: the record's next version is
                     `content` (a status moved back, other fields: what an import refuses);
                     `version` is the newest one when proposed, which it must still be
                     (index.quality_records.QualityRecords.correction builds and checks it)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import polars as pl

from domain.errors import InvalidInput
from domain.time import from_micros, parse_time, to_micros
from index.attributes import AttributeRequest, log_value
from index.ingest import RetractionRequest

__all__ = ["CHANGES", "Lookup", "NodeLookup", "attributes_of", "checked", "describe",
           "edges_frame", "inverse", "keys_of", "retractions_of"]

CHANGES = ("retract-edge", "restore-edge", "move-serial", "set-attribute", "approval-policy",
           "quality-record")
Change = dict[str, Any]
Assertion = tuple[int | None, str | None, float | None]  # event_time µs, event_id, quantity
Lookup = Callable[[str, str, str, int | None, str | None], list[Assertion]]
"""(src, dst, kind, event_time, event_id) -> the live assertions a retraction of them names
(index.live.LiveStore.assertions)."""
NodeLookup = Callable[[str], dict[str, Any]]
"""key -> the node's attributes now (index.live.LiveStore.node; UnknownNode if none)."""


def checked(change: Change, lookup: Lookup | None, node: NodeLookup | None = None) -> Change:
    """`change` in its canonical form, or InvalidInput naming what is wrong. An edge change
    may name a link (src, dst, kind and optionally event_time and event_id) instead of its
    assertions: they are looked up (`lookup`), and a retraction or move that names nothing
    live is refused now, not at approval."""
    kind = change.get("type")
    if kind not in CHANGES:
        raise InvalidInput(f"a correction changes one of: {', '.join(CHANGES)}; got {kind!r}")
    if kind == "approval-policy":  # its TOML is checked by trust.approvals.parse_policy
        text = change.get("policy")
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("approval-policy needs the policy's TOML text")
        return {"type": kind, "policy": text, "previous": change.get("previous")}
    if kind == "quality-record":
        record_id = _text(change, "record_id", kind)
        version, content, previous = (change.get("version"), change.get("content"),
                                      change.get("previous"))
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise InvalidInput("quality-record needs the version it corrects")
        if not isinstance(content, dict) or not isinstance(previous, dict) or (
                content.get("record_id") != record_id or not content.get("keys")):
            raise InvalidInput("quality-record needs the record's new content and its "
                               "previous content (QualityRecords.correction)")
        return {"type": kind, "record_id": record_id, "version": version,
                "content": content, "previous": previous}
    if kind == "set-attribute":
        key, name = _text(change, "key", kind), _text(change, "field", kind)
        value = change.get("value")
        if value is not None and not isinstance(value, str):
            value = str(value)
        parsed = log_value(name, value)  # refuses a field or value that cannot be set
        if parsed is not None and name == "quantity":
            value = repr(parsed)  # one spelling per number: "500" and "500.0" are one value
        elif parsed is not None and name == "created_at":
            value = from_micros(parsed).isoformat()
        previous = change.get("previous")
        if node is not None:
            was = node(key).get(name)  # UnknownNode names a wrong key, with suggestions
            previous = None if was is None else (was.isoformat() if isinstance(was, datetime)
                                                 else repr(was) if isinstance(was, float)
                                                 else str(was))
        if (value or None) == previous:
            raise InvalidInput(f"set-attribute: {key} {name} is {previous!r} already")
        return {"type": kind, "key": key, "field": name, "value": value or None,
                "previous": previous}
    if kind == "move-serial":
        for name in ("serial", "from", "to", "kind"):
            _text(change, name, kind)
        if change["from"] == change["to"]:
            raise InvalidInput("move-serial: from and to are the same node")
        edges = change.get("edges") or _looked_up(
            {"src": change["from"], "dst": change["serial"], "kind": change["kind"]}, lookup,
            kind)
        edges = [_assertion(e, kind) for e in edges]
        if any((e["src"], e["dst"], e["kind"]) != (change["from"], change["serial"],
                                                     change["kind"]) for e in edges):
            raise InvalidInput("move-serial: every edge must be from -> serial of its kind")
        return {"type": kind, "serial": change["serial"], "from": change["from"],
                "to": change["to"], "kind": change["kind"], "edges": edges}
    edges = change.get("edges")
    if edges is None:  # one link named: its assertions (a restore names one itself)
        _text(change, "src", kind), _text(change, "dst", kind), _text(change, "kind", kind)
        edges = ([change] if kind == "restore-edge" or lookup is None
                 else _looked_up(change, lookup, kind))
    if not isinstance(edges, list) or not edges:
        raise InvalidInput(f"{kind} needs at least one edge")
    canonical = [_assertion(e, kind) for e in edges]
    unique = [e for n, e in enumerate(canonical) if e not in canonical[:n]]
    if kind == "retract-edge" and lookup is not None and change.get("edges") is not None:
        for e in unique:  # named assertions: each must be live now
            _looked_up(e, lookup, kind)
    return {"type": kind, "edges": unique}


def keys_of(change: Change) -> list[str]:
    """The node keys a change touches (the audit record's keys), each once, in order."""
    if change["type"] == "approval-policy":
        return ["approval-policy"]
    if change["type"] == "move-serial":
        return [change["serial"], change["from"], change["to"]]
    if change["type"] == "set-attribute":
        return [change["key"]]
    if change["type"] == "quality-record":
        return [f"quality:{change['record_id']}", *change["content"]["keys"]]
    keys: list[str] = []
    for e in change["edges"]:
        keys += [k for k in (e["src"], e["dst"]) if k not in keys]
    return keys


def describe(change: Change) -> str:
    """One line a person reads: what the change does."""
    if change["type"] == "approval-policy":
        return "approval-policy: a new approval policy (tracegraph correct show ID)"
    if change["type"] == "set-attribute":
        return (f"set-attribute: {change['key']} {change['field']} {change['previous']!r} -> "
                f"{change['value']!r}")
    if change["type"] == "quality-record":
        old, new = change["previous"], change["content"]
        fields = sorted(k for k in {*old, *new} if k != "status" and old.get(k) != new.get(k))
        return (f"quality-record: {change['record_id']} v{change['version']} "
                f"{old.get('status')} -> {new.get('status')}"
                + (f"; {', '.join(fields)} changed" if fields else ""))
    if change["type"] == "move-serial":
        return (f"move-serial: {change['serial']} from {change['from']} to {change['to']} "
                f"({change['kind']}, {len(change['edges'])} assertion(s))")
    links = sorted({f"{e['src']} -> {e['dst']} ({e['kind']})" for e in change["edges"]})
    more = f" and {len(links) - 2} more link(s)" if len(links) > 2 else ""
    return (f"{change['type']}: {'; '.join(links[:2])}{more} "
            f"[{len(change['edges'])} assertion(s)]")


def inverse(change: Change) -> Change:
    """The change that undoes `change` (a rollback proposes it)."""
    if change["type"] == "approval-policy":
        if change.get("previous") is None:
            raise InvalidInput("this policy change has no previous policy to go back to")
        return {"type": "approval-policy", "policy": change["previous"],
                "previous": change["policy"]}
    if change["type"] == "set-attribute":
        return {**change, "value": change["previous"], "previous": change["value"]}
    if change["type"] == "quality-record":  # the applied version is newest now
        return {**change, "version": change["version"] + 1, "content": change["previous"],
                "previous": change["content"]}
    if change["type"] == "move-serial":
        return {**change, "from": change["to"], "to": change["from"],
                "edges": [{**e, "src": change["to"]} for e in change["edges"]]}
    flipped = {"retract-edge": "restore-edge", "restore-edge": "retract-edge"}
    return {"type": flipped[change["type"]], "edges": change["edges"]}


def attributes_of(change: Change) -> list[AttributeRequest]:
    """The node attribute changes that apply `change`."""
    if change["type"] != "set-attribute":
        return []
    return [AttributeRequest(change["key"], change["field"], change["value"],
                             change["previous"])]


def retractions_of(change: Change, reason: str) -> list[RetractionRequest]:
    """The retractions that apply `change` (each names one assertion)."""
    if change["type"] not in ("retract-edge", "move-serial"):
        return []
    return [RetractionRequest(e["src"], e["dst"], e["kind"], reason,
                              parse_time(e["event_time"]), e["event_id"])
            for e in change["edges"]]


def edges_frame(change: Change) -> pl.DataFrame | None:
    """The edges `change` asserts, as an ingest table (None: none)."""
    if change["type"] == "restore-edge":
        edges: Sequence[Change] = change["edges"]
    elif change["type"] == "move-serial":
        edges = [{**e, "src": change["to"]} for e in change["edges"]]
    else:
        return None
    return pl.DataFrame(
        {"src": [e["src"] for e in edges], "dst": [e["dst"] for e in edges],
         "kind": [e["kind"] for e in edges], "event_time": [e["event_time"] for e in edges],
         "event_id": [e["event_id"] for e in edges],
         "quantity": [None if e["quantity"] is None else float(e["quantity"]) for e in edges]},
        schema={"src": pl.String, "dst": pl.String, "kind": pl.String,
                "event_time": pl.String, "event_id": pl.String, "quantity": pl.Float64})


def _looked_up(link: Change, lookup: Lookup | None, kind: str) -> list[Change]:
    if lookup is None:
        raise InvalidInput(f"{kind}: name the edges (no live store to look them up)")
    when = to_micros(parse_time(link.get("event_time"), "event_time"))
    found = lookup(link["src"], link["dst"], link["kind"], when, link.get("event_id") or None)
    if not found:
        raise InvalidInput(
            f"{kind}: no live {link['kind']!r} edge {link['src']!r} -> {link['dst']!r}"
            + ("" if when is None else " at that event_time")
            + ("" if not link.get("event_id") else f" asserted by event {link['event_id']!r}"))
    return [{"src": link["src"], "dst": link["dst"], "kind": link["kind"],
             "event_time": None if t is None else from_micros(t).isoformat(),
             "event_id": i, "quantity": q} for t, i, q in found]


def _assertion(edge: Any, kind: str) -> Change:
    if not isinstance(edge, dict):
        raise InvalidInput(f"{kind}: an edge is an object with src, dst and kind")
    for name in ("src", "dst", "kind"):
        _text(edge, name, kind)
    when = parse_time(edge.get("event_time"), "event_time")
    quantity = edge.get("quantity")
    if quantity is not None:
        try:
            amount = float(quantity)
        except (TypeError, ValueError):
            amount = -1.0
        if not amount >= 0 or amount == float("inf"):
            raise InvalidInput(f"{kind}: quantity must be a number >= 0, got {quantity!r}")
        # As text (repr round-trips a float exactly): canonical bytes have no floats.
        quantity = repr(amount)
    return {"src": edge["src"], "dst": edge["dst"], "kind": edge["kind"],
            "event_time": None if when is None else when.isoformat(),
            "event_id": edge.get("event_id") or None, "quantity": quantity}


def _text(change: Change, name: str, kind: str) -> str:
    value = change.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{kind} needs {name}")
    return value
