"""GS1 EPCIS 2.0 JSON / JSON-LD documents -> genealogy records, one batch per event.

Read with the standard library only: the JSON-LD context is never fetched (the document must
declare one, as EPCIS 2.0 requires; its terms are the standard's own names). Capture documents
(`EPCISDocument`, `epcisBody.eventList`) and query documents (`EPCISQueryDocument`,
`epcisBody.queryResults.resultsBody.eventList`) are both read.

Mapping (edges point the way material flows):
- TransformationEvent: inputs -> transformation node (`epcis:transformation:<id>`, a work
  order) -> outputs, from epcList and quantityList alike (`consumed`, `produced`);
- AggregationEvent ADD/OBSERVE: each child -> parent (`packed`); DELETE unpacks: the child's
  packing edge gets an end time (it stays in the genealogy: a recall over-includes rather than
  misses; the data-quality report uses the end to tell repacking from two places at once);
- AssociationEvent ADD/OBSERVE: each child -> parent (`associated`); DELETE ends it likewise;
- ObjectEvent with a destination list (shipping): each object -> a shipment node
  (`epcis:shipment:<event>`; `shipped`, with the quantityList quantity) -> each destination
  party or location (`delivered`);
- ObjectEvent `returning` (CBV 2.0) with a source list: a return is a shipment back, so it
  nets: each object -> `epcis:return:<event>` (`shipped` with a negative quantity: the
  quantityList's, or 1 for an instance EPC) -> each source party (`delivered`); the
  consignee list takes it off what that party received;
  receiving with a business location: each object -> that location (`received`); other
  ObjectEvents (commissioning, inspection, ...) create the nodes and keep the event;
- TransactionEvent: each object -> each business transaction (`associated`);
- an event carrying `errorDeclaration` retracts the edges that event made (by eventID), with
  the declared reason; history keeps them (`as_of` before still sees them).

Identifiers: EPC URNs are kept; GS1 Digital Link URIs become the same EPC URN (company prefix
from GS1's table, via `loaders.barcodes`), so both forms of an example trace alike; CURIEs
(`prefix:value` with a prefix the document's context defines) are expanded first. Every
problem names the document, the event (position and eventID) and the field.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.errors import InvalidInput
from loaders.barcodes import parse as parse_barcode

__all__ = ["EpcisEvent", "EventProblem", "read_any", "read_document", "read_xml_document"]

EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransformationEvent", "TransactionEvent",
               "AssociationEvent")
_ACTIONS = ("ADD", "OBSERVE", "DELETE")
_URN_KINDS = {
    "urn:epc:id:sgtin:": "serial", "urn:epc:class:lgtin:": "lot", "urn:epc:idpat:sgtin:": "lot",
    "urn:epc:id:sscc:": "logistic_unit", "urn:epc:id:sgln:": "location",
    "urn:epc:id:pgln:": "customer", "urn:epc:id:grai:": "equipment",
    "urn:epc:id:giai:": "equipment", "urn:epc:id:gsrn:": "equipment",
    "urn:epc:id:gdti:": "transaction", "urn:epc:id:gsin:": "shipment",
    "urn:epc:id:ginc:": "logistic_unit", "urn:epc:id:cpi:": "lot", "urn:epc:id:sgcn:": "lot",
    "urn:epc:id:itip:": "serial", "urn:epc:id:upui:": "serial",
}
_DL_KINDS = {"414": "location", "417": "customer", "8003": "equipment", "8004": "equipment",
             "8018": "equipment", "253": "transaction", "255": "lot", "401": "logistic_unit",
             "402": "shipment", "8006": "serial", "8010": "serial", "8017": "equipment"}
_SHIPPING = {"shipping", "departing"}
_RETURNING = {"returning"}
_RECEIVING = {"receiving", "arriving"}
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")


@dataclass
class EventProblem:
    """Why an event (or the whole document, event = 0) was not loaded."""

    document: str
    event: int  # 1-based position in the event list; 0 = the document
    event_id: str | None
    field: str
    reason: str

    def message(self) -> str:
        where = (f"event {self.event}" + (f" ({self.event_id})" if self.event_id else "")
                 if self.event else "document")
        return f"{self.document}: {where}: {self.field}: {self.reason}"


@dataclass
class EpcisEvent:
    """One event as genealogy: nodes (key -> kind), edges, and, for an error declaration, the
    retractions of the declared event's edges. `event_id` is the eventID or a content hash."""

    event_id: str
    type: str
    time: datetime
    content: str = ""  # SHA-256 of the event without errorDeclaration and recordTime
    nodes: dict[str, str] = field(default_factory=dict)
    edges: list[dict[str, Any]] = field(default_factory=list)
    ends: list[dict[str, Any]] = field(default_factory=list)  # src, dst, kind, at (DELETE)
    retract_reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


