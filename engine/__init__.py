"""Queries over a tracegraph snapshot: `engine.open(data_dir)` returns a `Graph`.

`import engine` never imports grpc, rocksdict or networkx: queries need numpy, numba and pyarrow
only. Opening a directory with a live store reads its log through `index.live` (rocksdict).
"""

from __future__ import annotations

from pathlib import Path

from domain.errors import (
    EmptySeeds,
    InvalidInput,
    NotConnected,
    QueryCancelled,
    ResultLimitExceeded,
    SnapshotError,
    TraceError,
    UnknownNode,
)
from engine.graph import Cancellation, Direction, Graph, Impact
from index.snapshot import open_snapshot

__all__ = [
    "Cancellation",
    "Direction",
    "EmptySeeds",
    "Graph",
    "Impact",
    "InvalidInput",
    "NotConnected",
    "QueryCancelled",
    "ResultLimitExceeded",
    "SnapshotError",
    "TraceError",
    "UnknownNode",
    "kernels_compiled",
    "open",
]


def kernels_compiled() -> bool:
    """True when numba's on-disk cache holds the query kernels (once per install and version
    of the kernels: domain.kernel_cache): the first query of a process then takes
    milliseconds, not the seconds compilation takes."""
    import numba  # noqa: PLC0415 - already imported by the kernels

    chosen = numba.config.CACHE_DIR  # type: ignore[attr-defined]  # ours, or NUMBA_CACHE_DIR
    if chosen:  # numba files each source folder's kernels under <folder name>_<hash>
        return any(Path(chosen).glob("engine_*/_kernels.*.nbi"))
    return any((Path(__file__).resolve().parent / "__pycache__").glob("_kernels.*.nbi"))


def open(data_dir: str | Path, *, warm: bool = True, verify: str = "size") -> Graph:
    """Open the newest loadable snapshot in `data_dir` (plus, for a live store, every batch
    acknowledged after it: a fixed view at that log sequence) and (by default) warm the kernels.

    Every file's SHA-256 is checked the first time this host opens it and whenever its size,
    mtime or inode changed since (index.verified); `verify="full"` checks every file again.
    ("size" is the default, kept as a name: sizes are always checked, checksums as above.)
    """
    if verify not in ("size", "full"):
        raise InvalidInput(f"verify must be 'size' or 'full', got {verify!r}")
    path = Path(data_dir)
    if (path / "store" / "CURRENT").is_file():
        # A live store: the snapshot plus every acknowledged batch after it, read from the log.
        from index.replay import open_view  # noqa: PLC0415 - rocksdict only for store dirs

        view = open_view(path, verify=verify)
        graph = Graph(view.snapshot, lambda: view)
    else:
        graph = Graph(open_snapshot(path, verify=verify))
    if warm:
        graph.warm()
    return graph
