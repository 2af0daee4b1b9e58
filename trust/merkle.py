"""An RFC 6962 (RFC 9162 section 2.1) Merkle tree over the audit records: leaf hash
SHA-256(0x00 || leaf), node hash SHA-256(0x01 || left || right), the tree of n leaves split at
the largest power of two below n. Its root, signed in a checkpoint, commits to every record;
an inclusion proof shows one record is in it in log2(n) hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["EMPTY_ROOT", "Tree", "inclusion_proof", "leaf_hash", "node_hash", "root",
           "root_from_proof"]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """The tree head of these leaf hashes (not leaf data), bottom-up: each level pairs
    neighbours and carries an odd last node up unchanged, which is the RFC's split."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf `index` in the tree of `leaves` (leaf hashes), leaf to root."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaves)}")
    path: list[bytes] = []
    _path(index, leaves, path)
    return path


def _path(index: int, leaves: Sequence[bytes], out: list[bytes]) -> None:
    n = len(leaves)
    if n <= 1:
        return
    k = _split(n)
    if index < k:
        _path(index, leaves[:k], out)
        out.append(root(leaves[k:]))
    else:
        _path(index - k, leaves[k:], out)
        out.append(root(leaves[:k]))


def root_from_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 2.1.3.2); equal to the signed root iff
    leaf hash `leaf` is leaf `index` of that tree. Raises ValueError on a malformed proof."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    fn, sn = index, size - 1
    node = leaf
    for sibling in proof:
        if sn == 0:
            raise ValueError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("the proof is shorter than the tree is deep")
    return node


class Tree:
    """Every level of the tree over `leaves` (leaf hashes), built once, so each audit path
    is a lookup per level: pairing neighbours bottom-up and carrying an odd last node up
    unchanged builds exactly the RFC 6962 tree (tests/test_trust_primitives.py checks paths
    and roots against the recursive definition)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) > 1:
            level = self.levels[-1]
            paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                paired.append(level[-1])
            self.levels.append(paired)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    @property
    def root(self) -> bytes:
        return self.levels[-1][0] if self.size else EMPTY_ROOT

    def proof(self, index: int) -> list[bytes]:
        if not 0 <= index < self.size:
            raise ValueError(f"leaf {index} is not in a tree of {self.size}")
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return path
