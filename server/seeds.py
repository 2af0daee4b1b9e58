"""Seed keys as people type or scan them: a canonical node key passes through unchanged; a
scanned GS1 element string (with or without AIM prefix and separators), its bracketed text or
a GS1 Digital Link becomes the node key the loaders give that item, so every query verb
accepts what `parse-barcode` reads. An input that reads more than one way is an error listing
the readings, never a guess."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from domain.errors import InvalidInput

__all__ = ["resolve_seed", "resolve_seeds", "seed_key", "seed_keys"]

_LOOKS_SCANNED = re.compile(r"^(\]|\(|\d|https?://)|\x1d")
"""Text that may be a barcode: AIM prefix, bracketed AIs, digits, a URL, or a GS inside.
Canonical keys (urn:epc:..., erp:..., hibc:...) never match, so they pass untouched."""


def seed_key(text: str) -> str:
    """The node key for one typed or scanned seed (see the module docstring)."""
    if not _LOOKS_SCANNED.search(text):
        return text
    from loaders.barcodes import parse  # noqa: PLC0415 - biip loads only for scanned text

    reading = parse(text.replace("{GS}", "\x1d"))
    if reading.error or reading.key is None:
        return text  # not a barcode after all: the graph says whether the key exists
    if reading.confidence == "ambiguous":
        others = [a.get("key") for a in reading.alternatives if a.get("key")]
        raise InvalidInput(
            f"{text!r} reads more than one way without a GS separator: {reading.key!r} or "
            + " or ".join(repr(k) for k in others) + "; rescan it or give the key")
    return reading.key


def seed_keys(texts: Iterable[str]) -> list[str]:
    return [seed_key(text) for text in texts]


def resolve_seed(graph: Any, text: str) -> str:
    """The node key for `text` in `graph`: the key itself, else the one node `find` gives
    for it (a barcode, GTIN + lot, ERP material + batch, delivery number, ...). More than one
    candidate is an error listing them; none passes `text` on, so the query names it
    unknown, with its suggestions."""
    key = seed_key(text)
    if not hasattr(graph, "view"):  # a remote server resolves what it is sent
        return key
    from recall.find import find  # noqa: PLC0415 - loaded only when a seed is not a key

    view = graph.view()
    if int(view.lookup([key])[0]) >= 0:
        return key
    candidates = find(view, text, limit=6)
    if len(candidates) == 1:
        return str(candidates[0].key)
    if candidates:
        listed = "; ".join(f"{c.key} ({c.why})" for c in candidates[:5])
        more = " and more" if len(candidates) > 5 else ""
        raise InvalidInput(f"{text!r} names {len(candidates)} nodes{more}: {listed}; give "
                           "one key")
    return key


def resolve_seeds(graph: Any, texts: Iterable[str]) -> list[str]:
    return [resolve_seed(graph, text) for text in texts]
