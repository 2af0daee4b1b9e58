"""Two-person corrections: a change to data already recorded is proposed by one person and
applied only when a different person with role `qa` approves it, with an approval signature.

A proposal names the exact change (today: `retract-edge`, and `restore-edge`, which is also
how a retraction is rolled back), the reason and the author. While pending it changes no
answer. `approval` turns it into one ingest batch that carries the retraction (or the restored
edge), the proposal's new state and the audit records, all written in one synced write; the
batch's precondition is the proposal as it was read, so of two approvers racing exactly one
wins (the other's batch is rejected: "changed since"). `reject` closes a proposal with a
reason. Every state is a new version of the record and an audit record; nothing is
overwritten without a trace.

The approval signature's manifestation (21 CFR 11.50): the signer's printed name and id, the
meaning ("approval"), the UTC time, and the SHA-256 of the proposal's canonical bytes it
approves (11.70: linked to its record; copied onto another record, the hash no longer
matches).
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import polars as pl
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.errors import InvalidInput, PermissionDenied
from domain.time import parse_time
from index.ingest import IngestBatch, RetractionRequest
from trust.audit import AuditEvent, iso_ms, record_hash
from trust.canonical import canonical_bytes
from trust.checkpoint import key_id
from trust.clock import Clock, SystemClock
from trust.identity import Principal, Records

__all__ = ["CHANGES", "Correction", "Corrections"]

CHANGES = ("retract-edge", "restore-edge")
PROPOSERS = frozenset({"writer", "investigator", "qa"})
APPROVERS = frozenset({"qa"})
_U32 = struct.Struct(">I")


@dataclass(frozen=True)
class Correction:
    id: int
    change: dict[str, Any]  # type, src, dst, kind, event_time, event_id
    reason: str
    author_id: int
    author: str
    created_at: str
    state: str = "pending"  # pending, rejected, applied
    signatures: list[dict[str, Any]] = field(default_factory=list)
    decided_by: str | None = None
    decided_at: str | None = None
    decision_reason: str | None = None
    rolls_back: int | None = None

    def encode(self) -> bytes:
        return canonical_bytes(asdict(self))


class Corrections:
    """Proposals over `records` (the store, or the live store's writer)."""

    def __init__(self, records: Records, clock: Clock | None = None,
                 signing_key: Ed25519PrivateKey | None = None) -> None:
        """`signing_key` (the server's Ed25519 key, trust.checkpoint) also signs every
        approval signature's canonical bytes."""
        self.records = records
        self.clock = clock or SystemClock()
        self.signing_key = signing_key

    def get(self, number: int) -> Correction:
        value = self.records.read("corrections", _U32.pack(number))
        if value is None:
            raise InvalidInput(f"no correction {number}")
        return Correction(**json.loads(value))

    def all(self) -> list[Correction]:
        return [Correction(**json.loads(v)) for k, v in self.records.scan("corrections")
                if len(k) == _U32.size]

    def propose(self, change: dict[str, Any], by: Principal, reason: str,
                rolls_back: int | None = None, origin: str | None = None) -> Correction:
        """A pending proposal. `origin` names where it came from (an ingest batch's
        retraction); proposing the same origin again returns the first proposal (a batch sent
        twice proposes once)."""
        if origin is not None:
            known = self.records.read("corrections", b"o" + origin.encode())
            if known is not None:
                return self.get(int(_U32.unpack(known)[0]))
        if by.role not in PROPOSERS:
            raise PermissionDenied(f"{by.name} ({by.role}) may not propose corrections")
        if not reason or not reason.strip():
            raise InvalidInput("a correction needs a reason")
        change = _checked(change)
        last = self.records.read("meta", b"next_correction")
        number = 1 if last is None else int(struct.unpack(">Q", last)[0])
        proposal = Correction(number, change, reason.strip(), by.user_id, by.printed,
                              iso_ms(self.clock.now()), rolls_back=rolls_back)
        origins = ([] if origin is None
                   else [("corrections", b"o" + origin.encode(), _U32.pack(number))])
        self.records.write(
            [("meta", b"next_correction", struct.pack(">Q", number + 1)),
             ("corrections", _U32.pack(number), proposal.encode()), *origins],
            [AuditEvent("correction.propose", by.user_id, by.printed,
                        keys=[f"correction:{number}", change["src"], change["dst"]],
                        reason=proposal.reason, new=asdict(proposal),
                        details={"via": by.via, "origin": origin})])
        return proposal

    def rollback(self, number: int, by: Principal, reason: str) -> Correction:
        """A proposal that undoes applied correction `number` (through the same approval)."""
        done = self.get(number)
        if done.state != "applied":
            raise InvalidInput(f"correction {number} is {done.state}; only an applied one can "
                               "be rolled back")
        inverse = {"retract-edge": "restore-edge", "restore-edge": "retract-edge"}
        return self.propose({**done.change, "type": inverse[done.change["type"]]}, by, reason,
                            rolls_back=number)

    def reject(self, number: int, by: Principal, reason: str) -> Correction:
        proposal = self._decidable(number, by)
        if not reason or not reason.strip():
            raise InvalidInput("a rejection needs a reason")
        rejected = replace(proposal, state="rejected", decided_by=by.printed,
                           decided_at=iso_ms(self.clock.now()), decision_reason=reason.strip())
        self.records.write([("corrections", _U32.pack(number), rejected.encode())],
                           [AuditEvent("correction.reject", by.user_id, by.printed,
                                       keys=[f"correction:{number}"], reason=reason.strip(),
                                       old="pending", new="rejected",
                                       details={"via": by.via})])
        return rejected

    def approval(self, number: int, by: Principal, reason: str | None = None) -> IngestBatch:
        """The batch that applies proposal `number`, approved and signed by `by`; submit it to
        the live store (its precondition is the proposal as read here)."""
        proposal = self._decidable(number, by)
        current = proposal.encode()
        now = iso_ms(self.clock.now())
        signature: dict[str, Any] = {"record_hash": record_hash(current),
                                     "signer_id": by.user_id, "signer": by.printed,
                                     "meaning": "approval", "time": now}
        if self.signing_key is not None:
            signature["key_id"] = key_id(self.signing_key.public_key())
            signature["ed25519"] = base64.b64encode(
                self.signing_key.sign(canonical_bytes(signature))).decode()
        applied = replace(proposal, state="applied", signatures=[*proposal.signatures,
                                                                  signature],
                          decided_by=by.printed, decided_at=now,
                          decision_reason=(reason or "").strip() or None)
        change = proposal.change
        batch = IngestBatch(
            "correction", number, writer=f"{by.printed} (approving correction {number})",
            user_id=by.user_id,
            expect=[("corrections", _U32.pack(number), current)],
            side_puts=[("corrections", _U32.pack(number), applied.encode())],
            side_audit=[AuditEvent("correction.approve", by.user_id, by.printed,
                                   keys=[f"correction:{number}", change["src"], change["dst"]],
                                   reason=proposal.reason, old="pending", new="applied",
                                   details={"signature": signature, "author": proposal.author,
                                            "via": by.via})])
        if change["type"] == "retract-edge":
            return replace(batch, retractions=[RetractionRequest(
                change["src"], change["dst"], change["kind"],
                f"correction {number}: {proposal.reason}", parse_time(change["event_time"]),
                change["event_id"])])
        edge = pl.DataFrame({"src": [change["src"]], "dst": [change["dst"]],
                             "kind": [change["kind"]], "event_time": [change["event_time"]],
                             "event_id": [change["event_id"]]},
                            schema={"src": pl.String, "dst": pl.String, "kind": pl.String,
                                    "event_time": pl.String, "event_id": pl.String})
        return replace(batch, edges=edge)

    @staticmethod
    def signature_problems(correction: Correction,
                           public: Ed25519PublicKey | None = None) -> list[str]:
        """Each signature must carry the hash of the proposal it approved (the record as it
        was pending): one copied from another record, or a record changed after signing,
        fails. With the server's public key, each Ed25519 signature is checked too (a
        changed signer, meaning or time fails)."""
        pending = replace(correction, state="pending", signatures=[], decided_by=None,
                          decided_at=None, decision_reason=None)
        expected = record_hash(pending.encode())
        problems = []
        for sig in correction.signatures:
            who = f"correction {correction.id}: signature of {sig.get('signer')}"
            if sig.get("record_hash") != expected:
                problems.append(f"{who} is not linked to this record")
            if public is not None:
                fields = {k: v for k, v in sig.items() if k != "ed25519"}
                try:
                    public.verify(base64.b64decode(sig.get("ed25519", "")),
                                  canonical_bytes(fields))
                except (InvalidSignature, ValueError, TypeError):
                    problems.append(f"{who} does not verify under the server's key")
        return problems

    def _decidable(self, number: int, by: Principal) -> Correction:
        proposal = self.get(number)
        if by.role not in APPROVERS:
            raise PermissionDenied(f"{by.name} ({by.role}) may not decide corrections; a qa "
                                   "user must")
        if by.user_id == proposal.author_id and by.user_id != 0:
            raise PermissionDenied(f"{by.name} proposed correction {number}; another person "
                                   "must decide it")
        if proposal.state != "pending":
            raise InvalidInput(f"correction {number} is already {proposal.state}")
        return proposal


def _checked(change: dict[str, Any]) -> dict[str, Any]:
    kind = change.get("type")
    if kind not in CHANGES:
        raise InvalidInput(f"a correction changes one of: {', '.join(CHANGES)}; got {kind!r}")
    for name in ("src", "dst", "kind"):
        if not isinstance(change.get(name), str) or not change[name].strip():
            raise InvalidInput(f"{kind} needs {name}")
    when = parse_time(change.get("event_time"), "event_time")
    return {"type": kind, "src": change["src"], "dst": change["dst"], "kind": change["kind"],
            "event_time": None if when is None else when.isoformat(),
            "event_id": change.get("event_id") or None}
