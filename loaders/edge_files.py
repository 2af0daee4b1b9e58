"""Edge files read batch by batch (bounded memory at any file size): a Parquet file a row group
at a time (its dictionary columns kept as dictionaries), CSV in slices; each batch validated by
loaders.canonical.validate_edges. The build runs several reads at once (`edge_batch_reads`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from domain.errors import InvalidInput
from loaders.canonical import Loaded, read_frame, validate_edges

__all__ = ["EdgeBatchTask", "EdgeRead", "RawEdges", "count_rows", "edge_batch_reads",
           "edge_batch_tasks", "validate_raw_edges"]

EdgeBatchTask = Callable[[], Loaded]
EdgeRead = Callable[[], "RawEdges"]


@dataclass
class RawEdges:
    """One batch of an edge file as read, before validation: an Arrow table for a Parquet row
    group (its types as stored), a polars frame otherwise (CSV text, or a Parquet batch read
    by the shared reader). Its rows are the file's data rows from `first_row` (1-based) on."""

    table: pa.Table | pl.DataFrame
    path: str
    first_row: int

    def frame(self) -> pl.DataFrame:
        if isinstance(self.table, pl.DataFrame):
            return self.table
        frame = pl.from_arrow(self.table)
        assert isinstance(frame, pl.DataFrame)
        return frame


def validate_raw_edges(raw: RawEdges, loaded_at: datetime) -> Loaded:
    """`validate_edges` for a batch as read."""
    return validate_edges(raw.frame(), raw.path, loaded_at, raw.first_row)


def edge_batch_tasks(paths: Sequence[Path], loaded_at: datetime | None = None,
                     batch_rows: int = 1_000_000) -> Iterator[EdgeBatchTask]:
    """Edge files batch by batch (bounded memory at any file size) as tasks that read and
    validate one batch each, in file order, so that a caller can run several at once (see
    `edge_batch_reads`)."""
    when = loaded_at or datetime.now(UTC)
    for read in edge_batch_reads(paths, batch_rows):
        yield _ValidateTask(read, when)


@dataclass
class _ValidateTask:
    read: EdgeRead
    loaded_at: datetime

    def __call__(self) -> Loaded:
        return validate_raw_edges(self.read(), self.loaded_at)


def edge_batch_reads(paths: Sequence[Path], batch_rows: int = 1_000_000) -> Iterator[EdgeRead]:
    """Tasks that each read one batch of the edge files, in file order; safe to run several at
    once. A Parquet file whose row groups hold at most 2 x `batch_rows` rows gives one task per
    row group, which reads it when run (key and kind columns stored dictionary-encoded arrive
    as Arrow dictionaries: no string per row, and keys resolve once per distinct key). Other
    files are read here, batch by batch, as the tasks are taken."""
    if not paths:
        raise InvalidInput("no edge file given")
    for path in paths:
        metadata = _parquet_metadata(path)
        groups = [] if metadata is None else [metadata.row_group(i).num_rows
                                               for i in range(metadata.num_row_groups)]
        if metadata is not None and all(rows <= 2 * batch_rows for rows in groups):
            first_row = 1
            for index, rows in enumerate(groups):
                yield _RowGroupRead(path, index, first_row, _dictionary_columns(metadata, index))
                first_row += rows
            continue
        first_row = 1
        for frame in _frames(path, batch_rows):
            yield _ReadyRead(RawEdges(frame, str(path), first_row))
            first_row += frame.height


def count_rows(paths: Sequence[Path]) -> int | None:
    """Rows in all the files, from Parquet metadata; None when a file is not Parquet."""
    total = 0
    for path in paths:
        metadata = _parquet_metadata(path)
        if metadata is None:
            return None
        total += metadata.num_rows
    return total


def _parquet_metadata(path: Path) -> pq.FileMetaData | None:
    """A Parquet file's footer (row groups and their column chunks), or None for other files."""
    if not path.name.lower().endswith((".parquet", ".pq")):
        return None
    return _open_parquet(path).metadata


def _open_parquet(path: Path, read_dictionary: Sequence[str] = ()) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path, memory_map=True, read_dictionary=list(read_dictionary))
    except FileNotFoundError as e:
        raise InvalidInput(f"{path}: no such file") from e
    except (pa.ArrowException, OSError) as e:
        raise InvalidInput(f"{path}: cannot read: {e}") from e


def _dictionary_columns(metadata: pq.FileMetaData, index: int) -> tuple[str, ...]:
    """Key and kind columns stored dictionary-encoded in a row group with few distinct values
    (a few bytes per row in all): read as Arrow dictionaries they skip building a string per
    row."""
    group = metadata.row_group(index)
    found = []
    for i in range(group.num_columns):
        column = group.column(i)
        if (column.path_in_schema in ("src", "dst", "kind") and column.has_dictionary_page
                and column.total_uncompressed_size < 8 * max(group.num_rows, 1)):
            found.append(column.path_in_schema)
    return tuple(found)


@dataclass
class _RowGroupRead:
    """Read one row group of a Parquet file (safe to run beside other reads)."""

    path: Path
    index: int
    first_row: int
    dictionary: tuple[str, ...] = ()  # columns to read as Arrow dictionaries

    def __call__(self) -> RawEdges:
        try:
            table = _open_parquet(self.path, self.dictionary).read_row_group(self.index)
        except (pa.ArrowException, OSError) as e:
            raise InvalidInput(f"{self.path}: cannot read row group {self.index}: {e}") from e
        return RawEdges(table, str(self.path), self.first_row)


@dataclass
class _ReadyRead:
    """A batch already read by the shared, sequential reader."""

    raw: RawEdges

    def __call__(self) -> RawEdges:
        return self.raw


def _frames(path: Path, batch_rows: int) -> Iterator[pl.DataFrame]:
    if path.name.lower().endswith((".parquet", ".pq")):
        try:
            parquet = pq.ParquetFile(path)
            for batch in parquet.iter_batches(batch_size=batch_rows):
                yield pl.from_arrow(batch)  # type: ignore[misc]
        except FileNotFoundError as e:
            raise InvalidInput(f"{path}: no such file") from e
        except (pa.ArrowException, OSError) as e:
            raise InvalidInput(f"{path}: cannot read: {e}") from e
        return
    frame = read_frame(path)
    for start in range(0, max(frame.height, 1), batch_rows):
        yield frame.slice(start, batch_rows)
