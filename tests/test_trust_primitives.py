"""The building blocks of the audit trail, against fixed vectors: canonical bytes (golden
vectors checked in: tests/golden/canonical.jsonl), the RFC 6962 Merkle tree (the test
vectors of transparency-dev/merkle's testonly package: 8 leaves, every root and node hash)
and inclusion proofs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trust.canonical import canonical_bytes
from trust.merkle import EMPTY_ROOT, Tree, inclusion_proof, leaf_hash, root, root_from_proof

GOLDEN = Path(__file__).parent / "golden" / "canonical.jsonl"

LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243",
                                     "5051525354555657", "606162636465666768696a6b6c6d6e6f")]
ROOTS = [  # root of the first n leaves, n = 0 .. 8
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
LEVELS = [  # node hashes of every complete subtree of the 8-leaf tree, by level
    ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
     "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
     "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
     "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
     "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
     "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
     "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"],
    ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
     "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"],
    ["d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
]


def test_canonical_bytes_match_the_golden_vectors() -> None:
    # split on "\n" only: a vector holds U+2028, which splitlines() would also split on
    lines = [line for line in GOLDEN.read_text(encoding="utf-8").split("\n") if line]
    assert len(lines) >= 8
    for line in lines:
        vector = json.loads(line)
        data = canonical_bytes(vector["value"])
        assert data.hex() == vector["bytes"], vector["value"]
        assert hashlib.sha256(data).hexdigest() == vector["sha256"]


@pytest.mark.parametrize("value", [1.5, {1: "a"}, 2**53, {"x": {"y": float("nan")}}, b"raw"])
def test_values_without_a_canonical_form_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match=r"\$"):
        canonical_bytes(value)


def test_leaf_and_node_hashes_follow_rfc_6962() -> None:
    hashes = [leaf_hash(leaf) for leaf in LEAVES]
    assert [h.hex() for h in hashes] == LEVELS[0]
    for size, expected in enumerate(ROOTS):
        assert root(hashes[:size]).hex() == expected, size
    assert EMPTY_ROOT.hex() == ROOTS[0]


def test_inclusion_proofs_are_the_audit_paths_and_verify() -> None:
    hashes = [leaf_hash(leaf) for leaf in LEAVES]
    assert [p.hex() for p in inclusion_proof(0, hashes)] == [
        LEVELS[0][1], LEVELS[1][1], LEVELS[2][1]]
    assert [p.hex() for p in inclusion_proof(5, hashes)] == [
        LEVELS[0][4], LEVELS[1][3], LEVELS[2][0]]
    for size in range(1, 9):
        for index in range(size):
            proof = inclusion_proof(index, hashes[:size])
            assert root_from_proof(index, size, hashes[index], proof).hex() == ROOTS[size]
            if proof:  # a changed leaf or proof leads elsewhere
                assert root_from_proof(index, size, hashes[(index + 1) % size],
                                       proof).hex() != ROOTS[size] or size == 1
                with pytest.raises(ValueError, match="proof"):
                    root_from_proof(index, size, hashes[index], [*proof, proof[0]])


@settings(max_examples=40, deadline=None)
@given(count=st.integers(1, 300), pick=st.integers(0, 10_000))
def test_every_leaf_of_any_tree_proves_against_its_root(count: int, pick: int) -> None:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(count)]
    index = pick % count
    proof = inclusion_proof(index, hashes)
    assert len(proof) <= max(1, (count - 1).bit_length())
    assert root_from_proof(index, count, hashes[index], proof) == root(hashes)


def test_the_level_tree_gives_the_recursive_paths_and_roots() -> None:
    for count in range(1, 70):
        hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(count)]
        tree = Tree(hashes)
        assert tree.root == root(hashes)
        for index in range(count):
            assert tree.proof(index) == inclusion_proof(index, hashes), (count, index)
