"""Snapshot files on disk: Arrow IPC writing, durable atomic publish, manifest, memory-mapped reads.

A snapshot is a directory `snapshots/v000001/` holding Arrow IPC files and `manifest.json`. It is
written under a temporary name, every file and the directory are fsynced, then it is renamed into
place and the parent directory is fsynced: a reader sees the whole snapshot or none of it. A
published snapshot is never rewritten. The manifest records each file's size and SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from domain.errors import SnapshotError
from index.faults import hit
from index.verified import record_written, verify_files

__all__ = [
    "MANIFEST",
    "SNAPSHOT_FORMAT",
    "SnapshotWriter",
    "fsync_dir",
    "list_snapshots",
    "numpy_view",
    "read_ipc",
    "read_manifest",
    "single_chunk",
    "string_buffers",
    "verify_snapshot",
    "write_ipc",
]

Array = npt.NDArray[Any]
SNAPSHOT_FORMAT = 4  # 2: key_hash.arrow, LZ4 edges.arrow; 3: nodes.sid, retractions.arrow;
# 4: up.arrow holds neighbor and edge only (attributes are read at the downstream position)
MANIFEST = "manifest.json"
SNAPSHOTS = "snapshots"


def fsync_dir(path: Path) -> None:
    """Make a rename or file creation in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_ipc(path: Path, table: pa.Table, *, compress: bool = False) -> str:
    """Write one Arrow IPC file, fsync it and return its SHA-256, computed from the bytes as
    they are written (reading 1.5 GB of snapshot back to checksum it cost seconds). Kernel
    files stay uncompressed so they can be memory-mapped zero-copy; `compress` (LZ4) suits
    files read whole and rarely."""
    options = pa.ipc.IpcWriteOptions(compression="lz4" if compress else None)
    with open(path, "wb") as handle:
        sink = _HashingSink(handle)
        with (pa.PythonFile(sink, mode="w") as stream,
              pa.ipc.new_file(stream, table.schema, options=options) as writer):
            writer.write_table(table, max_chunksize=max(table.num_rows, 1))
        handle.flush()
        os.fsync(handle.fileno())
    return sink.digest.hexdigest()


