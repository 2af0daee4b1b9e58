"""Which snapshot files this host has checked, so readers verify checksums once, not per open.

A reader (CLI query, `serve --read-only`, `engine.open`) must never answer from, or crash on, a
snapshot file that changed since it was verified. Every open stats each file; a file whose
(size, mtime, inode, device) matches what this host recorded after hashing it is trusted, any
other is hashed against the manifest's SHA-256 before it is used. The record lives in
`DATA/.verified/<host>.json` (written atomically) and, when the directory is not writable, in
this process only (a long-lived server then hashes once per start).

What this cannot see: a change that keeps size, mtime and inode (someone writing a byte and
resetting the mtime). The server's background scrub re-hashes every file on a schedule for
that, and `tracegraph stats --verify` does it on demand.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

from domain.errors import SnapshotError

__all__ = ["VERIFIED_DIR", "record_written", "sha256_of", "verify_files"]

VERIFIED_DIR = ".verified"
_IN_PROCESS: dict[str, list[int | str]] = {}
_LOCK = threading.Lock()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _identity(stat: os.stat_result, sha256: str) -> list[int | str]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev, sha256]


def _record_path(snapshot_dir: Path) -> Path:
    return snapshot_dir.parent.parent / VERIFIED_DIR / f"{socket.gethostname()}.json"


def _load(path: Path) -> dict[str, list[int | str]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(path: Path, records: dict[str, list[int | str]]) -> None:
    """Best effort: a reader without write access keeps its records in memory."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temp.write_text(json.dumps(records, sort_keys=True))
        os.replace(temp, path)


def verify_files(snapshot_dir: Path, manifest: dict[str, Any], *, full: bool) -> None:
    """Check every file of a snapshot against its manifest: size always; SHA-256 when `full`,
    or when this host has not verified the file as it is now (see the module docstring)."""
    record_path = _record_path(snapshot_dir)
    with _LOCK:
        records = {**_load(record_path), **_IN_PROCESS}
    changed = False
    for name, meta in manifest["files"].items():
        path = snapshot_dir / name
        try:
            stat = path.stat()
        except OSError as e:
            raise SnapshotError(f"{path}: missing snapshot file") from e
        if stat.st_size != meta["bytes"]:
            raise SnapshotError(f"{path}: torn file: {stat.st_size} bytes, manifest says "
                                f"{meta['bytes']}")
        key = f"{snapshot_dir.name}/{name}"
        if not full and records.get(key) == _identity(stat, meta["sha256"]):
            continue
        if sha256_of(path) != meta["sha256"]:
            raise SnapshotError(f"{path}: checksum mismatch: the file changed since it was "
                                "written (corrupt or tampered)")
        records[key] = _identity(stat, meta["sha256"])
        changed = True
    if changed:
        with _LOCK:
            _IN_PROCESS.update(records)
            _save(record_path, {**_load(record_path), **records})


def record_written(snapshot_dir: Path, manifest: dict[str, Any]) -> None:
    """Record the files a writer just published (it computed their SHA-256 from the bytes it
    wrote) as verified on this host, as they are now."""
    records: dict[str, list[int | str]] = {}
    for name, meta in manifest["files"].items():
        try:
            stat = (snapshot_dir / name).stat()
        except OSError:
            return  # a reader will find out and say so
        records[f"{snapshot_dir.name}/{name}"] = _identity(stat, meta["sha256"])
    record_path = _record_path(snapshot_dir)
    with _LOCK:
        _IN_PROCESS.update(records)
        _save(record_path, {**_load(record_path), **records})
