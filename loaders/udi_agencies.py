"""The non-GS1 UDI issuing agencies' barcodes: HIBCC (HIBC LIC primary, secondary and combined
data, with the mod-43 check character) and ICCBBA ISBT 128 data identifiers. Each parser fills
a `Barcode` or raises `Invalid` saying why the input is not one."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from loaders.barcode_model import Barcode, Invalid

__all__ = ["hibc", "isbt128"]

_HIBC_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"


# -- HIBCC -------------------------------------------------------------------------------------

def _hibc_check(data: str) -> str:
    total = 0
    for char in data:
        if char not in _HIBC_CHARS:
            raise Invalid(f"character {char!r} is not allowed in HIBC data")
        total += _HIBC_CHARS.index(char)
    return _HIBC_CHARS[total % 43]


def hibc(text: str, out: Barcode) -> None:
    """HIBC LIC: +primary[check] or +primary/secondary[check]; the last character checks the
    whole string (mod 43)."""
    body, check = text[:-1], text[-1:]
    if len(text) < 6:
        raise Invalid("HIBC data too short")
    expected = _hibc_check(body)
    if check != expected:
        raise Invalid(f"HIBC check character is {check!r}, expected {expected!r}")
    primary, _, secondary = body[1:].partition("/")
    if not re.fullmatch(r"[A-Z][A-Z0-9]{3}[A-Z0-9]{1,18}[0-9]", primary):
        raise Invalid("HIBC primary data must be a 4-character labeler code, a product code "
                       "and a unit-of-measure digit")
    out.agency, out.gtin, out.confidence = "HIBCC", primary, "certain"
    if secondary:
        fields = secondary.split("/")
        _hibc_secondary(fields[0], out)
        for extra in fields[1:]:
            _hibc_supplemental(extra, out)
    key = f"hibc:{primary}"
    if out.serial:
        key += f":sn:{out.serial}"
    elif out.lot:
        key += f":lot:{out.lot}"
    out.key = key


def _hibc_secondary(data: str, out: Barcode) -> None:
    if data.startswith("$$"):
        rest = data[2:]
        serial = rest.startswith("+")
        rest = rest.removeprefix("+")
        if rest[:1] == "8":
            rest = rest[3:]  # quantity, 2 digits
        elif rest[:1] == "9":
            rest = rest[6:]  # quantity, 5 digits
        out.expiry, rest = _hibc_date(rest)
        _lot_or_serial(rest, serial, out)
    elif data.startswith("$"):
        rest = data[1:]
        serial = rest.startswith("+")
        _lot_or_serial(rest.removeprefix("+"), serial, out)
    elif re.match(r"^\d{5}", data):  # legacy: YYJJJ expiry, then the lot
        out.expiry = _julian(data[:2], data[2:5])
        out.lot = data[5:] or None
    elif data:
        _hibc_supplemental(data, out)


def _lot_or_serial(value: str, serial: bool, out: Barcode) -> None:
    if value:
        if serial:
            out.serial = value
        else:
            out.lot = value


def _hibc_date(rest: str) -> tuple[str | None, str]:
    """An HIBC expiry in the format its first digit selects; returns (ISO date, the rest)."""
    kind = rest[:1]
    try:
        if kind in ("0", "1"):  # MMYY
            return f"20{rest[2:4]}-{rest[0:2]}", rest[4:]
        if kind == "2":  # MMDDYY
            return date(2000 + int(rest[5:7]), int(rest[1:3]), int(rest[3:5])).isoformat(), \
                rest[7:]
        if kind == "3":  # YYMMDD
            return date(2000 + int(rest[1:3]), int(rest[3:5]), int(rest[5:7])).isoformat(), \
                rest[7:]
        if kind == "4":  # YYMMDDHH
            day = date(2000 + int(rest[1:3]), int(rest[3:5]), int(rest[5:7]))
            return f"{day.isoformat()}T{int(rest[7:9]):02d}", rest[9:]
        if kind == "5":  # YYJJJ
            return _julian(rest[1:3], rest[3:6]), rest[6:]
        if kind == "6":  # YYJJJHH
            return f"{_julian(rest[1:3], rest[3:6])}T{int(rest[6:8]):02d}", rest[8:]
        if kind == "7":  # no expiry date
            return None, rest[1:]
    except ValueError as e:
        raise Invalid(f"HIBC expiry date is malformed: {e}") from None
    return None, rest


def _julian(year: str, day: str) -> str:
    try:
        return (date(2000 + int(year), 1, 1) + timedelta(days=int(day) - 1)).isoformat()
    except ValueError as e:
        raise Invalid(f"HIBC Julian date {year}{day} is malformed") from e


def _hibc_supplemental(data: str, out: Barcode) -> None:
    try:
        if data.startswith("S"):
            out.serial = data[1:]
        elif data.startswith("16D"):
            out.production_date = datetime.strptime(data[3:11], "%Y%m%d").date().isoformat()
        elif data.startswith("14D"):
            out.expiry = datetime.strptime(data[3:11], "%Y%m%d").date().isoformat()
    except ValueError as e:
        raise Invalid(f"HIBC date {data!r} is malformed") from e


# -- ICCBBA ISBT 128 ---------------------------------------------------------------------------

_ISBT = (("=/", 16, "product"), ("=,", 6, "serial"), ("=>", 6, "expiry"),
         ("=}", 6, "production"), ("&,1", 18, "lot"))


def isbt128(text: str, out: Barcode) -> None:
    rest = text
    while rest:
        for prefix, size, name in _ISBT:
            if rest.startswith(prefix):
                value = rest[len(prefix): len(prefix) + size]
                if len(value) != size:
                    raise Invalid(f"ISBT 128 {prefix} data is {len(value)} characters, "
                                   f"expected {size}")
                rest = rest[len(prefix) + size:]
                if name == "product":
                    out.gtin = value
                elif name == "serial":
                    out.serial = value
                elif name == "lot":
                    out.lot = value
                else:
                    day = _isbt_date(value)
                    if name == "expiry":
                        out.expiry = day
                    else:
                        out.production_date = day
                break
        else:
            match = re.match(r"^=[A-Z0-9]{15}", rest)  # donation identification number
            if match is None:
                raise Invalid(f"unknown ISBT 128 data identifier at {rest[:4]!r}")
            rest = rest[match.end():]
    if out.gtin is None:
        raise Invalid("ISBT 128 data without a processor product identification code (=/)")
    out.agency, out.confidence = "ICCBBA", "certain"
    out.key = f"isbt128:{out.gtin}" + (f":sn:{out.serial}" if out.serial else
                                        f":lot:{out.lot}" if out.lot else "")


def _isbt_date(value: str) -> str:
    """cyyjjj: century digit, year, day of year."""
    if not value.isdigit():
        raise Invalid(f"ISBT 128 date {value!r} is not cyyjjj digits")
    year = 2000 + int(value[1:3]) + 100 * (int(value[0]) - 0)
    return (date(year, 1, 1) + timedelta(days=int(value[3:6]) - 1)).isoformat()
