"""ERP and MES exports -> canonical node and edge tables, through a declarative mapping (TOML).

The mapping is the data dictionary: which export (recognised by its columns) yields which nodes
and edges, how keys are built from templates (`erp:{system}:lot:{MATNR}:{CHARG}`), which rows a
rule applies to (`when`: a column that must be present, or a column whose value is in a list, as
movement types are), times (template, format, the plant's time zone) and quantities. See
`loaders/mappings/*.toml` for an SAP-like goods-movement table and an MES as-built table.

    [mapping]  system, timezone (IANA, naive export times are local there), time_format
    [[source]] name, match = [columns that identify the export]
      [[source.node]] key, kind, product?, uom?, quantity?, when?
      [[source.edge]] src, dst, kind, time?, quantity?, event_id?, when?
      [[source.master]] kind (customer, product or location), key, when?, and any of the
                        kind's fields (loaders.master.FIELDS: name, street, city, country,
                        gtin, description, level, ...); a field left empty is null
      [[source.quality]] a QMS export's rows as quality records (loaders.quality_records):
                        record_id, record_type, key, status, opened_at, title, and any of
                        closed_at, result, disposition, capa_id, effective_from, products,
                        inspector, measurements; times as for edges; `values` translates the
                        export's vocabulary ({status = {CLSD = "closed"}}); `when`

Templates: `{COLUMN}` takes the export column, `{system}` the mapping's system, other text is
literal (`kind = "lot"`); `quantity` may also name its column bare (`quantity = "MENGE"`).
`when` is a column name (the row needs a value there) or a table
`{column = "BWART", in = ["261"], present = ["AUFNR", "CHARG"]}`.

polars does the work lazily, in one pass per rule. Nothing is dropped silently: a row a rule
applies to but cannot complete (a template column is empty, a time does not parse, a quantity
is not a number) becomes a reject naming the file, row, rule, field and reason.
"""

from __future__ import annotations

import re
import tomllib
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from domain.errors import InvalidInput
from domain.schemas import REJECTS_SCHEMA
from loaders.master import FIELDS as MASTER_FIELDS

__all__ = ["Converted", "Mapping", "convert", "load_mapping"]

_TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NODE_FIELDS = {"key", "kind", "product", "uom", "quantity", "when"}
_EDGE_FIELDS = {"src", "dst", "kind", "time", "quantity", "event_id", "when"}
_MASTER_FIELDS = {"kind", "key", "when"} | {f for fields in MASTER_FIELDS.values() for f in fields}
QUALITY_REQUIRED = ("record_id", "record_type", "key", "status", "opened_at", "title")
QUALITY_OPTIONAL = ("closed_at", "result", "disposition", "capa_id", "effective_from",
                    "products", "inspector", "measurements")
"""The quality record file format's columns (loaders.quality_records, which checks them)."""
_QUALITY_FIELDS = {*QUALITY_REQUIRED, *QUALITY_OPTIONAL, "when", "values"}
_QUALITY_TIMES = ("opened_at", "closed_at", "effective_from")
_SINGULAR = {"nodes": "node", "edges": "edge", "masters": "master", "quality": "quality"}
_ROW = "__row"
_RAW = "__raw_"  # the export's own value of a template column, for reject reasons


@dataclass(frozen=True)
class Rule:
    """One node or edge rule of a source: field -> template, and its row condition."""

    table: str  # nodes, edges, masters or quality
    number: int  # 1-based within its table, for messages
    fields: dict[str, str]
    when: dict[str, Any] | None
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # quality: vocabulary


@dataclass(frozen=True)
class Source:
    name: str
    match: tuple[str, ...]
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Mapping:
    path: Path
    system: str
    timezone: str
    time_format: str | None
    sources: tuple[Source, ...]


def _empty_quality() -> pl.DataFrame:
    return pl.DataFrame(schema={"source_file": pl.String, "source_row": pl.Int64,
                                **dict.fromkeys((*QUALITY_REQUIRED, *QUALITY_OPTIONAL),
                                                pl.String)})


def _empty_master() -> pl.DataFrame:
    return pl.DataFrame(schema={"kind": pl.String, "key": pl.String, "fields": pl.String})


