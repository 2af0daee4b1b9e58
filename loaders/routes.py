"""Route definitions (TOML): what the device history record of every unit of a product must
hold. A sample: loaders/mappings/routes_sample.toml.

    [[route]]
    name = "IP-3 infusion pump"
    products = ["gtin:09506000134352"]     # the products (as nodes carry them) it governs
    operations = ["sterilization_load"]    # node kinds the unit's genealogy must pass through
    inspections = ["Final test"]           # titles of inspections done and passed on the
                                           # unit or upstream of it
    certificates = ["Resin CoA"]           # titles of certificates accepted upstream

Every list is optional; an unknown field, a route without products or a product in two routes
is an error naming the file and route.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from domain.errors import InvalidInput

__all__ = ["Route", "load_routes"]

_FIELDS = {"name", "products", "operations", "inspections", "certificates"}


@dataclass(frozen=True)
class Route:
    name: str
    products: tuple[str, ...]
    operations: tuple[str, ...] = ()
    inspections: tuple[str, ...] = ()
    certificates: tuple[str, ...] = ()


def load_routes(path: Path) -> list[Route]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{path}: not a readable TOML file ({e})") from None
    routes: list[Route] = []
    owner: dict[str, str] = {}
    for number, raw in enumerate(doc.get("route", []), start=1):
        where = f"{path}: route {number}"
        if not isinstance(raw, dict):
            raise InvalidInput(f"{where}: must be a table ([[route]])")
        unknown = set(raw) - _FIELDS
        if unknown:
            raise InvalidInput(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; a "
                               f"route has {', '.join(sorted(_FIELDS))}")
        lists: dict[str, tuple[str, ...]] = {}
        for name in ("products", "operations", "inspections", "certificates"):
            value = raw.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip()
                                                      for v in value):
                raise InvalidInput(f"{where}: {name} must be a list of names")
            lists[name] = tuple(v.strip() for v in value)
        if not lists["products"]:
            raise InvalidInput(f"{where}: names no products")
        name = str(raw.get("name") or f"route {number}")
        for product in lists["products"]:
            if product in owner:
                raise InvalidInput(f"{where}: product {product} is already in {owner[product]}")
            owner[product] = name
        routes.append(Route(name, lists["products"], lists["operations"],
                            lists["inspections"], lists["certificates"]))
    if not routes:
        raise InvalidInput(f"{path}: no [[route]] tables")
    return routes
