"""The build's key -> id table against a dict: every probe order its shortcuts are made for
(sequential, repeating) and the ones they are not (shuffled, unknown, null, near-miss keys)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.key_table import KeyTable


def _oracle(keys: list[str], probes: list[str | None]) -> list[int]:
    index = {key: i for i, key in enumerate(keys)}
    return [index.get(p, -1) if p is not None else -1 for p in probes]


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=300, unique=True),
    picks=st.lists(st.integers(min_value=-1, max_value=400), max_size=400),
    extra=st.lists(st.text(max_size=12), max_size=20),
)
def test_resolve_matches_a_dict(keys: list[str], picks: list[int], extra: list[str]) -> None:
    probes: list[str | None] = [None if p < 0 else keys[p % len(keys)] for p in picks]
    probes += extra  # unknown or known, the oracle decides
    table = KeyTable(pa.array(keys, pa.string()))
    got = table.resolve(pa.array(probes, pa.string()))
    assert got.tolist() == _oracle(keys, probes)


@pytest.mark.parametrize("pattern", ["sequential", "shuffled", "repeating", "runs"])
def test_resolve_at_size_in_every_order(pattern: str) -> None:
    """Large enough for every parallel work unit to see long runs; ids must equal the dict's."""
    n = 50_000
    keys = [f"urn:epc:id:sgtin:4012345.1010{i % 7}.{i:010d}" for i in range(n)]
    rng = np.random.default_rng(3)
    if pattern == "sequential":
        rows = np.arange(n)
    elif pattern == "shuffled":
        rows = rng.permutation(n)
    elif pattern == "repeating":
        rows = rng.integers(0, 5, size=3 * n)
    else:  # sequential runs broken by repeats and jumps
        rows = np.concatenate([np.arange(s, s + 40) for s in rng.integers(0, n - 40, 500)])
        rows[::7] = rows[::7] % 3
    probes: list[str | None] = [keys[r] for r in rows]
    probes[5::101] = [k[:-1] + "x" for k in probes[5::101] if k is not None]  # near misses
    probes[9::211] = [None] * len(probes[9::211])
    table = KeyTable(pa.array(keys, pa.large_string()))
    assert table.resolve(pa.array(probes, pa.large_string())).tolist() == _oracle(keys, probes)


def test_duplicate_key_is_named() -> None:
    keys = [f"LOT-{i}" for i in range(1000)] + ["LOT-17"]
    with pytest.raises(ValueError, match="duplicate node key 'LOT-17'"):
        KeyTable(pa.array(keys))


def test_find_and_renumbered_table() -> None:
    keys = pa.array([f"K{i}" for i in range(100)], pa.large_string())
    table = KeyTable(keys)
    assert [table.find(f"K{i}") for i in (0, 57, 99)] == [0, 57, 99]
    assert table.find("K100") == -1
    old_to_new = np.arange(100, dtype=np.int32)[::-1].copy()
    moved = table.renumbered(old_to_new, keys.take(pa.array(np.argsort(old_to_new))))
    assert moved.find("K0") == 99
    assert moved.find("K99") == 0
