"""The single-writer lock of a data directory: one process writes it at a time (a build, or the
store's writer), and a second fails at once naming the first. No rocksdict here: `build`
takes the lock without opening the store."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path
from typing import Any

from domain.errors import StoreLocked

__all__ = ["LOCK_FILE", "StoreLocked", "lock_directory"]

LOCK_FILE = "writer.lock"


def lock_directory(data_dir: Path, what: str) -> Any:
    """Take the data directory's single-writer lock (flock on DATA/writer.lock, released when
    the returned handle is closed or the process dies); StoreLocked at once, naming the holder,
    when another process has it. Builds and the store's writer share it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(data_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held open for the lock's lifetime
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        if e.errno in (errno.EAGAIN, errno.EACCES):
            raise StoreLocked(
                f"{data_dir} is already open for writing by {holder}; only one writer may "
                "hold a data directory (send batches to its Ingest RPC, or stop it "
                "first)") from None
        raise
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()} ({what})\n")
    handle.flush()
    return handle
