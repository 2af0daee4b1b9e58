"""The server's signed checkpoints of the audit trail: every `checkpoint_records` new records
or `checkpoint_minutes` (whichever first), at start and at stop, with the Ed25519 key given by
option, into a folder outside the data directory (trust.checkpoint)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from index.store import Store
from trust.checkpoint import load_private, sign_checkpoint, write_checkpoint
from trust.merkle import leaf_hash

__all__ = ["Checkpointer"]

log = logging.getLogger(__name__)


class Checkpointer:
    """Signs checkpoints of `store`'s audit trail on a schedule, in a daemon thread."""

    def __init__(self, store: Store, key: Path, folder: Path, *, every_records: int,
                 every_minutes: float, stopped: threading.Event) -> None:
        self.store = store
        self.key = load_private(key)  # a bad key fails the start, not later
        self.folder = folder
        self.every_records = every_records
        self.every_seconds = every_minutes * 60
        self.stopped = stopped
        self.leaves: list[bytes] = []  # leaf hashes so far: each record is read once
        self.signed = -1
        self._lock = threading.Lock()
        origin = (store.read("meta", b"created_at") or b"").decode()
        self.origin = f"tracegraph:{origin}"

    def start(self) -> None:
        self.sign()
        threading.Thread(target=self._run, name="tracegraph-checkpoints", daemon=True).start()

    def _run(self) -> None:
        last = time.monotonic()
        while not self.stopped.wait(5.0):
            due = time.monotonic() - last >= self.every_seconds
            if due or self.store.audit_count - max(self.signed, 0) >= self.every_records:
                self.sign()
                last = time.monotonic()

    def sign(self) -> None:
        """Sign a checkpoint of every record so far (none when nothing is new)."""
        with self._lock:
            try:
                for _, data in self.store.audit_records(after=len(self.leaves)):
                    self.leaves.append(leaf_hash(data))
                if len(self.leaves) == self.signed:
                    return
                checkpoint = sign_checkpoint(self.key, self.origin, self.leaves,
                                             datetime.now(UTC))
                path = write_checkpoint(self.folder, checkpoint)
                self.signed = len(self.leaves)
                log.info("signed audit checkpoint of %d records: %s", self.signed, path)
            except Exception:  # a failed checkpoint must not stop the server; it is retried
                log.exception("audit checkpoint failed; will retry")