class _Bad(ValueError):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


def read_document(path: Path) -> tuple[list[EpcisEvent], list[EventProblem]]:
    """Every event of a JSON/JSON-LD EPCIS document, mapped, and the problems. A document that
    cannot be read at all is one problem (event 0); a bad event is skipped, the rest load."""
    name = str(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as e:
        raise InvalidInput(f"{path}: no such file") from e
    except (ValueError, UnicodeDecodeError) as e:
        return [], [EventProblem(name, 0, None, "json", f"not readable JSON: {e}")]
    if not isinstance(doc, dict):
        return [], [EventProblem(name, 0, None, "json", "not a JSON object")]
    context = doc.get("@context")
    if not context:
        return [], [EventProblem(name, 0, None, "@context", "an EPCIS 2.0 JSON document must "
                                 "declare @context (the GS1 EPCIS context)")]
    if doc.get("type") not in ("EPCISDocument", "EPCISQueryDocument"):
        return [], [EventProblem(name, 0, None, "type",
                                 f"type {doc.get('type')!r} is not EPCISDocument or "
                                 "EPCISQueryDocument")]
    prefixes = _prefixes(context)
    body = doc.get("epcisBody") or {}
    events = body.get("eventList")
    if events is None:
        events = ((body.get("queryResults") or {}).get("resultsBody") or {}).get("eventList")
    if not isinstance(events, list):
        return [], [EventProblem(name, 0, None, "epcisBody", "no eventList")]
    out, problems = [], []
    for number, raw in enumerate(events, start=1):
        event_id = raw.get("eventID") if isinstance(raw, dict) else None
        try:
            out.append(_event(raw, prefixes))
        except _Bad as e:
            problems.append(EventProblem(name, number, event_id, e.field, e.reason))
    return out, problems


def _prefixes(context: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in context if isinstance(context, list) else [context]:
        if isinstance(item, dict):
            found.update({k: v for k, v in item.items() if isinstance(v, str)})
    return found


def canonical(identifier: Any, prefixes: dict[str, str], field_name: str,
              default: str = "serial") -> tuple[str, str]:
    """(canonical key, node kind) of an EPCIS identifier. A scheme this loader does not know
    (a private URN such as urn:gdst:...) takes `default`, the kind its place implies: an
    epcClass is a lot, an epcList entry a unit, a parentID a logistic unit."""
    if not isinstance(identifier, str) or not identifier.strip():
        raise _Bad(field_name, f"identifier {identifier!r} is empty or not text")
    text = identifier.strip()
    head, _, rest = text.partition(":")
    if head in prefixes and not rest.startswith("//") and head not in ("urn", "http", "https"):
        text = prefixes[head] + rest  # a CURIE the context defines
    for prefix, kind in _URN_KINDS.items():
        if text.startswith(prefix):
            return text, kind
    if text.startswith(("http://", "https://")):
        parsed = parse_barcode(text)
        if parsed.error is None and parsed.key is not None:
            kind = ("serial" if parsed.serial else "logistic_unit" if parsed.sscc else "lot")
            return parsed.key, kind
        other = re.search(r"/(414|417|8003|8004|8018|253|255|401|402|8006|8010|8017)/"
                          r"([^/?#]+)((?:/[^/?#]+/[^/?#]+)*)", text)
        if parsed.error is None and other:
            # Keys other than GTIN and SSCC: the canonical Digital Link (host id.gs1.org, no
            # query), since these URIs name the same thing on any resolver.
            ai = other.group(1)
            return f"https://id.gs1.org/{ai}/{other.group(2)}{other.group(3)}", _DL_KINDS[ai]
        raise _Bad(field_name, f"{identifier!r} is not a GS1 Digital Link this loader "
                   f"understands ({parsed.error or 'no GS1 key'})")
    if text.startswith("urn:"):
        return text, "transaction" if ":bt:" in text else default
    raise _Bad(field_name, f"{identifier!r} is neither a URN, a GS1 Digital Link nor a "
               "CURIE of this document")


def _time(raw: dict[str, Any], name: str) -> datetime:
    value = raw.get(name)
    if not isinstance(value, str) or not _TIME.match(value):
        raise _Bad(name, f"{value!r} is not an ISO 8601 time with a zone (for example "
                   "2025-03-01T08:15:00.000+01:00)")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as e:
        raise _Bad(name, f"{value!r} is not a valid time: {e}") from None


def _ids(raw: dict[str, Any], name: str, prefixes: dict[str, str]) -> list[tuple[str, str]]:
    values = raw.get(name) or []
    if not isinstance(values, list):
        raise _Bad(name, "must be a list")
    return [canonical(v, prefixes, name) for v in values]


def _quantities(raw: dict[str, Any], name: str,
                prefixes: dict[str, str]) -> list[tuple[str, str, float | None]]:
    out = []
    for i, item in enumerate(raw.get(name) or [], start=1):
        if not isinstance(item, dict):
            raise _Bad(f"{name}[{i}]", "must be an object with epcClass and quantity")
        key, kind = canonical(item.get("epcClass"), prefixes, f"{name}[{i}].epcClass", "lot")
        quantity = item.get("quantity")
        if quantity is not None and (isinstance(quantity, bool)
                                     or not isinstance(quantity, (int, float))):
            raise _Bad(f"{name}[{i}].quantity", f"{quantity!r} is not a number")
        out.append((key, kind, None if quantity is None else float(quantity)))
    return out


def _content(raw: dict[str, Any]) -> str:
    body = {k: v for k, v in raw.items() if k not in ("errorDeclaration", "recordTime")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _event_key(raw: dict[str, Any]) -> str:
    event_id = raw.get("eventID")
    if isinstance(event_id, str) and event_id:
        return event_id
    return f"ni:///sha-256;{_content(raw)}"


def _event(raw: Any, prefixes: dict[str, str]) -> EpcisEvent:
    if not isinstance(raw, dict):
        raise _Bad("event", "must be a JSON object")
    kind = raw.get("type")
    if kind not in EVENT_TYPES:
        raise _Bad("type", f"{kind!r} is not one of {', '.join(EVENT_TYPES)}")
    when = _time(raw, "eventTime")
    action = raw.get("action")
    if kind != "TransformationEvent" and action not in _ACTIONS:
        raise _Bad("action", f"{action!r} is not ADD, OBSERVE or DELETE")
    event = EpcisEvent(_event_key(raw), kind, when, _content(raw), raw=raw)
    declaration = raw.get("errorDeclaration")
    if isinstance(declaration, dict):
        _time(declaration, "declarationTime")
        event.retract_reason = (f"EPCIS errorDeclaration: {declaration.get('reason') or 'no '}"
                                "reason given" if not declaration.get("reason") else
                                f"EPCIS errorDeclaration: {declaration['reason']}")

    def edge(src: str, dst: str, edge_kind: str, quantity: float | None = None) -> None:
        event.edges.append({"src": src, "dst": dst, "kind": edge_kind, "event_time": when,
                            "quantity": quantity, "event_id": event.event_id})

    def node(key: str, node_kind: str) -> str:
        event.nodes.setdefault(key, node_kind)
        return key

    if kind == "TransformationEvent":
        inputs = _ids(raw, "inputEPCList", prefixes) + [
            (k, n) for k, n, _ in _quantities(raw, "inputQuantityList", prefixes)]
        outputs = _ids(raw, "outputEPCList", prefixes) + [
            (k, n) for k, n, _ in _quantities(raw, "outputQuantityList", prefixes)]
        if not inputs and not outputs:
            raise _Bad("inputEPCList", "a TransformationEvent needs inputs or outputs")
        ident = raw.get("transformationID") or event.event_id
        hub = node(f"epcis:transformation:{ident}", "work_order")
        quantity_of = {k: q for k, _, q in _quantities(raw, "inputQuantityList", prefixes)}
        for key, node_kind in inputs:
            edge(node(key, node_kind), hub, "consumed", quantity_of.get(key))
        out_quantity = {k: q for k, _, q in _quantities(raw, "outputQuantityList", prefixes)}
        for key, node_kind in outputs:
            edge(hub, node(key, node_kind), "produced", out_quantity.get(key))
        return event
    if kind in ("AggregationEvent", "AssociationEvent"):
        if raw.get("parentID") is None and action != "OBSERVE":
            raise _Bad("parentID", f"an {kind} with action {action} needs a parentID")
        children = _ids(raw, "childEPCs", prefixes) + [
            (k, n) for k, n, _ in _quantities(raw, "childQuantityList", prefixes)]
        parent = raw.get("parentID")
        if parent is None:
            for key, node_kind in children:
                node(key, node_kind)
            return event
        parent_key, parent_kind = canonical(parent, prefixes, "parentID", "logistic_unit")
        node(parent_key, parent_kind)
        link = "packed" if kind == "AggregationEvent" else "associated"
        if action == "DELETE" and not children:  # everything is removed from the parent
            event.ends.append({"src": None, "dst": parent_key, "kind": link, "at": when})
        for key, node_kind in children:
            node(key, node_kind)
            if action == "DELETE":  # unpacked: the link ends now, and stays as history
                event.ends.append({"src": key, "dst": parent_key, "kind": link, "at": when})
            else:
                edge(key, parent_key, link)
        return event
    if "epcList" not in raw and "quantityList" not in raw:
        raise _Bad("epcList", f"an {kind} needs epcList or quantityList (empty lists are fine "
                   "for observations of a place)")
    objects = _ids(raw, "epcList", prefixes) + [
        (k, n) for k, n, _ in _quantities(raw, "quantityList", prefixes)]
    for key, node_kind in objects:
        node(key, node_kind)
    if kind == "TransactionEvent":
        for i, item in enumerate(raw.get("bizTransactionList") or [], start=1):
            ident = item.get("bizTransaction") if isinstance(item, dict) else None
            if not ident:
                raise _Bad(f"bizTransactionList[{i}]", "needs bizTransaction")
            hub = node(f"epcis:transaction:{ident}", "transaction")
            for key, _ in objects:
                edge(key, hub, "associated")
        return event
    step = _short(raw.get("bizStep"))
    destinations = [(d.get("destination"), _short(d.get("type")))
                    for d in raw.get("destinationList") or [] if isinstance(d, dict)]
    quantity_of = {k: q for k, _, q in _quantities(raw, "quantityList", prefixes)}
    if action != "DELETE" and step in _SHIPPING and destinations:
        shipment = node(f"epcis:shipment:{event.event_id}", "shipment")
        for key, _ in objects:
            edge(key, shipment, "shipped", quantity_of.get(key))
        for i, (target, role) in enumerate(destinations, start=1):
            target_key, _ = canonical(target, prefixes, f"destinationList[{i}]")
            # The role names what the destination is, whatever its identifier scheme.
            kind_of = "customer" if role in ("owning_party", "possessing_party") else "location"
            edge(shipment, node(target_key, kind_of), "delivered")
        return event
    sources = [(d.get("source"), _short(d.get("type")))
               for d in raw.get("sourceList") or [] if isinstance(d, dict)]
    if action != "DELETE" and step in _RETURNING and sources:
        back = node(f"epcis:return:{event.event_id}", "shipment")
        for key, _ in objects:
            returned = quantity_of.get(key, 1.0)
            edge(key, back, "shipped", None if returned is None else -returned)
        for i, (origin, role) in enumerate(sources, start=1):
            origin_key, _ = canonical(origin, prefixes, f"sourceList[{i}]")
            kind_of = "customer" if role in ("owning_party", "possessing_party") else "location"
            edge(back, node(origin_key, kind_of), "delivered")
        return event
    location = (raw.get("bizLocation") or {}).get("id") if isinstance(
        raw.get("bizLocation"), dict) else None
    if action != "DELETE" and step in _RECEIVING and location:
        place, _ = canonical(location, prefixes, "bizLocation", "location")
        node(place, "location")
        for key, _ in objects:
            edge(key, place, "received")
    return event


def _short(value: Any) -> str | None:
    """A CBV term without its namespace: 'urn:epcglobal:cbv:bizstep:shipping',
    'https://ref.gs1.org/cbv/BizStep-shipping' and 'shipping' -> 'shipping'."""
    if not isinstance(value, str):
        return None
    term = re.split(r"[:/#]", value)[-1]
    return re.sub(r"^(BizStep|SDT|Disp|BTT|ER)-", "", term) or None


def events_of(paths: list[Path]) -> Iterator[tuple[Path, list[EpcisEvent], list[EventProblem]]]:
    for path in paths:
        events, problems = read_document(path)
        yield path, events, problems


# -- XML (EPCIS 1.2 and 2.0) --------------------------------------------------------------------

_LIST_ITEMS = {"epcList": "epc", "childEPCs": "epc", "inputEPCList": "epc",
               "outputEPCList": "epc", "quantityList": "quantityElement",
               "childQuantityList": "quantityElement", "inputQuantityList": "quantityElement",
               "outputQuantityList": "quantityElement", "bizTransactionList": "bizTransaction",
               "sourceList": "source", "destinationList": "destination",
               "correctiveEventIDs": "correctiveEventID"}
_TYPED = {"bizTransaction", "source", "destination"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_event(element: Any) -> dict[str, Any]:
    """An XML event as the JSON shape: lists from their containers, typed entries as objects,
    1.2's <extension>/<baseExtension> flattened, quantities as numbers where they parse."""
    out: dict[str, Any] = {"type": _local(element.tag)}
    for child in element:
        name = _local(child.tag)
        if "}" in child.tag and not child.tag.startswith("{urn:epcglobal:epcis"):
            out[child.tag] = (child.text or "").strip()  # a user extension: kept as is
            continue
        if name in ("extension", "baseExtension"):
            out.update({k: v for k, v in _xml_event(child).items() if k != "type"})
        elif name in _LIST_ITEMS:
            items: list[Any] = []
            for item in child:
                if _local(item.tag) == "quantityElement":
                    entry = {_local(c.tag): (c.text or "").strip() for c in item}
                    if "quantity" in entry:
                        entry["quantity"] = _number(entry["quantity"])
                    items.append(entry)
                elif _local(item.tag) in _TYPED:
                    items.append({"type": item.get("type"), _local(item.tag):
                                  (item.text or "").strip()})
                else:
                    items.append((item.text or "").strip())
            out[name] = items
        elif name in ("readPoint", "bizLocation"):
            out[name] = {"id": (child.findtext("{*}id") or child.findtext("id") or "").strip()}
        elif name == "errorDeclaration":
            out[name] = {_local(c.tag): (c.text or "").strip() for c in child}
        elif name in EVENT_TYPES:  # 1.2 wraps TransformationEvent in <extension>
            out.update(_xml_event(child))
        elif len(child) == 0:
            out[name] = (child.text or "").strip()
        else:
            out[name] = {_local(c.tag): (c.text or "").strip() for c in child}
    return out


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text  # rejected by the quantity check, naming the field


def read_xml_document(path: Path) -> tuple[list[EpcisEvent], list[EventProblem]]:
    """Every event of an EPCIS 1.2 or 2.0 XML capture or query document (defusedxml: no
    entities, no external references)."""
    from defusedxml import ElementTree  # noqa: PLC0415 - XML documents only

    name = str(path)
    try:
        root = ElementTree.parse(path).getroot()
    except FileNotFoundError as e:
        raise InvalidInput(f"{path}: no such file") from e
    except Exception as e:  # ParseError and defusedxml's forbidden constructs
        return [], [EventProblem(name, 0, None, "xml", f"not readable XML: {e}")]
    if _local(root.tag) not in ("EPCISDocument", "EPCISQueryDocument"):
        return [], [EventProblem(name, 0, None, "root", f"root element {_local(root.tag)!r} "
                                 "is not EPCISDocument or EPCISQueryDocument")]
    lists = [e for e in root.iter() if _local(e.tag) == "EventList"]
    if not lists:
        return [], [EventProblem(name, 0, None, "EPCISBody", "no EventList")]
    out, problems = [], []
    number = 0
    for event_list in lists:
        for element in event_list:
            # 1.2 wraps newer event types: <extension><TransformationEvent>.
            children = list(element) if _local(element.tag) == "extension" else [element]
            for child in children:
                number += 1
                raw = _xml_event(child)
                try:
                    out.append(_event(raw, {}))
                except _Bad as e:
                    problems.append(EventProblem(name, number, raw.get("eventID"), e.field,
                                                 e.reason))
    return out, problems


def read_any(path: Path) -> tuple[list[EpcisEvent], list[EventProblem]]:
    """XML by its name, JSON/JSON-LD otherwise."""
    if path.name.lower().endswith(".xml"):
        return read_xml_document(path)
    return read_document(path)