@dataclass
class Converted:
    """Canonical nodes and edges (deduplicated), the rejects, and rows read per file."""

    nodes: pl.DataFrame
    edges: pl.DataFrame
    rejects: pl.DataFrame
    rows: dict[str, int] = field(default_factory=dict)
    master: pl.DataFrame = field(default_factory=_empty_master)
    """Master data records (kind, key, fields as a JSON object), loaders.master."""
    quality: pl.DataFrame = field(default_factory=_empty_quality)
    """Quality records in the quality record file format (every column text; times ISO
    8601 UTC), with source_file and source_row."""



def _fail(path: Path, message: str) -> InvalidInput:
    return InvalidInput(f"{path}: {message}")


def load_mapping(path: Path) -> Mapping:
    """Read and check a mapping file; every mistake names the entry and the field."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as e:
        raise _fail(path, "no such mapping file") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise _fail(path, f"not valid TOML: {e}") from e
    head = data.get("mapping", {})
    system = head.get("system")
    if not isinstance(system, str) or not re.fullmatch(r"[a-z0-9_-]+", system):
        raise _fail(path, "[mapping] system must be a short lower-case name, such as 'sap'")
    timezone = head.get("timezone", "UTC")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
        raise _fail(path, f"[mapping] timezone {timezone!r} is not an IANA time zone") from e
    sources = []
    for s, raw in enumerate(data.get("source", []), start=1):
        where = f"[[source]] {s}"
        name = raw.get("name") or f"source{s}"
        match = raw.get("match")
        if not isinstance(match, list) or not match or not all(isinstance(c, str)
                                                                   for c in match):
            raise _fail(path, f"{where}: match must list the columns that identify the export")
        rules = []
        for table, allowed, required in (("node", _NODE_FIELDS, ("key", "kind")),
                                         ("edge", _EDGE_FIELDS, ("src", "dst", "kind")),
                                         ("master", _MASTER_FIELDS, ("key", "kind")),
                                         ("quality", _QUALITY_FIELDS, QUALITY_REQUIRED)):
            for n, rule in enumerate(raw.get(table, []), start=1):
                label = f"{where} ({name}) {table} {n}"
                unknown = set(rule) - allowed
                if unknown:
                    raise _fail(path, f"{label}: unknown field(s) {', '.join(sorted(unknown))}; "
                                      f"allowed: {', '.join(sorted(allowed))}")
                missing = [f for f in required if not rule.get(f)]
                if missing:
                    raise _fail(path, f"{label}: needs {', '.join(missing)}")
                when = rule.get("when")
                if isinstance(when, str):
                    when = {"present": when}
                if when is not None and not isinstance(when, dict):
                    raise _fail(path, f"{label}: when must be a column name or a table")
                if table == "master":
                    kind = rule["kind"]
                    if kind not in MASTER_FIELDS:
                        raise _fail(path, f"{label}: kind {kind!r} is not one of "
                                          f"{', '.join(MASTER_FIELDS)}")
                    wrong = set(rule) - {"kind", "key", "when", *MASTER_FIELDS[kind]}
                    if wrong:
                        raise _fail(path, f"{label}: {kind} has no field(s) "
                                          f"{', '.join(sorted(wrong))}; it has: "
                                          f"{', '.join(MASTER_FIELDS[kind])}")
                values = rule.get("values", {})
                if not isinstance(values, dict) or not all(
                        isinstance(v, dict) and all(isinstance(x, str) for x in v.values())
                        for v in values.values()):
                    raise _fail(path, f"{label}: values must map a field to a table of "
                                      "export value = record value")
                wrong_values = set(values) - set(rule) - {"when"}
                if wrong_values:
                    raise _fail(path, f"{label}: values for field(s) the rule does not set: "
                                      f"{', '.join(sorted(wrong_values))}")
                rules.append(Rule("quality" if table == "quality" else f"{table}s", n,
                                  {k: str(v) for k, v in rule.items()
                                   if k not in ("when", "values")}, when,
                                  {k: dict(v) for k, v in values.items()}))
        if not rules:
            raise _fail(path, f"{where} ({name}) has no node, edge, master or quality rules")
        sources.append(Source(name, tuple(match), tuple(rules)))
    if not sources:
        raise _fail(path, "no [[source]] entries")
    return Mapping(path, system, timezone, head.get("time_format"), tuple(sources))


def _template(text: str, system: str, *, bare_column: bool) -> tuple[pl.Expr, list[str]]:
    """The expression filling a template, and the columns it needs. With `bare_column`, a
    plain name is a column (quantity = "MENGE"); otherwise it is literal text (kind = "lot")."""
    text = text.replace("{system}", system)
    columns = _TEMPLATE.findall(text)
    if not columns:
        if bare_column:
            return pl.col(text).cast(pl.String).str.strip_chars(), [text]
        return pl.lit(text), []
    pieces = _TEMPLATE.sub("{}", text)
    return pl.format(pieces, *[pl.col(c).cast(pl.String).str.strip_chars()
                               for c in columns]), columns


def _condition(when: dict[str, Any] | None) -> tuple[pl.Expr, list[str]]:
    if not when:
        return pl.lit(True), []
    expr = pl.lit(True)
    needed = []
    present = when.get("present", [])
    for column in [present] if isinstance(present, str) else present:
        expr = expr & pl.col(column).is_not_null() & (
            pl.col(column).cast(pl.String).str.strip_chars() != "")
        needed.append(column)
    if "column" in when:
        column = when["column"]
        values = [str(v) for v in when.get("in", [])]
        expr = expr & pl.col(column).cast(pl.String).str.strip_chars().is_in(values)
        needed.append(column)
    return expr, needed


def _scan(path: Path) -> pl.LazyFrame:
    name = path.name.lower()
    if not path.exists():
        raise InvalidInput(f"{path}: no such file")
    if name.endswith((".parquet", ".pq")):
        return pl.scan_parquet(path)
    if name.endswith((".csv", ".txt", ".tsv")):
        return pl.scan_csv(path, infer_schema=False, separator="\t" if name.endswith(".tsv")
                           else ",", null_values=[""])
    raise InvalidInput(f"{path}: unknown file type (expected .csv, .tsv or .parquet)")


def _times(expr: pl.Expr, mapping: Mapping) -> pl.Expr:
    text = expr.str.strip_chars()
    if mapping.time_format:
        parsed = text.str.to_datetime(mapping.time_format, strict=False, time_unit="us")
    else:  # ISO 8601: with an offset or Z as given; naive as the plant's local time
        aware = [text.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC")
                 for f in ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z")]
        utc = [text.str.to_datetime(f, strict=False, time_unit="us")
               .dt.replace_time_zone("UTC") for f in ("%Y-%m-%dT%H:%M:%S%.fZ",)]
        local = [text.str.to_datetime(f, strict=False, time_unit="us")
                 .dt.replace_time_zone(mapping.timezone, ambiguous="earliest",
                                       non_existent="null").dt.convert_time_zone("UTC")
                 for f in ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d")]
        return pl.coalesce([*aware, *utc, *local])
    return parsed.dt.replace_time_zone(mapping.timezone, ambiguous="earliest",
                                       non_existent="null").dt.convert_time_zone("UTC")


def convert(mapping: Mapping, files: Sequence[Path]) -> Converted:
    """Apply the mapping to export files; returns canonical tables and the rejects."""
    if not files:
        raise InvalidInput("no export file given")
    nodes, edges, rejects, masters, quality = [], [], [], [], []
    rows: dict[str, int] = {}
    for path in files:
        frame = _scan(path)
        columns = frame.collect_schema().names()
        source = next((s for s in mapping.sources if set(s.match) <= set(columns)), None)
        if source is None:
            wanted = "; ".join(f"{s.name}: {', '.join(s.match)}" for s in mapping.sources)
            raise InvalidInput(f"{path}: no source of {mapping.path.name} matches its columns "
                               f"({', '.join(columns)}); sources need: {wanted}")
        frame = frame.with_row_index(_ROW, offset=1)
        rows[str(path)] = int(frame.select(pl.len()).collect().item())
        for rule in source.rules:
            condition, needed = _condition(rule.when)
            exprs: dict[str, pl.Expr] = {}
            for name, text in rule.fields.items():
                expr, cols = _template(text, mapping.system, bare_column=name == "quantity")
                needed += cols
                if name in rule.values:  # the export's word for it -> ours; others as they are
                    expr = expr.replace(rule.values[name])
                exprs[name] = expr
            absent = sorted({c for c in needed if c not in columns})
            if absent:
                raise InvalidInput(f"{path}: {source.name} {_SINGULAR[rule.table]} rule "
                                   f"{rule.number} needs column(s) {', '.join(absent)} the "
                                   "export lacks")
            raw_columns = sorted({c for c in needed if c in columns})
            picked = frame.filter(condition).select(
                pl.col(_ROW), *[pl.col(c).cast(pl.String).alias(_RAW + c) for c in raw_columns],
                **exprs)
            if "time" in exprs:
                picked = picked.with_columns(_times(pl.col("time"), mapping).alias("__time"))
            if "quantity" in exprs:
                picked = picked.with_columns(pl.col("quantity").str.replace(",", ".")
                                             .cast(pl.Float64, strict=False).alias("__qty"))
            if rule.table == "quality":
                picked = picked.with_columns(
                    _times(pl.col(name).replace("", None), mapping).alias(f"__t_{name}")
                    for name in _QUALITY_TIMES if name in exprs)
            result = picked.collect()
            problems = _problems(result, rule, mapping)
            bad = result.filter(problems.is_not_null())
            if bad.height:
                # The export rows themselves, so nothing is lost (bad rows are few).
                raw = frame.filter(pl.col(_ROW).is_in(bad[_ROW].implode())).collect()
                rejects.append(bad.select(
                    pl.lit(rule.table).alias("table"), pl.lit(str(path)).alias("file"),
                    pl.col(_ROW).cast(pl.Int64).alias("row"),
                    problems.filter(problems.is_not_null()).alias("reason"),
                ).join(raw.select(_ROW, pl.struct([pl.col(c).cast(pl.String) for c in columns])
                                  .struct.json_encode().alias("record")),
                       left_on="row", right_on=_ROW, how="left")
                 .with_columns(pl.lit(f"{source.name} {_SINGULAR[rule.table]} rule "
                                      f"{rule.number}").alias("field")))
            good = result.filter(problems.is_null())
            origin = (pl.lit(str(path)).alias("source_file"),
                      pl.col(_ROW).cast(pl.Int64).alias("source_row"))
            if rule.table == "quality":
                quality.append(good.select(*origin, *[
                    (pl.col(f"__t_{name}").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
                     if name in _QUALITY_TIMES else pl.col(name).str.strip_chars()
                     .replace("", None)).alias(name) if name in exprs
                    else pl.lit(None, pl.String).alias(name)
                    for name in (*QUALITY_REQUIRED, *QUALITY_OPTIONAL)]))
            elif rule.table == "masters":
                values = [n for n in rule.fields if n not in ("kind", "key")]
                masters.append(good.select(
                    *origin, "kind", "key",
                    (pl.struct([pl.col(n).str.strip_chars().replace("", None).alias(n)
                                for n in values]).struct.json_encode() if values
                     else pl.lit("{}")).alias("fields")))
            elif rule.table == "nodes":
                nodes.append(good.select(
                    *origin, "key", "kind",
                    (pl.col("product") if "product" in exprs else pl.lit(None, pl.String))
                    .alias("product"),
                    (pl.col("__qty") if "quantity" in exprs else pl.lit(None, pl.Float64))
                    .alias("quantity"),
                    (pl.col("uom") if "uom" in exprs else pl.lit(None, pl.String)).alias("uom")))
            else:
                edges.append(good.select(
                    *origin, "src", "dst", "kind",
                    (pl.col("__time") if "time" in exprs
                     else pl.lit(None, pl.Datetime("us", "UTC"))).alias("event_time"),
                    (pl.col("__qty") if "quantity" in exprs else pl.lit(None, pl.Float64))
                    .alias("quantity"),
                    (pl.col("event_id") if "event_id" in exprs else pl.lit(None, pl.String))
                    .alias("event_id")))
    reject_frame = (pl.concat(rejects, how="vertical_relaxed").select(REJECTS_SCHEMA.names)
                    if rejects else pl.from_arrow(REJECTS_SCHEMA.empty_table()))
    assert isinstance(reject_frame, pl.DataFrame)
    # An export row is loaded whole or not at all: when one of its rules fails, the nodes and
    # edges its other rules made go too (no orphan nodes from a half-read row). A node another
    # row also defines stays, from that row.
    bad_rows = reject_frame.select(pl.col("file").alias("source_file"),
                                   pl.col("row").alias("source_row")).unique()
    keys = ["source_file", "source_row"]
    node_frame = (pl.concat(nodes, how="vertical_relaxed").join(bad_rows, on=keys, how="anti")
                  .unique("key", keep="first", maintain_order=True)
                  if nodes else pl.DataFrame(schema={
                      "source_file": pl.String, "source_row": pl.Int64, "key": pl.String,
                      "kind": pl.String}))
    # One link from two documents (event_id) is two assertions: both are kept.
    edge_frame = (pl.concat(edges, how="vertical_relaxed").join(bad_rows, on=keys, how="anti")
                  .unique(["src", "dst", "kind", "event_time", "event_id"], keep="first",
                          maintain_order=True)
                  if edges else pl.DataFrame(schema={
                      "source_file": pl.String, "source_row": pl.Int64, "src": pl.String,
                      "dst": pl.String, "kind": pl.String}))
    master_frame = (pl.concat(masters, how="vertical_relaxed").join(bad_rows, on=keys,
                                                                     how="anti")
                    .unique(["kind", "key"], keep="last", maintain_order=True)
                    .select("kind", "key", "fields")
                    if masters else _empty_master())
    quality_frame = (pl.concat(quality, how="vertical_relaxed").join(bad_rows, on=keys,
                                                                     how="anti")
                     if quality else _empty_quality())
    return Converted(node_frame, edge_frame, reject_frame, rows, master_frame, quality_frame)


def _problems(frame: pl.DataFrame, rule: Rule, mapping: Mapping) -> pl.Series:
    """Per row, the first reason the rule cannot complete it (null when it can), naming the
    export column and its value ("BUDAT+CPUTM='2025030X090000' does not parse as ...")."""
    reason = pl.lit(None, pl.String)
    checks: list[tuple[pl.Expr, pl.Expr]] = []
    for name, text in rule.fields.items():
        if name in ("product", "uom", "event_id", "quantity") or (
                rule.table == "masters" and name not in ("key", "kind")) or (
                rule.table == "quality" and name not in QUALITY_REQUIRED):
            continue
        for column in _TEMPLATE.findall(text.replace("{system}", mapping.system)):
            raw = pl.col(_RAW + column)
            checks.append((raw.is_null() | (raw.str.strip_chars() == ""),
                           pl.lit(f"{name} template {text!r}: column {column} is empty")))
        checks.append((pl.col(name).is_null() | (pl.col(name) == ""),
                       pl.lit(f"{name} template {text!r} gives an empty value")))
    if "time" in rule.fields:
        fmt = mapping.time_format or "ISO 8601"
        checks.append((pl.col("time").is_not_null() & pl.col("__time").is_null(),
                       pl.format(f"{_label(rule.fields['time'])}='{{}}' does not parse as {fmt} "
                                 f"(time zone {mapping.timezone})", pl.col("time"))))
    if "quantity" in rule.fields:
        checks.append((pl.col("quantity").is_not_null() & pl.col("__qty").is_null(),
                       pl.format(f"{_label(rule.fields['quantity'], bare=True)}='{{}}' is not "
                                 "a number", pl.col("quantity"))))
    if rule.table == "quality":
        for name in _QUALITY_TIMES:
            if name in rule.fields:
                given = pl.col(name).is_not_null() & (pl.col(name).str.strip_chars() != "")
                checks.append((given & pl.col(f"__t_{name}").is_null(), pl.format(
                    f"{name}: {_label(rule.fields[name])}='{{}}' does not parse as "
                    f"{mapping.time_format or 'ISO 8601'} (time zone {mapping.timezone})",
                    pl.col(name))))
    for failed, message in reversed(checks):
        reason = pl.when(failed).then(message).otherwise(reason)
    return frame.select(reason.alias("reason")).to_series()


def _label(template: str, *, bare: bool = False) -> str:
    """The export column(s) a template reads, for messages: BUDAT, or BUDAT+CPUTM."""
    columns = _TEMPLATE.findall(template)
    if not columns:
        return template if bare else repr(template)
    return "+".join(columns)
