"""Build, open and memory benchmarks (single rounds: each is seconds long at 1M units)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from pytest_benchmark.fixture import BenchmarkFixture

import engine
from benchmarks.conftest import MEASURED
from index.build import build_from_files


def test_build(benchmark: BenchmarkFixture, source: tuple[Path, Path], tmp_path: Path) -> None:
    def build() -> None:
        shutil.rmtree(tmp_path / "data", ignore_errors=True)
        build_from_files([source[0]], [source[1]], tmp_path / "data")

    benchmark.pedantic(build, rounds=1, iterations=1)
    MEASURED.append(f"build from {source[0].name} + {source[1].name}: "
                    f"{benchmark.stats.stats.max:.1f} s")


def test_open(benchmark: BenchmarkFixture, data_dir: Path) -> None:
    graph = benchmark.pedantic(lambda: engine.open(data_dir), rounds=3, iterations=1)
    benchmark.extra_info["edges"] = graph.edge_count


_RESIDENT_PROBE = """
import json, sys
import engine
from loaders.synthetic import sample_keys
graph = engine.open(sys.argv[1])
picked = sample_keys(graph.snapshot.node_keys, graph.snapshot.nodes.column("kind"), 100, 7)
for unit in picked["units"]:
    graph.trace(unit, "upstream", via=True)
graph.trace(picked["widest_lot"][0])
graph.impact(picked["lots"])
with open("/proc/self/status") as status:
    rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
print(json.dumps({"rss": rss, "edges": graph.edge_count}))
"""


def test_resident_bytes_per_edge(benchmark: BenchmarkFixture, data_dir: Path) -> None:
    """Resident memory of a fresh process that opened the snapshot, warmed it and answered a
    unit trace, the widest-lot trace and a 100-lot impact (RSS, so mapped pages it touched
    count; pages it never touched do not)."""

    def probe() -> dict[str, int]:
        result = subprocess.run([sys.executable, "-c", _RESIDENT_PROBE, str(data_dir)],
                                capture_output=True, text=True, check=True)
        measured: dict[str, int] = json.loads(result.stdout)
        return measured

    measured = benchmark.pedantic(probe, rounds=1, iterations=1)
    per_edge = measured["rss"] / measured["edges"]
    benchmark.extra_info["bytes_per_edge"] = round(per_edge, 1)
    MEASURED.append(f"resident memory: {measured['rss'] / 2**20:,.0f} MiB for "
                    f"{measured['edges']:,} edges = {per_edge:.1f} bytes per edge")
