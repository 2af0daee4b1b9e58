"""Find nodes by what people have in hand: a scanned barcode (GS1 element string, with or
without AIM prefix and separators), a GS1 Digital Link, a GTIN with a lot or serial, an ERP
material with a batch or serial (leading zeros or not), a delivery or order number, or the
beginning of a key. Each candidate says why it matched; nothing is guessed: the caller decides
what an ambiguous input means (server.seeds refuses it, listing the candidates).

It reads the graph through engine.key_search (keys by their beginning) and View.lookup, and
barcodes through loaders.barcodes: it sits above both, with the recall workbench.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.key_search import erp_systems, with_prefix
from engine.view import View

__all__ = ["Candidate", "find"]

MAX_CANDIDATES = 20
_SPLIT = re.compile(r"[\s/;,|]+")
_DIGITS = re.compile(r"^\d+$")
_GTIN_LENGTHS = (8, 12, 13, 14)


@dataclass(frozen=True)
class Candidate:
    key: str
    kind: str
    product: str | None
    why: str


def _variants(value: str, width: int) -> list[str]:
    """An ERP number as typed, without leading zeros, and zero-padded to the field width."""
    out = [value, value.lstrip("0") or "0"]
    if _DIGITS.match(value):
        out.append(value.zfill(width))
    return list(dict.fromkeys(out))


def find(view: View, text: str, limit: int = MAX_CANDIDATES) -> list[Candidate]:
    """Candidate nodes for `text`, best first (see the module docstring)."""
    text = text.strip()
    if not text:
        return []
    found: dict[int, str] = {}

    def exact(key: str, why: str) -> None:
        node = int(view.lookup([key])[0])
        if node >= 0 and node not in found:
            found[node] = why

    exact(text, "the key itself")
    if found:
        return _candidates(view, found)
    _barcode(view, text, exact)
    parts = [p for p in _SPLIT.split(text) if p]
    if len(parts) == 2:
        first, second = parts
        if _DIGITS.match(first) and len(first) in _GTIN_LENGTHS:
            _barcode(view, f"(01){first.zfill(14)}(10){second}", exact,
                     why=f"GTIN {first} + lot {second}")
            _barcode(view, f"(01){first.zfill(14)}(21){second}", exact,
                     why=f"GTIN {first} + serial {second}")
        for system in erp_systems(view):
            for material in _variants(first, 18):
                for batch in _variants(second, 10):
                    exact(f"erp:{system}:lot:{material}:{batch}",
                          f"{system} material {first} + batch {second}")
                    exact(f"erp:{system}:serial:{material}:{batch}",
                          f"{system} material {first} + serial {second}")
    if len(parts) == 1:
        for system in erp_systems(view):
            for number in _variants(text, 10):
                exact(f"erp:{system}:shipment:{number}", f"{system} delivery {text}")
                exact(f"erp:{system}:work_order:{number}", f"{system} order {text}")
                exact(f"erp:{system}:customer:{number}", f"{system} customer {text}")
    if len(text) >= 4 and len(found) < limit:
        for node in with_prefix(view, text, limit - len(found)):
            found.setdefault(node, f"key starts with {text!r}")
    return _candidates(view, dict(list(found.items())[:limit]))


def _barcode(view: View, text: str, exact: Any, why: str | None = None) -> None:
    """The node a barcode names, or with only a GTIN, its lots and serials."""
    from loaders.barcodes import parse  # noqa: PLC0415 - biip loads only for scanned text

    reading = parse(text.replace("{GS}", "\x1d"))
    if reading.error or reading.key is None:
        return
    label = " + ".join(
        f"{name} {value}" for name, value in (("GTIN", reading.gtin), ("lot", reading.lot),
                                              ("serial", reading.serial),
                                              ("SSCC", reading.sscc)) if value)
    keys = [reading.key, *(a.get("key") for a in reading.alternatives if a.get("key"))]
    for key in (str(k) for k in keys if k):
        if key.startswith("urn:epc:idpat:sgtin:"):  # a GTIN alone: every lot and serial
            base = key.removeprefix("urn:epc:idpat:sgtin:").removesuffix("*")
            for prefix in (f"urn:epc:class:lgtin:{base}", f"urn:epc:id:sgtin:{base}"):
                for node in with_prefix(view, prefix, MAX_CANDIDATES):
                    exact(view.key_of(node), f"GTIN {reading.gtin}")
        else:
            exact(key, why or f"barcode: {label}")


def _candidates(view: View, found: dict[int, str]) -> list[Candidate]:
    ids = np.array(list(found), dtype=np.int32)
    keys = view.keys(ids).to_pylist()
    kinds = [view.node_kinds[int(c)] for c in view.node_kind[ids]]
    snap = view.snapshot
    products: list[str | None] = []
    for node in ids.tolist():
        if node < snap.node_count:
            products.append(snap.nodes.column("product")[node].as_py())
        else:
            assert view.delta is not None
            products.append(view.delta.new_node(node).get("product"))
    return [Candidate(k, kind, p, why) for k, kind, p, why
            in zip(keys, kinds, products, found.values(), strict=True)]
