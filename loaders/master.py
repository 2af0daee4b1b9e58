"""Master data: who the customers are, what the products are, where the locations are.

A record is (kind, key, fields). The key is the node key the genealogy uses for it (a
customer node `erp:sap:customer:100234`, a location's SGLN) or, for a product, the product
code nodes carry in `product` (a GTIN or part number). Records come from ERP master exports
through the same TOML data dictionary as movements (`[[source.master]]` rules,
loaders/erp.py; samples: loaders/mappings/sap_customers.toml, sap_materials.toml) and are
kept in the store (index.master), each change an audit record with old and new values.

`level` of a product says what it is in the genealogy: `finished` (a device shipped to
customers), `subassembly` or `component`.
"""

from __future__ import annotations

from typing import Final

__all__ = ["FIELDS", "KINDS", "LEVELS"]

FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "customer": ("name", "street", "city", "postal_code", "region", "country", "contact",
                 "phone", "email"),
    "product": ("gtin", "part", "description", "device_class", "uom", "level"),
    "location": ("name", "street", "city", "postal_code", "region", "country", "gln"),
}
"""The fields each kind of record may have (all optional text)."""

KINDS: Final = tuple(FIELDS)
LEVELS: Final = ("finished", "subassembly", "component")
