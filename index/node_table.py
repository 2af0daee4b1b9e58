"""Node files -> the build's node table: validated rows in node-row order plus their key table.

Typed Parquet node files are checked on their Arrow columns (`loaders.typed.typed_nodes`); only
the suspect rows go through `validate_nodes` for the verdict and the reasons, and the key hash
table, built anyway, is what finds repeated keys, which are then folded or rejected by the
same rule as `load_nodes` (`fold_repeated_keys`). Any other input takes `load_nodes`. Both give
the same rows, in the same order, and the same rejects (tests/test_node_table.py compares
them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from domain.errors import InvalidInput
from domain.schemas import NODE_FIELDS
from index.key_table import KeyTable
from loaders.canonical import (
    Loaded,
    fold_repeated_keys,
    load_nodes,
    no_rejects,
    validate_nodes,
)
from loaders.typed import typed_nodes

__all__ = ["NODE_COLUMNS", "NodeTable", "load_node_table", "node_table_from"]

NODE_COLUMNS = NODE_FIELDS  # the canonical node columns (domain.schemas)

Array = npt.NDArray[Any]


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
    """The typed way, or None when a file is not typed Parquet."""
    parts: list[pa.Table] = []
    kept_rows: list[Array | None] = []  # per file: 1-based rows kept, None when all were
    rejects: list[pl.DataFrame] = []
    ignored: dict[str, list[str]] = {}
    for path in paths:
        checked = _check_file(path)
        if checked is None:
            return None
        part, keep, file_rejects, file_ignored = checked
        parts.append(part)
        kept_rows.append(None if keep is None else np.flatnonzero(keep) + 1)
        rejects.extend(file_rejects)
        if file_ignored:
            ignored[str(path)] = file_ignored
    table = (parts[0] if len(parts) == 1  # one file: its columns are single arrays already
             else pa.concat_tables(parts, promote_options="permissive").combine_chunks())
    origin = _Origin([str(p) for p in paths], [part.num_rows for part in parts], kept_rows)
    del parts
    keys = KeyTable(table.column("key").chunk(0) if table.num_rows
                    else pa.array([], pa.large_string()), allow_repeats=True)
    folded = 0
    if keys.repeated.any():
        table, repeat_rejects, folded = _fold_repeats(table, keys.repeated, origin)
        rejects.append(repeat_rejects)
        keys = KeyTable(table.column("key").chunk(0))
    return NodeTable(table, keys, origin.nonempty(),
                     pl.concat([no_rejects(), *rejects], how="vertical_relaxed"), folded,
                     ignored)


def _check_file(path: Path) -> tuple[pa.Table, Array | None, list[pl.DataFrame],
                                     list[str]] | None:
    """(valid rows, which rows were kept or None for all, rejects, ignored columns) of one
    typed node file, or None when it is not one."""
    table = _read_typed(path)
    typed = None if table is None else typed_nodes(table)
    if table is None or typed is None:
        return None
    if not typed.suspect.any():
        return typed.table, None, [], typed.ignored
    positions = np.flatnonzero(typed.suspect)
    frame = pl.from_arrow(table.take(pa.array(positions)))
    assert isinstance(frame, pl.DataFrame)
    frame = frame.with_columns(pl.Series("__row", positions + 1, dtype=pl.Int64),
                               pl.lit(str(path)).alias("__file"))
    checked = validate_nodes(frame, str(path))
    keep = np.ones(table.num_rows, dtype=np.bool_)
    keep[checked.rejects["row"].to_numpy() - 1] = False
    part = typed.table if keep.all() else typed.table.filter(pa.array(keep))
    return part, None if keep.all() else keep, [checked.rejects], typed.ignored


def _fold_repeats(table: pa.Table, repeated: Array,
                  origin: _Origin) -> tuple[pa.Table, pl.DataFrame, int]:
    """The table without the later rows of repeated keys, their rejects and how many folded:
    only the rows of repeated keys (a few, typically) go through `fold_repeated_keys`."""
    positions = np.flatnonzero(repeated)
    files, rows = origin.of(positions)
    subset = pl.from_arrow(table.select(list(NODE_COLUMNS)).take(pa.array(positions)))
    assert isinstance(subset, pl.DataFrame)
    subset = subset.with_columns(
        *(pl.col(c).cast(pl.String) for c in ("key", "kind", "product", "uom")),
        pl.Series("__row", rows, dtype=pl.Int64), pl.Series("__file", files),
        pl.Series("__pos", positions, dtype=pl.Int64))
    kept, rejects, folded = fold_repeated_keys(subset)
    keep = np.ones(table.num_rows, dtype=np.bool_)
    keep[np.setdiff1d(positions, kept["__pos"].to_numpy())] = False
    origin.keep(keep)
    return table.filter(pa.array(keep)).combine_chunks(), rejects, folded


class _Origin:
    """Which file and 1-based data row each row of the concatenated node table came from."""

    def __init__(self, files: list[str], counts: list[int], kept_rows: list[Array | None]):
        self.files = files
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.kept_rows = kept_rows
        self.remaining = list(counts)

    def of(self, positions: Array) -> tuple[list[str], Array]:
        """(file, row) of each table position (sorted positions)."""
        files: list[str] = []
        rows = np.empty(len(positions), dtype=np.int64)
        bounds = np.searchsorted(positions, self.starts)
        for p, kept in enumerate(self.kept_rows):
            lo, hi = int(bounds[p]), int(bounds[p + 1])
            local = positions[lo:hi] - self.starts[p]
            rows[lo:hi] = local + 1 if kept is None else kept[local]
            files.extend([self.files[p]] * (hi - lo))
        return files, rows

    def keep(self, keep: Array) -> None:
        """Rows were dropped from the table where `keep` is False."""
        for p in range(len(self.files)):
            self.remaining[p] = int(keep[self.starts[p]: self.starts[p + 1]].sum())

    def nonempty(self) -> list[str]:
        """The files at least one node came from."""
        return [f for f, left in zip(self.files, self.remaining, strict=True) if left]


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
