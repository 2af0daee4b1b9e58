"""EPCIS master data (the header's vocabulary list, EPCIS 1.2 and 2.0, JSON and XML) as master
data records (loaders.master): a Location vocabulary element becomes a location record keyed
by its SGLN (the key its events give the place, so a consignee list finds its address), an
EPCClass element a product record keyed by its class id. CBV master data attributes map to
our fields; others are left out (the whole document stays in DATA/events/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["read_master_data"]

Record = tuple[str, str, dict[str, str]]

_LOCATION = {"name": "name", "streetaddressone": "street", "city": "city",
             "postalcode": "postal_code", "countrycode": "country", "state": "region"}
_PRODUCT = {"regulatedproductname": "description", "descriptionshort": "description",
            "tradeitemdescription": "description",
            "additionaltradeitemidentification": "part"}


def _name(attribute_id: str) -> str:
    """`urn:epcglobal:cbv:mda#streetAddressOne` -> `streetaddressone` (also for `cbvmda:`)."""
    return attribute_id.rsplit("#", 1)[-1].rsplit(":", 1)[-1].lower()


def _record(vtype: str, element_id: str, attributes: list[tuple[str, Any]]) -> Record | None:
    kind = vtype.rsplit(":", 1)[-1].lower()
    table = {"location": _LOCATION, "epcclass": _PRODUCT}.get(kind)
    if table is None or not element_id:
        return None
    fields: dict[str, str] = {}
    street_two = ""
    for attribute_id, value in attributes:
        name = _name(attribute_id)
        if name == "streetaddresstwo" and isinstance(value, str):
            street_two = value.strip()
        field = table.get(name)
        if field is not None and isinstance(value, str | int | float) and field not in fields:
            fields[field] = str(value).strip()
    if street_two and "street" in fields:
        fields["street"] = f"{fields['street']}, {street_two}"
    if kind == "location":
        return "location", element_id, fields
    return "product", element_id, fields


def _from_json(doc: dict[str, Any]) -> list[Record]:
    header = doc.get("epcisHeader") or {}
    vocabularies = (header.get("epcisMasterData") or {}).get("vocabularyList") or []
    out = []
    for vocabulary in vocabularies if isinstance(vocabularies, list) else []:
        for element in vocabulary.get("vocabularyElementList") or []:
            attributes = [(a.get("id", ""), a.get("attribute"))
                          for a in element.get("attributes") or [] if isinstance(a, dict)]
            record = _record(str(vocabulary.get("type", "")), str(element.get("id", "")),
                             attributes)
            if record is not None:
                out.append(record)
    return out


def _from_xml(path: Path) -> list[Record]:
    from defusedxml import ElementTree  # noqa: PLC0415 - XML documents only

    out = []
    root = ElementTree.parse(path).getroot()
    for vocabulary in (e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Vocabulary"):
        for element in (e for e in vocabulary.iter()
                        if e.tag.rsplit("}", 1)[-1] == "VocabularyElement"):
            attributes = [(a.get("id", ""), (a.text or "").strip()) for a in element
                          if a.tag.rsplit("}", 1)[-1] == "attribute"]
            record = _record(vocabulary.get("type", ""), element.get("id", ""), attributes)
            if record is not None:
                out.append(record)
    return out


def read_master_data(path: Path) -> list[Record]:
    """The master data records a document's header carries (none when it has no vocabulary
    list, or cannot be read: the event reader reports that)."""
    try:
        if path.name.lower().endswith(".xml"):
            return _from_xml(path)
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except Exception:  # an unreadable document is the event reader's to report
        return []
    return _from_json(doc) if isinstance(doc, dict) else []
