"""numba's cache directory is named for the kernels' source (domain.kernel_cache): every module
with a kernel is hashed and imports the module before defining one, a change to any of them
names a new directory, and a NUMBA_CACHE_DIR set by the user is left alone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from domain.kernel_cache import KERNEL_SOURCES, cache_dir

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("domain", "engine", "index", "loaders", "qms", "recall", "server", "trust", "web")


def _kernel_modules() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if re.search(r"^\s*@n?jit\b|^\s*@numba\.", path.read_text(), re.M):
                found.add(path.relative_to(ROOT).as_posix())
    return found


def test_every_kernel_module_is_hashed_and_imports_the_cache_first() -> None:
    modules = _kernel_modules()
    assert modules, "no kernel found: the scan is wrong"
    assert modules <= set(KERNEL_SOURCES), sorted(modules - set(KERNEL_SOURCES))
    for name in modules:
        text = (ROOT / name).read_text()
        imported = text.find("from domain import kernel_cache")
        assert 0 <= imported < text.find("@njit"), name


def test_a_change_to_any_kernel_source_names_a_new_directory(tmp_path: Path) -> None:
    for name in KERNEL_SOURCES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    first = cache_dir(tmp_path)
    assert first.parent == tmp_path / "__pycache__"
    assert cache_dir(tmp_path) == first  # the same source, the same directory
    seen = {first}
    for name in ("engine/_row_kernels.py", "domain/time.py"):
        with (tmp_path / name).open("a") as f:
            f.write("\n# changed\n")
        seen.add(cache_dir(tmp_path))
    assert len(seen) == 3


def _cache_dir_in_child(env: dict[str, str]) -> str:
    code = "import numba, engine._ship_kernels; print(numba.config.CACHE_DIR)"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           cwd=ROOT, env=env, check=True, timeout=600)
    return child.stdout.strip()


def test_kernels_compile_into_it_unless_the_user_chose(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    assert _cache_dir_in_child(env) == str(cache_dir())
    assert _cache_dir_in_child({**env, "NUMBA_CACHE_DIR": str(tmp_path)}) == str(tmp_path)


def test_kernels_compiled_looks_where_the_kernels_are_kept(tmp_path: Path) -> None:
    """engine.kernels_compiled (the CLI's "compiling ... once" notice) reads the cache
    directory in force: an empty one is not compiled, one holding the query kernels is."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    code = "import engine; print(engine.kernels_compiled())"

    def compiled(cache: Path) -> str:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              cwd=ROOT, env={**env, "NUMBA_CACHE_DIR": str(cache)},
                              check=True, timeout=600).stdout.strip()

    assert compiled(tmp_path) == "False"
    (tmp_path / "engine_0a1b").mkdir()
    (tmp_path / "engine_0a1b" / "_kernels.traverse-140.py311.nbi").write_bytes(b"")
    assert compiled(tmp_path) == "True"
