"""Node files -> the build's node table: validated rows in node-row order plus their key table.

Typed Parquet node files are checked on their Arrow columns (`loaders.typed.typed_nodes`); only
the suspect rows go through `validate_nodes` for the verdict and the reasons, and the key hash
table, built anyway, is what finds repeated keys. Any other input, or a repeated key (which
`load_nodes` folds or rejects), takes `load_nodes`. Both give the same rows, in the same order,
and the same rejects (tests/test_node_table.py compares them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from index.key_table import KeyTable
from loaders.canonical import Loaded, load_nodes, validate_nodes
from loaders.errors import InvalidInput
from loaders.schema import REJECTS_SCHEMA
from loaders.typed import typed_nodes

__all__ = ["NODE_COLUMNS", "NodeTable", "load_node_table", "node_table_from"]

NODE_COLUMNS = ("key", "kind", "product", "quantity", "uom", "created_at")


@dataclass
class NodeTable:
    """Valid nodes: row i of `table` (NODE_COLUMNS) is the node with stable id i; `keys` is
    its key hash table; `files` the files that gave at least one node."""

    table: pa.Table
    keys: KeyTable
    files: list[str]
    rejects: pl.DataFrame
    folded: int = 0
    ignored: dict[str, list[str]] = field(default_factory=dict)


def load_node_table(paths: Sequence[Path]) -> NodeTable:
    """Read and validate node files (see `loaders.canonical.load_nodes` for the rules)."""
    if not paths:
        raise InvalidInput("no node file given")
    fast = _typed(paths)
    return fast if fast is not None else node_table_from(load_nodes(paths))


def node_table_from(loaded: Loaded) -> NodeTable:
    """The node table of nodes validated by `load_nodes`."""
    files = loaded.table["__file"].unique(maintain_order=True).to_list()
    table = loaded.table.select(*NODE_COLUMNS).to_arrow().combine_chunks()
    return NodeTable(table, KeyTable(table.column("key").chunk(0)), files, loaded.rejects,
                     loaded.folded, loaded.ignored_columns)


def _typed(paths: Sequence[Path]) -> NodeTable | None:
    parts: list[pa.Table] = []
    rejects: list[pl.DataFrame] = []
    files: list[str] = []
    ignored: dict[str, list[str]] = {}
    for path in paths:
        table = _read_typed(path)
        typed = None if table is None else typed_nodes(table)
        if table is None or typed is None:
            return None
        keep = np.ones(table.num_rows, dtype=np.bool_)
        if typed.suspect.any():
            positions = np.flatnonzero(typed.suspect)
            frame = pl.from_arrow(table.take(pa.array(positions)))
            assert isinstance(frame, pl.DataFrame)
            frame = frame.with_columns(pl.Series("__row", positions + 1, dtype=pl.Int64),
                                       pl.lit(str(path)).alias("__file"))
            checked = validate_nodes(frame, str(path))
            keep[checked.rejects["row"].to_numpy() - 1] = False
            rejects.append(checked.rejects)
        parts.append(typed.table.filter(pa.array(keep)) if not keep.all() else typed.table)
        if keep.any():
            files.append(str(path))
        if typed.ignored:
            ignored[str(path)] = typed.ignored
    table = pa.concat_tables(parts, promote_options="permissive").combine_chunks()
    try:
        keys = KeyTable(table.column("key").chunk(0) if table.num_rows
                        else pa.array([], pa.large_string()))
    except ValueError:
        return None  # a repeated key: load_nodes folds or rejects it
    empty = pl.from_arrow(REJECTS_SCHEMA.empty_table())
    assert isinstance(empty, pl.DataFrame)
    return NodeTable(table, keys, files, pl.concat([empty, *rejects], how="vertical_relaxed"),
                     0, ignored)


def _read_typed(path: Path) -> pa.Table | None:
    """A Parquet node file as stored (kind, product and uom as dictionaries), or None for
    other files; unreadable files are left to `load_nodes` to report."""
    if not path.name.lower().endswith((".parquet", ".pq")):
        return None
    try:
        schema = pq.read_schema(path)
        dictionary = [c for c in ("kind", "product", "uom") if c in schema.names]
        return pq.read_table(path, read_dictionary=dictionary)
    except (pa.ArrowException, OSError):
        return None
