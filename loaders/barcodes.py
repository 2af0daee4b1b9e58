"""GS1 and UDI barcodes -> canonical fields and a canonical node key.

`parse(text)` reads what a scanner sends or a label prints:
- GS1 element strings, with or without the GS (ASCII 29) separator, with AIM symbology prefixes
  (`]C1`, `]d2`, `]Q3`, `]e0`, `]E0`, ...), bracketed human-readable strings
  (`(01)...(17)...`) and GS1 Digital Link URIs, through `biip`, plus the Digital Link rules biip
  does not check (14-digit GTINs, no key qualifier or repeated AI in the query, no empty or
  unknown AI, custom path prefixes before the key);
- HIBCC (HIBC LIC primary, secondary and combined data, with the mod-43 check character);
- ICCBBA ISBT 128 data identifiers (product code, serial, lot, expiry, production date).

Ambiguity is said, never hidden: without a GS separator a variable-length field (a lot, say)
runs to the end, as the GS1 standard prescribes; if its tail would also read as further AIs, the
result has `confidence = "ambiguous"` and lists those readings in `alternatives`.

Keys: GS1 items become EPC URIs (`urn:epc:id:sgtin:...` with a serial, `urn:epc:class:lgtin:...`
with a lot, `urn:epc:idpat:sgtin:...` for the product alone, `urn:epc:id:sscc:...`), using the
company prefix length from GS1's prefix table, so a Digital Link, a bracketed string and a scan of
the same item give the same key. HIBCC and ICCBBA items get `hibc:` / `isbt128:` keys.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import biip
from biip.gs1_application_identifiers import GS1ApplicationIdentifier

from loaders.barcode_model import Barcode, Invalid
from loaders.udi_agencies import hibc, isbt128

__all__ = ["Barcode", "parse"]

GS = "\x1d"
_AIM = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
_GS1_SYMBOLOGIES = frozenset({"]C1", "]d2", "]Q3", "]e0", "]e1", "]J1"})
"""AIM identifiers of symbols whose data is a GS1 element string (GS1-128, GS1 DataMatrix, GS1
QR, GS1 DataBar, GS1 Composite, GS1 DotCode)."""
# Digital Link: primary keys and the qualifiers each may carry in the path (in this order).
# Digital Link: primary keys and the chains of qualifiers each may carry in the path (a path
# uses one chain, in its order; GTIN takes 22 > 10 > 21, or 235 alone).
_DL_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "01": (("22", "10", "21"), ("235",)), "8006": (("22", "10", "21"),),
    "8010": (("8011",),), "414": (("254",), ("7040",)), "415": (("8020",),), "00": (),
    "253": (), "255": (), "401": (), "402": (), "417": (), "8003": (), "8004": (),
    "8013": (), "8017": (("8019",),), "8018": (("8019",),),
}
# GS1 AI encodable character set 82.
_CSET82 = re.compile(r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]*$")


def parse(text: str) -> Barcode:
    """Parse one barcode; never raises for bad input (the result's `error` says why)."""
    result = Barcode(input=text)
    try:
        if not isinstance(text, str) or not text.strip():
            raise Invalid("empty input")
        body = text.strip("\r\n")
        aim = _AIM.match(body)
        payload = body[aim.end():] if aim else body
        if payload.startswith("+"):
            hibc(payload, result)
        elif payload.startswith(("=", "&")):
            isbt128(payload, result)
        elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", payload) or "://" in payload:
            if aim and aim.group(0) not in ("]Q1", "]d1", "]J1", "]C0"):
                raise Invalid(f"symbology {aim.group(0)} does not carry a URI")
            _digital_link(payload, result)
        else:
            if aim is not None and len(body) == 3:
                raise Invalid(f"symbology identifier {aim.group(0)} with no data")
            if body.startswith("]") and aim is None:
                raise Invalid("malformed symbology identifier")
            if aim is not None and aim.group(0).startswith("]E"):
                _ean(aim.group(0), payload)
            # A GS1 symbology identifier says only "GS1 data follows": strip it and judge the
            # data exactly as without it (with it left on, biip stops looking for other
            # readings, so a prefix turned an ambiguous string into a "certain" one).
            gs1_symbology = aim is not None and aim.group(0) in _GS1_SYMBOLOGIES
            _gs1(payload if gs1_symbology else body, result)
    except Invalid as e:
        return Barcode(input=text, error=str(e))
    return result


# -- GS1 ---------------------------------------------------------------------------------------

def _gs1(text: str, out: Barcode) -> None:
    hri = text.startswith("(")
    try:
        parsed = biip.parse(text) if not hri else None
        message = (biip.gs1_messages.GS1Message.parse_hri(text) if hri
                   else parsed.gs1_message if parsed else None)
    except biip.ParseError as e:
        raise Invalid(str(e)) from None
    if message is None:
        assert parsed is not None
        bare = (parsed.gs1_message_error is None
                or "Application Identifier" in parsed.gs1_message_error
                or text.startswith("]E"))
        if parsed.gtin is not None and bare:  # a plain EAN/UPC number, not element strings
            _fill_gtin(out, parsed.gtin.value)
            out.agency, out.confidence = "GS1", "certain"
            out.key = _gs1_key(out)
            return
        raise Invalid(_first_error(parsed) or "not a GS1 element string")
    _fill(out, message.element_strings)
    out.agency = "GS1"
    out.key = _gs1_key(out)
    out.confidence = "unverified" if out.warnings else "certain"
    if not hri:
        out.alternatives = _alternatives(text, message.element_strings)
        if out.alternatives:
            out.confidence = "ambiguous"


def _ean(aim: str, digits: str) -> None:
    """EAN/UPC symbols carry a fixed number of digits: 13 for ]E0, 8 for ]E4."""
    want = {"]E0": 13, "]E4": 8}.get(aim)
    if want is not None and (len(digits) != want or not digits.isdigit()):
        raise Invalid(f"{aim} carries {want} digits; got {digits!r}")


def _first_error(parsed: Any) -> str | None:
    for name in ("gs1_message_error", "gtin_error", "sscc_error", "upc_error"):
        value = getattr(parsed, name, None)
        if value:
            return str(value)
    return None


def _fill(out: Barcode, elements: Any) -> None:
    for element in elements:
        ai = element.ai.ai
        if ai == "01":
            if element.gtin_error:
                # Read it, but say so: real labels (and GUDID records) carry such GTINs.
                out.warnings.append(str(element.gtin_error))
            _fill_gtin(out, element.value)
        elif ai == "00":
            if element.sscc_error:
                raise Invalid(element.sscc_error)
            out.sscc = element.value
        elif ai == "10":
            out.lot = element.value
        elif ai == "21":
            out.serial = element.value
        elif ai == "17":
            out.expiry = _iso(element.date)
        elif ai == "11":
            out.production_date = _iso(element.date)
        if ai in _DATE_AIS and element.date is None:
            raise Invalid(f"AI ({ai}) {element.value!r} is not a valid date")


_DATE_AIS = frozenset({"11", "12", "13", "15", "16", "17"})


def _fill_gtin(out: Barcode, value: str) -> None:
    out.gtin = value.zfill(14)


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _alternatives(text: str, elements: Any) -> list[dict[str, Any]]:
    """Other readings when a variable-length value ran to the end with no GS: its tail could
    be further element strings. Each alternative is the fields of one reading."""
    if GS in text or not elements:
        return []
    last = elements[-1]
    if not last.ai.separator_required:
        return []
    value = last.value
    head = text[: len(text) - len(value)]
    found = []
    for cut in range(1, len(value) - 1):
        tail = value[cut:]
        try:
            message = biip.gs1_messages.GS1Message.parse(tail)
        except biip.ParseError:
            continue
        candidate = Barcode(input=text)
        try:
            whole = biip.gs1_messages.GS1Message.parse(head + value[:cut] + GS + tail)
            _fill(candidate, whole.element_strings)
        except (biip.ParseError, Invalid):
            continue
        if message.element_strings:
            candidate.agency = "GS1"
            candidate.key = _gs1_key(candidate)
            found.append({k: v for k, v in candidate.to_dict().items()
                          if k not in ("input", "alternatives", "confidence", "error")})
    return found


def _company_prefix(number: str) -> str | None:
    """GS1 company prefix of a GTIN-14 (without its indicator) or SSCC body, from GS1's table."""
    try:
        prefix = biip.gtin.Gtin.parse(number.lstrip("0").zfill(13)
                                      if len(number) == 13 else number).company_prefix
    except biip.ParseError:
        return None
    return prefix.value if prefix is not None else None


def _epc(value: str) -> str:
    return quote(value, safe="-_.!*'()+,;=:")


def _gs1_key(out: Barcode) -> str | None:
    if out.gtin:
        gtin = out.gtin
        prefix = _company_prefix(gtin)
        if prefix is None or not gtin[1:].startswith(prefix):
            base = f"https://id.gs1.org/01/{gtin}"  # no known company prefix: Digital Link
            if out.serial:
                return f"{base}/21/{quote(out.serial, safe='')}"
            return f"{base}/10/{quote(out.lot, safe='')}" if out.lot else base
        item = gtin[0] + gtin[1 + len(prefix): 13]
        if out.serial:
            return f"urn:epc:id:sgtin:{prefix}.{item}.{_epc(out.serial)}"
        if out.lot:
            return f"urn:epc:class:lgtin:{prefix}.{item}.{_epc(out.lot)}"
        return f"urn:epc:idpat:sgtin:{prefix}.{item}.*"
    if out.sscc:
        sscc = out.sscc
        try:
            parsed = biip.sscc.Sscc.parse(sscc)
        except biip.ParseError:
            return f"https://id.gs1.org/00/{sscc}"
        if parsed.company_prefix is None:
            return f"https://id.gs1.org/00/{sscc}"
        prefix = parsed.company_prefix.value
        return f"urn:epc:id:sscc:{prefix}.{sscc[0]}{sscc[1 + len(prefix): 17]}"
    return None


def _digital_link(uri: str, out: Barcode) -> None:
    """A GS1 Digital Link URI, with the syntax rules biip leaves out."""
    try:
        parts = urlsplit(uri)
    except ValueError as e:
        raise Invalid(f"not a URI: {e}") from None
    if uri.split(":", 1)[0] not in ("http", "https", "HTTP", "HTTPS") or not parts.netloc:
        raise Invalid("a GS1 Digital Link is an http(s) URI with a host")
    host = parts.hostname or ""
    if "%" in parts.netloc:  # an IPv6 zone identifier (or any escape) in the host
        raise Invalid("zone identifiers are not allowed in a Digital Link host")
    if not host:
        raise Invalid("a GS1 Digital Link needs a host")
    segments = parts.path.split("/")[1:]
    # The key is the right-most primary-key AI whose qualifiers follow it in order; anything
    # before it is the resolver's own path prefix.
    start = None
    for i in range(len(segments) - 2, -1, -2):
        ai = segments[i]
        if ai in _DL_KEYS and _chains(ai, segments[i + 2:][0::2]):
            start = i
    if start is None:
        raise Invalid(_no_key_reason(segments))
    path = segments[start:]
    if len(path) % 2 or any(s == "" for s in path):
        raise Invalid("the Digital Link path must be pairs of /AI/value")
    pairs = list(zip(path[0::2], path[1::2], strict=True))
    primary = pairs[0][0]
    if primary == "01" and len(pairs[0][1]) != 14:
        raise Invalid(f"GTIN {pairs[0][1]!r} in a Digital Link must have 14 digits")
    query = parse_qsl(parts.query, keep_blank_values=True)
    seen = {ai for ai, _ in pairs}
    in_chain = {ai for chain in _chains(primary, [ai for ai, _ in pairs[1:]]) for ai in chain}
    attributes = []
    for name, value in query:
        if not name.isdigit():
            continue  # non-AI query parameters are the resolver's business
        if not _known_ai(name):
            raise Invalid(f"{name!r} in the query is not a GS1 Application Identifier")
        if value == "":
            raise Invalid(f"AI {name} in the query has no value")
        if name in seen:
            raise Invalid(f"AI {name} appears twice")
        if name in in_chain:
            raise Invalid(f"AI {name} qualifies the key {primary}; it belongs in the path")
        seen.add(name)
        attributes.append((name, value))
    for ai, value in [*pairs, *attributes]:
        if not _CSET82.match(value):
            raise Invalid(f"AI {ai} value {value!r} has characters outside GS1 set 82")
    text = "".join(f"({ai}){value}" for ai, value in [*pairs, *attributes])
    try:
        message = biip.gs1_messages.GS1Message.parse_hri(text)
    except biip.ParseError as e:
        raise Invalid(str(e)) from None
    _fill(out, message.element_strings)
    out.agency = "GS1"
    out.key = _gs1_key(out)
    # One check-digit policy for every form: read, flagged, never silently "certain".
    out.confidence = "unverified" if out.warnings else "certain"


def _no_key_reason(segments: list[str]) -> str:
    """Why a Digital Link path has no usable primary key: a key whose qualifiers are out of
    order (or do not qualify it) says so, naming the order GS1 prescribes."""
    for i in range(len(segments) - 2, -1, -2):
        ai = segments[i]
        if ai in _DL_KEYS:
            qualifiers = segments[i + 2:][0::2]
            orders = " or ".join("/".join(chain) for chain in _DL_KEYS[ai] if chain)
            if not orders:
                return (f"the key /{ai} takes no qualifiers; got "
                        f"/{'/'.join(qualifiers)} after it")
            return (f"the qualifiers after /{ai} (/{'/'.join(qualifiers)}) are not in GS1's "
                    f"order ({orders}): write them in that order")
    return "no GS1 primary key (such as /01/<GTIN> or /00/<SSCC>) in the path"


def _known_ai(name: str) -> bool:
    try:
        return bool(GS1ApplicationIdentifier.extract(name).ai == name)
    except biip.ParseError:
        return False


def _chains(primary: str, qualifiers: list[str]) -> list[tuple[str, ...]]:
    """The qualifier chains of `primary` that `qualifiers` follows in order (all of them when
    there are no qualifiers; [()] for a key that takes none and has none)."""
    chains = _DL_KEYS[primary] or ((),)
    fits = []
    for chain in chains:
        position = 0
        for ai in qualifiers:
            if ai not in chain[position:]:
                break
            position = chain.index(ai) + 1
        else:
            fits.append(chain)
    return fits
