"""What a parsed barcode is (`Barcode`) and how a parser says an input is not one (`Invalid`),
shared by the GS1 parser (loaders.barcodes) and the HIBCC / ICCBBA parsers
(loaders.udi_agencies)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Barcode", "Invalid"]


@dataclass
class Barcode:
    """Canonical fields of one barcode. Dates are ISO text (an HIBC hour adds `THH`; a
    month-only expiry is `YYYY-MM`). `confidence` is "certain", "ambiguous" (see
    `alternatives`) or "unverified" (read, but a check failed: see `warnings`, for example a
    GTIN check digit as printed on some labels and in GUDID). `error` says why the input is not
    a valid barcode at all."""

    input: str
    agency: str | None = None
    gtin: str | None = None
    lot: str | None = None
    serial: str | None = None
    expiry: str | None = None
    production_date: str | None = None
    sscc: str | None = None
    key: str | None = None
    confidence: str | None = None
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Invalid(ValueError):
    """The input is not a valid barcode of the kind it looks like."""
