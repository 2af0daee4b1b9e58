"""The recall issue's case-diff target as a CI gate: a case's diff within 2x of one impact of
the same seeds, both timed in this process on this machine (so its speed cancels out).

    python -m benchmarks.recall_ratio --units 100000 --gate

The case is the widest lot, pinned 30 days before the newest record and compared with now:
both answers computed, then what changed per customer and how many rows came and went (what
the Diff RPC and `recall diff` report). benchmarks/test_recall.py times the same at 1M.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import engine
from benchmarks.data import dataset
from loaders.synthetic import sample_keys
from recall.cases import Cases, compare

__all__ = ["CEILING", "case_diff", "widest_lot"]

CEILING = 2.0
"""The target: a case diff takes at most this many impacts."""


def widest_lot(graph: engine.Graph) -> str:
    picked = sample_keys(graph.snapshot.node_keys, graph.snapshot.nodes.column("kind"),
                         count=1000, seed=7)
    return str(picked["widest_lot"][0])


def case_diff(graph: engine.Graph, lot: str, *, keyed: bool = False) -> int:
    """The diff of a case on `lot` pinned 30 days before the newest record, against now;
    with `keyed`, the added and removed rows made with their keys too (the CLI's JSON).
    Returns a count from the answer, so nothing is left unread."""
    cases = Cases(None)
    newest = graph.view().newest_record_time
    then = datetime.fromtimestamp(newest / 1e6, UTC) - timedelta(days=30)
    before = cases.answer(graph.shipped_rows, [lot], {}, then, 0, 0)
    after = cases.answer(graph.shipped_rows, [lot], {}, None, 0, 0)
    changed = compare(before, after)
    if keyed:
        return changed.added.height + changed.removed.height
    return int(changed.summary()["rows_added"]) + changed.by_customer.height


def _median_seconds(run: Callable[[], object], repeat: int) -> float:
    run()  # kernels compiled, buffers grown
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--gate", action="store_true", help=f"fail above {CEILING:g}x")
    args = parser.parse_args(argv)
    graph = engine.open(dataset(args.units)[2])
    lot = widest_lot(graph)
    impact = _median_seconds(lambda: graph.impact([lot]), args.repeat)
    diff = _median_seconds(lambda: case_diff(graph, lot), args.repeat)
    ratio = diff / impact
    print(f"{args.units:,} units, widest lot: case diff {diff * 1e3:.1f} ms, impact "
          f"{impact * 1e3:.1f} ms: {ratio:.2f}x (ceiling {CEILING:g}x)")
    if args.gate and ratio > CEILING:
        print("recall ratio gate failed: a case diff takes more than "
              f"{CEILING:g} impacts", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
