"""Where numba keeps compiled kernels: a directory named for the kernels' source.

numba checks a cached kernel against its own file only, so a kernel that inlines a function
(or a constant) from another module keeps running the old machine code when only that other
module changes: a `git pull` that touches `engine/_row_kernels.py` but not
`engine/_ship_kernels.py` would leave `ship_pairs` netting the old way. Every module with
kernels imports this one before it defines any, and the directory's name is a hash of all of
them and the constants they read: a change to any starts a fresh cache. NUMBA_CACHE_DIR, when
set, is left alone; so is numba's default when the source tree is not writable (an
installed package, whose files all change together on an upgrade).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba

__all__ = ["KERNEL_SOURCES", "cache_dir"]

_ROOT = Path(__file__).resolve().parents[1]
KERNEL_SOURCES = (
    "domain/knobs.py", "domain/time.py",
    "engine/_kernels.py", "engine/_layout_kernels.py", "engine/_row_kernels.py",
    "engine/_ship_kernels.py", "engine/_time_kernels.py", "engine/quality.py",
    "engine/units.py", "index/csr.py", "index/key_table.py", "index/keys.py",
    "index/live_arrays.py", "index/repeats.py", "loaders/typed.py", "server/convert/wire.py",
)
"""Every module that defines a kernel, and the modules of the constants kernels inline
(tests/test_kernel_cache.py checks that no kernel module is missing)."""


def cache_dir(root: Path = _ROOT) -> Path:
    """The cache directory for this version of the kernels' source under `root`."""
    digest = hashlib.sha256()
    for name in KERNEL_SOURCES:
        path = root / name
        digest.update(name.encode() + b"\0")
        digest.update(path.read_bytes() if path.exists() else b"")
    return root / "__pycache__" / f"numba-{digest.hexdigest()[:16]}"


def _configure() -> None:
    if os.environ.get("NUMBA_CACHE_DIR") or not os.access(_ROOT, os.W_OK):
        return
    numba.config.CACHE_DIR = str(cache_dir())  # type: ignore[attr-defined]


_configure()
