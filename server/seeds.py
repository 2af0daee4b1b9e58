"""Seed keys as people type or scan them: a canonical node key passes through unchanged; a
scanned GS1 element string (with or without AIM prefix and separators), its bracketed text or
a GS1 Digital Link becomes the node key the loaders give that item, so every query verb
accepts what `parse-barcode` reads. An input that reads more than one way is an error listing
the readings, never a guess."""

from __future__ import annotations

import re
from collections.abc import Iterable

from domain.errors import InvalidInput

__all__ = ["seed_key", "seed_keys"]

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
