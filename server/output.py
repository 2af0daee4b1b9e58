"""How the command line prints Arrow tables: a readable table on a terminal, CSV, JSON or Parquet
for machines. Formats are chosen by `--format`; Parquet needs `--output FILE`."""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from domain.errors import InvalidInput
from domain.time import iso

__all__ = ["FORMATS", "IMPACT_SCHEMA", "KEY_COLUMNS", "emit_mapping", "emit_table", "impact_table",
           "iso", "iso_column", "printable"]

FORMATS = ("table", "csv", "json", "parquet")
KEY_COLUMNS = frozenset({"key", "via", "src", "dst", "customer", "shipment", "seed", "parent",
                         "source"})
"""Columns that hold node keys: shown whole on a terminal, whatever its width."""
TERMINAL_ROWS = 25


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return value


def _shown(value: Any) -> str:
    """A value as the terminal table prints it: a float to 4 decimals (a yield of
    0.9894710866 reads 0.9895; CSV and JSON keep every digit)."""
    if isinstance(value, float) and math.isfinite(value) and abs(value) < 1e15:
        text = f"{value:,.4f}".rstrip("0").rstrip(".")
        return text if text not in ("-0", "") else "0"
    return str(_plain(value))


def iso_column(times: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A timestamp column as text in `iso`'s format (what Python's isoformat gives)."""
    if times.type.tz is None:
        times = pc.assume_timezone(times, "UTC")
    text = pc.strftime(pc.cast(times, pa.timestamp("us", "UTC")),
                       format="%Y-%m-%dT%H:%M:%S+00:00")
    return pc.replace_substring(text, ".000000+00:00", "+00:00")


def emit_table(table: pa.Table, fmt: str, output: Path | None, *, title: str = "",
               console: Console | None = None) -> None:
    """Print or write `table` in `fmt`. The terminal table shows the first rows and a count."""
    if fmt == "parquet":
        if output is None:
            raise InvalidInput("--format parquet needs --output FILE")
        pq.write_table(table, output)
        return
    if fmt == "csv":
        plain = table.cast(pa.schema([
            pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
            for f in table.schema]))
        for i, f in enumerate(plain.schema):
            if pa.types.is_timestamp(f.type):
                plain = plain.set_column(i, f.name, iso_column(plain.column(i)))
        if output is not None:
            pacsv.write_csv(plain, output)
        else:
            pacsv.write_csv(plain, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        return
    if fmt == "json":
        rows = [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]
        _write_text(json.dumps(rows, indent=None) + "\n", output)
        return
    if fmt != "table":
        raise InvalidInput(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    out = console or Console()
    shown = [["" if v is None else printable(_shown(v)) for v in row.values()]
             for row in table.slice(0, TERMINAL_ROWS).to_pylist()]
    view = Table(show_lines=False)
    needed = 1
    for i, name in enumerate(table.column_names):
        longest = max([len(name), *(len(r[i]) for r in shown)])
        if name in KEY_COLUMNS:
            # A key that cannot be copied is useless: never cut or fold it; other columns
            # give way, and a table wider than the terminal is printed wider (the terminal
            # wraps the line, which copies whole).
            view.add_column(name, no_wrap=True, min_width=longest)
            needed += longest + 3
        else:
            view.add_column(name, overflow="fold", min_width=min(longest, 14))
            needed += min(longest, 14) + 3
    for row in shown:
        view.add_row(*row)
    if title:
        out.print(printable(title), soft_wrap=True, markup=False)  # keys too: never cut
    (out if needed <= out.width else Console(file=out.file, width=needed, highlight=False,
                                             force_terminal=out.is_terminal)).print(view)
    more = table.num_rows - TERMINAL_ROWS
    tail = f" (first {TERMINAL_ROWS} shown; --format csv|json|parquet for all)" if more > 0 else ""
    out.print(f"{table.num_rows:,} rows{tail}")


IMPACT_SCHEMA = pa.schema([
    ("section", pa.string()),  # by_kind, by_customer, by_shipment, rows
    ("key", pa.large_string()),  # customer, shipment or affected node key (null in by_kind)
    ("kind", pa.string()),  # by_kind and rows
    ("nodes", pa.int64()),  # by_kind: affected nodes of that kind
    ("quantity", pa.float64()),  # by_customer, by_shipment: net finished-unit quantity
    ("unknown_quantity", pa.int64()),  # ... finished units there with no quantity recorded
    ("units", pa.int64()),  # by_customer, by_shipment: affected serials there
    ("shipments", pa.int64()),  # by_customer: affected shipments delivered to it
    ("depth", pa.int32()),  # rows: edges from the nearest seed
])
"""`impact --format csv|parquet`: the summary tables and (with `--rows`) the affected nodes as
one table, told apart by `section`; a column a section does not use is null. One file stays
one file (a spreadsheet filters by section), and every count keeps its name."""


def impact_table(by_kind: pa.Table, by_customer: pa.Table, by_shipment: pa.Table,
                 rows: pa.Table | None) -> pa.Table:
    """The impact summary (and rows) in the `IMPACT_SCHEMA` layout, sections in that order."""
    def part(section: str, count: int, **columns: pa.Array | pa.ChunkedArray) -> pa.Table:
        data = {name: columns.get(name, pa.nulls(count, field.type)) for name, field in
                zip(IMPACT_SCHEMA.names, IMPACT_SCHEMA, strict=True)}
        data["section"] = pa.array([section] * count, pa.string())
        return pa.table({name: _cast(value, IMPACT_SCHEMA.field(name).type)
                         for name, value in data.items()}, schema=IMPACT_SCHEMA)

    parts = [
        part("by_kind", by_kind.num_rows, kind=by_kind["kind"], nodes=by_kind["nodes"]),
        part("by_customer", by_customer.num_rows, key=by_customer["customer"],
             quantity=by_customer["quantity"],
             unknown_quantity=by_customer["unknown_quantity"], units=by_customer["units"],
             shipments=by_customer["shipments"]),
        part("by_shipment", by_shipment.num_rows, key=by_shipment["shipment"],
             quantity=by_shipment["quantity"],
             unknown_quantity=by_shipment["unknown_quantity"], units=by_shipment["units"]),
    ]
    if rows is not None:
        parts.append(part("rows", rows.num_rows, key=rows["key"], kind=rows["kind"],
                          depth=rows["depth"]))
    return pa.concat_tables(parts)


def _cast(values: pa.Array | pa.ChunkedArray, dtype: pa.DataType) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    return values.cast(dtype)


def emit_mapping(data: dict[str, Any], fmt: str, output: Path | None,
                 console: Console | None = None) -> None:
    """Print a small key/value result (stats, impact summary) as JSON or a two-column table."""
    if fmt in ("json", "csv", "parquet"):
        _write_text(json.dumps(data, indent=2, default=_json_default) + "\n", output)
        return
    out = console or Console()
    view = Table(show_header=False)
    view.add_column("field")
    view.add_column("value")
    for key, value in data.items():
        view.add_row(printable(str(key)), printable(_readable(value)))
    out.print(view)


_CONTROL = {i: f"\\x{i:02x}" for i in [*range(32), 127]}
_CONTROL[0x1D] = "{GS}"  # GS1's group separator, written as parse-barcode reads it


def printable(text: str) -> str:
    """Text safe for a terminal: control characters escaped (a scanned barcode carries GS and
    may carry worse), so output never moves the cursor or rings the bell."""
    return text.translate(_CONTROL)


def _readable(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}"
                         for k, v in value.items())
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _write_text(text: str, output: Path | None, stream: TextIO | None = None) -> None:
    if output is not None:
        output.write_text(text)
    else:
        (stream or sys.stdout).write(text)


def _json_default(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else str(value)
