"""Canonical bytes of a record: what is hashed and signed, so the same record always gives the
same bytes (protobuf's encoding is not canonical; neither is Python's default JSON).

JSON with keys sorted by code point, no insignificant whitespace, UTF-8 without escapes, and
only these values: str, int (in the IEEE-754 safe range, as RFC 8785 requires for
interoperability), bool, None, lists and string-keyed dicts of them. Floats are refused:
their text form is where canonical JSON schemes differ, and an audit record needs none
(quantities are written as decimal strings)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["SAFE_INTEGER", "canonical_bytes"]

SAFE_INTEGER = 2**53 - 1


def canonical_bytes(value: Any) -> bytes:
    """The canonical encoding of `value`; ValueError names the first value that has none."""
    _check(value, "$")
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _check(value: Any, where: str) -> None:
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if abs(value) > SAFE_INTEGER:
            raise ValueError(f"{where}: integer {value} is outside +-(2^53 - 1)")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: key {key!r} is not a string")
            _check(item, f"{where}.{key}")
        return
    raise ValueError(f"{where}: {type(value).__name__} has no canonical form "
                     "(use str, int, bool, None, lists and dicts)")
