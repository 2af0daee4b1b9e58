"""Users and tokens as a read-only server sees them: the store another process writes, opened
read-only and reopened at most every few seconds (a read-only RocksDB open sees the data as of
the open), so a token issued or revoked on the writer is honoured here within that time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from domain.errors import Unavailable
from index.store import Store, has_store
from trust.audit import AuditEvent, EncodedEvent

__all__ = ["REFRESH_SECONDS", "ReadOnlyRecords"]

REFRESH_SECONDS = 5.0


class ReadOnlyRecords:
    """trust.identity.Records over a store this process may not write."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._store: Store | None = None
        self._opened = 0.0
        self._lock = threading.Lock()

    def _current(self) -> Store | None:
        with self._lock:
            if self._store is None or time.monotonic() - self._opened > REFRESH_SECONDS:
                if self._store is not None:
                    self._store.close()
                    self._store = None
                if has_store(self.data_dir):
                    self._store = Store(self.data_dir, writable=False)
                self._opened = time.monotonic()
            return self._store

    def read(self, family: str, key: bytes) -> bytes | None:
        store = self._current()
        return None if store is None else store.read(family, key)

    def read_many(self, family: str, keys: Sequence[bytes]) -> list[bytes | None]:
        store = self._current()
        return [None] * len(keys) if store is None else store.read_many(family, keys)

    def scan(self, family: str, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        store = self._current()
        return iter(()) if store is None else iter(list(store.scan(family, start)))

    def write(self, puts: list[tuple[str, bytes, bytes]],
              audit: Sequence[AuditEvent | EncodedEvent], *,
              expect: Sequence[tuple[str, bytes, bytes | None]] = ()) -> None:
        raise Unavailable("this server is read-only: sign-ins and changes are recorded by the "
                          "server that owns the data directory")
