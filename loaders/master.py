"""Master data: who the customers are, what the products are, where the locations are.

A record is (kind, key, fields). The key is the node key the genealogy uses for it (a
customer node `erp:sap:customer:100234`, a location's SGLN, a lot's key for its expiry) or,
for a product, the product code nodes carry in `product` (a GTIN or part number). Records
come from ERP master exports through the same TOML data dictionary as movements
(`[[source.master]]` rules, loaders/erp.py; samples: loaders/mappings/sap_customers.toml,
sap_materials.toml, sap_batches.toml) and EPCIS headers (loaders/epcis_master.py), and are
kept in the store (index.master), each change an audit record with old and new values.

`level` of a product says what it is in the genealogy: `finished` (a device shipped to
customers), `subassembly` or `component`.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DATE_FIELDS", "FIELDS", "KINDS", "LEVELS", "normalized"]

FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "customer": ("name", "street", "city", "postal_code", "region", "country", "contact",
                 "phone", "email"),
    "product": ("gtin", "part", "description", "device_class", "uom", "level"),
    "location": ("name", "street", "city", "postal_code", "region", "country", "gln"),
    "lot": ("expiry", "production_date", "supplier_lot", "status"),
    "work_order": ("product", "planned_quantity", "uom", "planned_start", "planned_finish",
                   "plant"),
}
"""The fields each kind of record may have (all optional text)."""

KINDS: Final = tuple(FIELDS)
DATE_FIELDS: Final = frozenset({"expiry", "production_date", "planned_start",
                                "planned_finish"})
"""Fields that are dates: kept as ISO 8601 (YYYY-MM-DD); an ERP's YYYYMMDD is rewritten."""


def normalized(name: str, value: str) -> str:
    """`value` of field `name` as kept: dates as YYYY-MM-DD, everything else as given."""
    text = value.strip()
    if name in DATE_FIELDS and len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text
LEVELS: Final = ("finished", "subassembly", "component")
