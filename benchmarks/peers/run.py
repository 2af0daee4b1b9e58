"""Side-by-side: the same queries on the same generated genealogy in tracegraph and its peers.

Every engine answers "how many distinct nodes are reachable from these seeds" (tracegraph via
`Graph.count`); the `tracegraph-rows` line is the full answer, an Arrow table of keys, kinds and
depths, for comparison.

    python -m benchmarks.peers.run --units 1000000 --out bench-data/peers-u1000000
    python -m benchmarks.peers.run --units 100000 --peers networkx,scipy --gate   # CI

Each engine runs in its own process (so its peak memory is its own): build from the snapshot's
integer edge list, then every query `--repeat` times. Every peer's answer count must equal
tracegraph's or the run fails. Writes results.md and results.png into --out and prints the table;
with --gate, exits 1 when a speed ratio falls below its floor (machine speed cancels out, since
every engine ran in this same run on this same machine).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import engine
from benchmarks.data import dataset
from benchmarks.peers.engines import PEERS
from loaders.synthetic import sample_keys

OURS = "tracegraph"
OURS_ROWS = "tracegraph-rows"
QUERIES = ("unit_upstream", "median_lot_downstream", "widest_lot_downstream", "impact_100_lots")
UNITS_PER_ROUND = 20
# CI floors: how many times faster than the peer tracegraph must be (margins for noise).
# Measured at 100k with every peer in its best documented form (scipy: float64 CSR built
# once): networkx 3.2x / 655x / 1157x, scipy 27x unit, 15x widest lot, 43x impact of 100 lots.
FLOORS = {
    ("widest_lot_downstream", "networkx"): 20.0,
    ("unit_upstream", "networkx"): 1.5,  # measured 2.8x at 1M, 3.2-3.5x at 100k
    ("impact_100_lots", "networkx"): 10.0,
    ("unit_upstream", "scipy"): 8.0,
    ("widest_lot_downstream", "scipy"): 5.0,
    ("impact_100_lots", "scipy"): 12.0,
}


def _workload(data: Path) -> dict[str, Any]:
    """Seed ids per query, chosen from the snapshot with a fixed seed."""
    graph = engine.open(data, warm=False)
    snap = graph.snapshot
    picked = sample_keys(snap.node_keys, snap.nodes.column("kind"), count=200, seed=7)
    lots = picked["lots"]
    sizes = sorted((graph.trace(lot).num_rows, lot) for lot in lots[:101])
    ids = snap.keys.lookup
    return {
        "unit_upstream": ([ids([u]).tolist() for u in picked["units"][:UNITS_PER_ROUND]], False),
        "median_lot_downstream": ([ids([sizes[len(sizes) // 2][1]]).tolist()], True),
        "widest_lot_downstream": ([ids(picked["widest_lot"]).tolist()], True),
        "impact_100_lots": ([ids(lots[:100]).tolist()], True),
    }


def _run_one(name: str, data: Path, repeat: int) -> dict[str, Any]:
    """Build one engine and time every query; runs in a child process."""
    workload = _workload(data)
    graph = engine.open(data, warm=False)
    started = time.perf_counter()
    if name in (OURS, OURS_ROWS):
        graph.warm()
        keys = graph.snapshot.node_keys
        # Our API speaks node keys: translate the seed ids once, outside the timing (the
        # peers get the ids they index by, so neither side pays for a key lookup twice).
        key_of = {s: keys[s].as_py() for sets, _ in workload.values() for seeds in sets
                  for s in seeds}
        rows = name == OURS_ROWS

        def reach(seeds: list[int], downstream: bool) -> int:
            seed_keys = [key_of[s] for s in seeds]
            direction = "downstream" if downstream else "upstream"
            if rows:  # the full answer: an Arrow table with keys, kinds and depths
                return int(graph.trace(seed_keys, direction).num_rows)
            return graph.count(seed_keys, direction)

        build = time.perf_counter() - started
    else:
        src = graph.snapshot.edges.column("src").to_numpy().astype(np.int64)
        dst = graph.snapshot.down.neighbor.astype(np.int64)
        peer = PEERS[name]()
        started = time.perf_counter()
        peer.build(src, dst, graph.node_count)
        build = time.perf_counter() - started
        reach = peer.reach
    results: dict[str, Any] = {"engine": name, "build_s": build, "queries": {}}
    for query, (seed_sets, downstream) in workload.items():
        counts = [reach(seeds, downstream) for seeds in seed_sets]  # also warms up
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            for seeds in seed_sets:
                reach(seeds, downstream)
            times.append((time.perf_counter() - started) / len(seed_sets))
        results["queries"][query] = {"counts": counts, "seconds": times}
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def _table(results: list[dict[str, Any]]) -> str:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.3f}" if seconds < 0.01 else f"{seconds * 1000:.1f}"

    lines = ["| engine | query | median ms | min ms | max ms | x tracegraph |",
             "|---|---|---|---|---|---|"]
    ours = {q: statistics.median(r["seconds"]) for q, r in results[0]["queries"].items()}
    for result in results:
        for query, timing in result["queries"].items():
            median = statistics.median(timing["seconds"])
            lines.append(f"| {result['engine']} | {query} | {ms(median)} | "
                         f"{ms(min(timing['seconds']))} | {ms(max(timing['seconds']))} | "
                         f"{median / ours[query]:.1f} |")
    lines += ["", "| engine | build s | peak memory MiB |", "|---|---|---|"]
    lines += [f"| {r['engine']} | {r['build_s']:.1f} | {r['peak_rss_mib']:,.0f} |"
              for r in results]
    return "\n".join(lines)


def _chart(results: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(10, 5))
    width = 0.8 / len(results)
    for i, result in enumerate(results):
        medians = [statistics.median(result["queries"][q]["seconds"]) * 1000 for q in QUERIES]
        axis.bar(np.arange(len(QUERIES)) + i * width, medians, width, label=result["engine"])
    axis.set_xticks(np.arange(len(QUERIES)) + width * (len(results) - 1) / 2, QUERIES)
    axis.set_yscale("log")
    axis.set_ylabel("median ms per query (log scale)")
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"comma-separated, from {', '.join(PEERS)}")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--gate", action="store_true", help="fail when a ratio is below floor")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(_run_one(args.one, args.data, args.repeat)))
        return 0

    _, _, data = dataset(args.units)
    names = [OURS, OURS_ROWS, *[p for p in args.peers.split(",") if p]]
    results = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.peers.run", "--one", name, "--data", str(data),
             "--repeat", str(args.repeat)], capture_output=True, text=True, check=False)
        if child.returncode != 0:
            print(child.stderr, file=sys.stderr)
            print(f"peers: {name} failed", file=sys.stderr)
            return 1
        results.append(json.loads(child.stdout))

    failures = []
    for result in results[1:]:
        for query, timing in result["queries"].items():
            if timing["counts"] != results[0]["queries"][query]["counts"]:
                failures.append(f"{result['engine']} {query}: counts {timing['counts'][:5]} "
                                f"!= tracegraph {results[0]['queries'][query]['counts'][:5]}")
    machine = (f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores, "
               f"Python {platform.python_version()}")
    table = _table(results)
    print(f"\n{args.units:,} units on {machine}\n\n{table}\n")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.md").write_text(
            f"{args.units:,} finished units; {machine}; medians of {args.repeat} runs\n\n"
            f"{table}\n")
        (args.out / "results.json").write_text(json.dumps(results, indent=1))
        _chart(results, args.out / "results.png", f"{args.units:,} units: median ms per query")
    if failures:
        print("peers: answers differ:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    if args.gate:
        return _gate(results)
    return 0


def _gate(results: list[dict[str, Any]]) -> int:
    ours = {q: statistics.median(r["seconds"]) for q, r in results[0]["queries"].items()}
    below = []
    for result in results[1:]:
        for query, timing in result["queries"].items():
            ratio = statistics.median(timing["seconds"]) / ours[query]
            floor = FLOORS.get((query, result["engine"]))
            verdict = "" if floor is None else (" ok" if ratio >= floor else " BELOW FLOOR")
            print(f"ratio {query} {result['engine']}/tracegraph = {ratio:.1f}x"
                  + (f" (floor {floor:g}x){verdict}" if floor else ""))
            if floor is not None and ratio < floor:
                below.append(f"{query} vs {result['engine']}: {ratio:.1f}x < {floor:g}x")
    if below:
        print("peers gate failed: " + "; ".join(below), file=sys.stderr)
        return 1
    print("peers gate passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