class _HashingSink:
    """A binary file that also hashes what goes through it (hashlib and the file write both
    release the GIL on large buffers)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.closed = False

    def write(self, data: Any) -> int:
        self.digest.update(data)
        written: int = self.handle.write(data)
        return written

    def flush(self) -> None:
        self.handle.flush()

    def close(self) -> None:
        self.closed = True  # the caller closes the file, after its fsync


def read_ipc(path: Path) -> pa.Table:
    """Open an Arrow IPC file by memory map: zero-copy, pages load on first touch."""
    try:
        source = pa.memory_map(str(path), "r")
        return pa.ipc.open_file(source).read_all()
    except (OSError, pa.ArrowInvalid) as e:
        raise SnapshotError(f"{path}: not a readable Arrow IPC file: {e}") from e


def numpy_view(column: pa.ChunkedArray | pa.Array, dtype: npt.DTypeLike) -> npt.NDArray[Any]:
    """Zero-copy numpy view of a single-chunk, null-free fixed-width column."""
    array = single_chunk(column) if isinstance(column, pa.ChunkedArray) else column
    if len(array) == 0:
        return np.zeros(0, dtype=dtype)
    if array.null_count:
        raise SnapshotError("internal: kernel column has nulls")
    width = np.dtype(dtype).itemsize
    buffer = array.buffers()[1]
    return np.frombuffer(buffer, dtype=dtype, count=len(array), offset=array.offset * width)


def single_chunk(column: pa.ChunkedArray) -> pa.Array:
    """The one chunk of a column, zero-copy (combine_chunks would copy even a single chunk)."""
    if column.num_chunks == 1:
        return column.chunk(0)
    return column.combine_chunks()


def string_buffers(array: pa.Array) -> tuple[Array, Array]:
    """(int64 offsets, uint8 data) views of a large_string array, zero-copy."""
    if array.type != pa.large_string():
        array = array.cast(pa.large_string())
    _validity, offsets, data = array.buffers()
    offsets_view = np.frombuffer(offsets, dtype=np.int64, count=len(array) + 1,
                                 offset=array.offset * 8)
    data_view = (np.frombuffer(data, dtype=np.uint8) if data is not None
                 else np.zeros(0, dtype=np.uint8))
    return offsets_view, data_view


def list_snapshots(data_dir: Path) -> list[Path]:
    """Published snapshot directories, newest first (temporary ones are not listed)."""
    root = data_dir / SNAPSHOTS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("v")
             and p.name[1:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[1:]), reverse=True)


class SnapshotWriter:
    """Writes the files of the next snapshot as they become ready, then publishes them.

    Each `add` writes, fsyncs and checksums one file on a background thread (Arrow
    serialisation, LZ4, SHA-256 and fsync release the GIL), so the disk works while the caller
    computes the next table, and the caller can drop a table as soon as it is handed over.
    `publish` waits for every file, writes the manifest and renames the directory into place.
    Used as a context manager, a failure removes the temporary directory and no published
    snapshot changes.
    """

    def __init__(self, data_dir: Path, max_pending_bytes: int = 2 << 30) -> None:
        self.data_dir = data_dir
        self.max_pending_bytes = max_pending_bytes
        self.root = data_dir / SNAPSHOTS
        self.root.mkdir(parents=True, exist_ok=True)
        self.temp = self.root / f".tmp-{uuid.uuid4().hex}"
        self.temp.mkdir()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="publish")
        # file name -> (its write, bytes of the table it holds until written)
        self._files: dict[str, tuple[Future[dict[str, Any]], int]] = {}

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            self.abort()

    def add(self, stem: str, table: pa.Table, *, compress: bool = False) -> None:
        """Start writing `table` as `stem`.arrow (LZ4-compressed with `compress`). Waits
        first while tables of more than `max_pending_bytes` in all are still being written,
        so that memory stays bounded when the disk is slower than the caller."""
        while True:
            pending = [(f, size) for f, size in self._files.values() if not f.done()]
            if not pending or sum(size for _, size in pending) <= self.max_pending_bytes:
                break
            pending[0][0].result()  # the oldest (dicts keep insertion order)
        path = self.temp / f"{stem}.arrow"

        def write() -> dict[str, Any]:
            digest = write_ipc(path, table, compress=compress)
            return {"bytes": path.stat().st_size, "sha256": digest, "rows": table.num_rows}

        self._files[path.name] = (self._pool.submit(write), table.nbytes)

    def drain(self) -> None:
        """Wait until every file handed over so far is written (and its table freed)."""
        for future, _ in self._files.values():
            future.result()

    def publish(self, manifest: dict[str, Any]) -> Path:
        """Wait for every file, then publish them with `manifest` as the next version."""
        try:
            files = {name: self._files[name][0].result() for name in sorted(self._files)}
        finally:
            self._pool.shutdown(wait=True)
        hit("publish-files")
        existing = list_snapshots(self.data_dir)
        version = int(existing[0].name[1:]) + 1 if existing else 1
        body = {**manifest, "format": SNAPSHOT_FORMAT, "version": version, "files": files}
        manifest_path = self.temp / MANIFEST
        manifest_path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
        with open(manifest_path, "rb+") as handle:
            os.fsync(handle.fileno())
        hit("publish-manifest")
        fsync_dir(self.temp)
        hit("publish-rename")
        final = self.root / f"v{version:06d}"
        os.rename(self.temp, final)
        hit("publish-done")
        fsync_dir(self.root)
        # This process hashed every byte as it wrote it: the first reader on this host need
        # not hash them again (a file changed after this record is re-hashed: index.verified).
        record_written(final, body)
        return final

    def abort(self) -> None:
        """Stop and remove everything written (the published snapshots stay as they were)."""
        for future, _ in self._files.values():
            future.cancel()
        self._pool.shutdown(wait=True)
        shutil.rmtree(self.temp, ignore_errors=True)


def read_manifest(snapshot_dir: Path) -> dict[str, Any]:
    path = snapshot_dir / MANIFEST
    try:
        body: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SnapshotError(f"{path}: missing or unreadable manifest: {e}") from e
    if body.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError(f"{path}: snapshot format {body.get('format')!r} is not "
                            f"{SNAPSHOT_FORMAT}; rebuild it with this version")
    return body


def verify_snapshot(snapshot_dir: Path, manifest: dict[str, Any], *, full: bool) -> None:
    """Check every file's size and SHA-256: each time with `full`, else whenever this host has
    not yet hashed the file as it is now (index.verified)."""
    verify_files(snapshot_dir, manifest, full=full)
