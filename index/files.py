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
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from index.faults import hit
from loaders.errors import SnapshotError

__all__ = [
    "MANIFEST",
    "SNAPSHOT_FORMAT",
    "fsync_dir",
    "list_snapshots",
    "numpy_view",
    "publish_snapshot",
    "read_ipc",
    "read_manifest",
    "single_chunk",
    "string_buffers",
    "verify_snapshot",
    "write_ipc",
]

Array = npt.NDArray[Any]
SNAPSHOT_FORMAT = 3  # 2: key_hash.arrow, LZ4 edges.arrow; 3: nodes.sid, retractions.arrow
MANIFEST = "manifest.json"
SNAPSHOTS = "snapshots"


def fsync_dir(path: Path) -> None:
    """Make a rename or file creation in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_ipc(path: Path, table: pa.Table, *, compress: bool = False) -> None:
    """Write one Arrow IPC file and fsync it. Kernel files stay uncompressed so they can be
    memory-mapped zero-copy; `compress` (LZ4) suits files read whole and rarely."""
    options = pa.ipc.IpcWriteOptions(compression="lz4" if compress else None)
    with (pa.OSFile(str(path), "wb") as sink,
          pa.ipc.new_file(sink, table.schema, options=options) as writer):
        writer.write_table(table, max_chunksize=max(table.num_rows, 1))
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def list_snapshots(data_dir: Path) -> list[Path]:
    """Published snapshot directories, newest first (temporary ones are not listed)."""
    root = data_dir / SNAPSHOTS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("v")
             and p.name[1:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[1:]), reverse=True)


def publish_snapshot(
    data_dir: Path, tables: Mapping[str, pa.Table], manifest: dict[str, Any],
    compressed: frozenset[str] = frozenset(),
) -> Path:
    """Write `tables` (file stem -> table) and the manifest as the next snapshot version;
    stems in `compressed` are written LZ4-compressed.

    Returns the published directory. On any failure the temporary directory is removed and no
    published snapshot changes.
    """
    root = data_dir / SNAPSHOTS
    root.mkdir(parents=True, exist_ok=True)
    existing = list_snapshots(data_dir)
    version = int(existing[0].name[1:]) + 1 if existing else 1
    temp = root / f".tmp-{uuid.uuid4().hex}"
    temp.mkdir()
    try:
        def write(stem: str) -> tuple[str, dict[str, Any]]:
            path = temp / f"{stem}.arrow"
            write_ipc(path, tables[stem], compress=stem in compressed)
            return path.name, {"bytes": path.stat().st_size, "sha256": _sha256(path),
                               "rows": tables[stem].num_rows}

        # Arrow serialisation, LZ4, SHA-256 and fsync all release the GIL: two files at a time
        # keep both cores and the disk busy. Largest first, so the last one to finish is small.
        largest_first = sorted(tables, key=lambda stem: -tables[stem].nbytes)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="publish") as pool:
            files = dict(pool.map(write, largest_first))
        files = {name: files[name] for name in sorted(files)}
        hit("publish-files")
        body = {**manifest, "format": SNAPSHOT_FORMAT, "version": version, "files": files}
        manifest_path = temp / MANIFEST
        manifest_path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
        with open(manifest_path, "rb+") as handle:
            os.fsync(handle.fileno())
        hit("publish-manifest")
        fsync_dir(temp)
        hit("publish-rename")
        final = root / f"v{version:06d}"
        os.rename(temp, final)
        hit("publish-done")
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return final


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
    """Check every file's size (cheap, always) and, with `full`, its SHA-256."""
    for name, meta in manifest["files"].items():
        path = snapshot_dir / name
        try:
            size = path.stat().st_size
        except OSError as e:
            raise SnapshotError(f"{path}: missing snapshot file") from e
        if size != meta["bytes"]:
            raise SnapshotError(f"{path}: torn file: {size} bytes, manifest says {meta['bytes']}")
        if full and _sha256(path) != meta["sha256"]:
            raise SnapshotError(f"{path}: checksum mismatch (file is corrupt)")
