"""The key-value layer under `index.store.Store`: a small Protocol (`KeyValue`), RocksDB
through rocksdict (`RocksKeyValue`, the real one) and a dict twin (`MemoryKeyValue`) for tests
and tools that need a store without a disk. tests/test_store_contract.py runs one contract suite
against both, so the twin cannot drift from the real thing.

Keys and values are bytes; families are named (RocksDB column families). A scan is in key
order (bytewise). A write is all-or-nothing and, for RocksDB, synced before it returns.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import rocksdict as rd

from domain.errors import SnapshotError, StoreCorrupt

__all__ = ["SYNC_WRITE", "KeyValue", "MemoryKeyValue", "Put", "RocksKeyValue"]

Put = tuple[str, bytes, bytes]
"""(family, key, value) of one write."""


class KeyValue(Protocol):
    """What the store needs of its storage. Read errors are StoreCorrupt, never a miss."""

    def get(self, family: str, key: bytes) -> bytes | None: ...

    def get_many(self, family: str, keys: Sequence[bytes]) -> list[bytes | None]:
        """get of each key, in one call (RocksDB's multi-get)."""
        ...

    def scan(self, family: str, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) with key >= start, in key order; damage that ends the scan
        early raises StoreCorrupt (it must never look like the end of the data)."""
        ...

    def write(self, puts: Sequence[Put]) -> None:
        """Apply every put or none; durable when it returns."""
        ...

    def close(self) -> None: ...


def _sync_write() -> rd.WriteOptions:
    options = rd.WriteOptions()
    options.sync = True  # fsync the WAL before the write returns: acknowledged means on disk
    return options


SYNC_WRITE = _sync_write()
"""The write options of every ingest WriteBatch (tests assert `.sync`)."""


def _options(*, create: bool) -> rd.Options:
    """Explicit options, never rocksdict's config-file defaults."""
    options = rd.Options(raw_mode=True)
    options.create_if_missing(create)
    options.create_missing_column_families(create)
    options.set_paranoid_checks(True)
    options.set_compression_type(rd.DBCompressionType.lz4())
    options.set_max_background_jobs(2)
    options.set_write_buffer_size(64 << 20)
    options.set_max_total_wal_size(256 << 20)
    # Every write is synced, so the only record a crash can tear is the last, unacknowledged
    # one: tolerate that, and refuse to open on damage anywhere else (point_in_time would
    # silently drop every record after the damage, and their sequences would be reused).
    options.set_wal_recovery_mode(rd.DBRecoveryMode.tolerate_corrupted_tail_records())
    return options


def _verifying_reads() -> rd.ReadOptions:
    options = rd.ReadOptions()
    options.set_verify_checksums(True)  # every block read is checked against its checksum
    options.fill_cache(False)  # type: ignore[call-arg]  # the stub lacks the flag; scans
    # must not evict what queries keep warm
    return options


class RocksKeyValue:
    """RocksDB at `path` with the given column families (created when `writable`)."""

    def __init__(self, path: Path, families: Sequence[str], *, writable: bool,
                 salvage: bool = False, repair_hint: str = "") -> None:
        """`salvage` (read-only only) skips every damaged WAL record: for `tracegraph repair`
        to list what survived, never for serving. `repair_hint` ends damage messages."""
        self.path = path
        self._hint = repair_hint
        access = rd.AccessType.read_write() if writable else rd.AccessType.read_only()
        options = _options(create=writable)
        if salvage and not writable:
            options.set_wal_recovery_mode(rd.DBRecoveryMode.skip_any_corrupted_record())
        try:
            if not writable:
                # A reader of a store an older version wrote opens the families it has; the
                # others read as empty (the writer creates them on its next start).
                present = set(rd.Rdict.list_cf(str(path), _options(create=False)))
                families = [name for name in families if name in present]
            self.db = rd.Rdict(str(path), options=options,
                               column_families={n: _options(create=writable) for n in families},
                               access_type=access)
        except Exception as e:
            raise SnapshotError(f"{path}: cannot open the store: {e}") from e
        self.cf = {name: self.db.get_column_family(name) for name in families}
        self.handles = {name: self.db.get_column_family_handle(name) for name in families}

    def get(self, family: str, key: bytes) -> bytes | None:
        if family not in self.cf:
            return None  # a family this (older) store does not have yet
        try:
            value: bytes | None = self.cf[family].get(key)
        except Exception as e:  # rocksdict raises a plain Exception for RocksDB errors
            raise StoreCorrupt(f"{self.path}: cannot read {family}: {e}") from e
        return value

    def get_many(self, family: str, keys: Sequence[bytes]) -> list[bytes | None]:
        if family not in self.cf:
            return [None] * len(keys)
        try:
            values: list[bytes | None] = list(self.cf[family].get(list(keys)) or ())
        except Exception as e:  # rocksdict raises a plain Exception for RocksDB errors
            raise StoreCorrupt(f"{self.path}: cannot read {family}: {e}") from e
        return values

    def scan(self, family: str, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        if family not in self.cf:
            return
        it = self.cf[family].iter(_verifying_reads())
        if start is None:
            it.seek_to_first()
        else:
            it.seek(start)
        while it.valid():
            yield it.key(), it.value()
            it.next()
        try:
            it.status()  # RocksDB's iterator just turns invalid at damage: ask why it stopped
        except Exception as e:
            raise StoreCorrupt(f"{self.path}: the {family} column family is damaged: "
                               f"{e}{self._hint}") from e

    def write(self, puts: Sequence[Put]) -> None:
        batch = rd.WriteBatch(raw_mode=True)
        for family, key, value in puts:
            batch.put(key, value, self.handles[family])
        self.db.write(batch, SYNC_WRITE)

    def close(self) -> None:
        db: Any = getattr(self, "db", None)
        if db is not None:
            self.cf.clear()
            self.handles.clear()
            db.close()
            del self.db


class MemoryKeyValue:
    """Sorted dicts in memory: the store's twin for tests and dry runs (nothing is durable)."""

    def __init__(self, families: Sequence[str]) -> None:
        self._data: dict[str, dict[bytes, bytes]] = {name: {} for name in families}
        self._sorted: dict[str, list[bytes]] = {name: [] for name in families}
        self._lock = threading.Lock()

    def get(self, family: str, key: bytes) -> bytes | None:
        return self._data[family].get(key)

    def get_many(self, family: str, keys: Sequence[bytes]) -> list[bytes | None]:
        data = self._data[family]
        return [data.get(key) for key in keys]

    def scan(self, family: str, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        with self._lock:  # a snapshot of the keys: a scan never sees a write half done
            keys = self._sorted[family]
            chosen = keys[bisect.bisect_left(keys, start):] if start is not None else keys[:]
            data = self._data[family]
            items = [(key, data[key]) for key in chosen]
        yield from items

    def write(self, puts: Sequence[Put]) -> None:
        for family, _key, _value in puts:
            if family not in self._data:
                raise KeyError(f"no column family {family!r}")
        with self._lock:
            for family, key, value in puts:
                if key not in self._data[family]:
                    bisect.insort(self._sorted[family], key)
                self._data[family][key] = value

    def close(self) -> None:
        pass
