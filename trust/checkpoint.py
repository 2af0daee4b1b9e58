"""Signed checkpoints of the audit trail: {origin, size, root, time} (root: the RFC 6962
Merkle root of the first `size` records), signed with an Ed25519 key kept outside the data
directory, and written where the store cannot overwrite it (a directory given by option).
Whoever holds a checkpoint and the public key can prove later that none of those `size`
records changed, even if someone rewrote the whole chain and the store's meta."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.errors import InvalidInput
from trust.audit import iso_ms
from trust.canonical import canonical_bytes
from trust.merkle import root
from trust.verify import AuditReport

__all__ = ["generate_key", "key_id", "load_private", "load_public", "read_signed",
           "sign_checkpoint", "verify_checkpoint", "write_checkpoint"]


def generate_key(path: Path) -> Path:
    """Write a new Ed25519 private key to `path` (PEM, mode 0600, refusing to overwrite) and
    its public key to `path`.pub; returns the public key's path."""
    if path.exists():
        raise InvalidInput(f"{path} exists; a signing key is never overwritten")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public = path.with_name(path.name + ".pub")
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return public


def _load(path: Path, kind: str, load: Any, expected: type) -> Any:
    try:
        key = load(path.read_bytes())
    except (OSError, ValueError) as e:
        raise InvalidInput(f"{path}: not a readable Ed25519 {kind} key ({type(e).__name__})") \
            from None
    if not isinstance(key, expected):
        raise InvalidInput(f"{path}: not an Ed25519 {kind} key")
    return key


def load_private(path: Path) -> Ed25519PrivateKey:
    key: Ed25519PrivateKey = _load(path, "private", lambda data: serialization
                                   .load_pem_private_key(data, password=None), Ed25519PrivateKey)
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    key: Ed25519PublicKey = _load(path, "public", serialization.load_pem_public_key,
                                  Ed25519PublicKey)
    return key


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign_checkpoint(key: Ed25519PrivateKey, origin: str, leaves: Sequence[bytes],
                    when: datetime) -> dict[str, Any]:
    body = {"origin": origin, "size": len(leaves), "root": root(leaves).hex(),
            "time": iso_ms(when)}
    signature = key.sign(canonical_bytes(body))
    return {**body, "key_id": key_id(key.public_key()),
            "signature": base64.b64encode(signature).decode()}


def write_checkpoint(folder: Path, checkpoint: dict[str, Any]) -> Path:
    """Write `checkpoint` as folder/checkpoint-<size>.json (never over an existing one)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"checkpoint-{checkpoint['size']:012d}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w") as out:
        json.dump(checkpoint, out, sort_keys=True, indent=1)
        out.write("\n")
    return path


def read_signed(path: Path, public_key: Path) -> dict[str, Any]:
    """A checkpoint's {origin, size, root, time} once its signature verifies under
    `public_key`; InvalidInput when it does not."""
    try:
        checkpoint = json.loads(path.read_text())
        body = {k: checkpoint[k] for k in ("origin", "size", "root", "time")}
        load_public(public_key).verify(base64.b64decode(checkpoint["signature"]),
                                       canonical_bytes(body))
    except (OSError, ValueError, KeyError, TypeError, InvalidSignature) as e:
        raise InvalidInput(f"{path}: the checkpoint's signature does not verify "
                           f"({type(e).__name__})") from None
    return body


def verify_checkpoint(path: Path, public_key: Path | None, leaves: Sequence[bytes],
                      report: AuditReport) -> None:
    """Check a checkpoint file (or every checkpoint-*.json of a directory) against the
    records: its signature under `public_key`, then that the first `size` records still have
    its root. Problems go into `report`."""
    if public_key is None:
        report.fail(0, "a checkpoint is verified with the public key (--public-key)")
        return
    load_public(public_key)  # an unreadable key is the caller's error, said at once
    files = sorted(path.glob("checkpoint-*.json")) if path.is_dir() else [path]
    if not files:
        report.fail(0, f"{path}: no checkpoint-*.json to verify")
    for file in files:
        try:
            body = read_signed(file, public_key)
        except InvalidInput as e:
            report.fail(0, str(e))
            continue
        size = int(body["size"])
        report.checkpoint = body
        if size > len(leaves):
            report.fail(len(leaves) + 1, f"{file.name} signed {size} records but the store "
                                         f"holds {len(leaves)}: records {len(leaves) + 1} to "
                                         f"{size} are gone")
        elif root(leaves[:size]).hex() != body["root"]:
            report.fail(1, f"{file.name}: records 1 to {size} no longer have the signed root "
                           "(the chain was rewritten)")
