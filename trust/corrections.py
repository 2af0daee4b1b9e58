"""Two-person corrections: a change to data already recorded is proposed by one person and
applied only when the approval path of its change type (trust.approvals; by default one `qa`
user other than the author) has signed it.

A proposal names the exact change (trust.changes: the edge assertions it retracts, restores
or moves, or a new approval policy), the reason and the author. While pending it changes no
answer. Each approval step is an e-signature ("review" for a step before the last,
"approval" for the last), written as a batch whose precondition is the proposal as it was
read, so of two approvers racing exactly one wins (the other's batch is rejected: "changed
since"). The last approval's batch also carries the change itself, the proposal's new state
and the audit records, all in one synced write. `reject` closes a proposal with a reason.
Every state is a new version of the record and an audit record; nothing is overwritten
without a trace.

The signature's manifestation (21 CFR 11.50): the signer's printed name and id, the meaning,
the UTC time, and the SHA-256 of the proposal's canonical bytes as proposed (11.70: linked to
its record; copied onto another record, the hash no longer matches).
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.errors import InvalidInput, PermissionDenied
from index.ingest import IngestBatch
from index.quality_records import QualityRecords
from trust.approvals import POLICY_KEY, Policy, current_policy, parse_policy
from trust.audit import AuditEvent, iso_ms, record_hash
from trust.canonical import canonical_bytes
from trust.changes import (
    CHANGES,
    attributes_of,
    checked,
    edges_frame,
    inverse,
    keys_of,
    retractions_of,
)
from trust.checkpoint import key_id
from trust.clock import Clock, SystemClock
from trust.identity import Principal, Records

__all__ = ["Correction", "Corrections"]

PROPOSERS = frozenset({"writer", "investigator", "qa"})
POLICY_PROPOSERS = frozenset({"qa", "admin"})  # who may propose an approval-policy change
_U32 = struct.Struct(">I")


@dataclass(frozen=True)
class Correction:
    id: int
    change: dict[str, Any]  # trust.changes, canonical
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

    def as_proposed(self) -> Correction:
        """The record as it was proposed: what every signature's hash covers."""
        return replace(self, state="pending", signatures=[], decided_by=None, decided_at=None,
                       decision_reason=None)


class Corrections:
    """Proposals over `records` (the store, or the live store's writer)."""

    def __init__(self, records: Records, clock: Clock | None = None,
                 signing_key: Ed25519PrivateKey | None = None) -> None:
        """`signing_key` (the server's Ed25519 key, trust.checkpoint) also signs every
        signature's canonical bytes."""
        self.records = records
        self.clock = clock or SystemClock()
        self.signing_key = signing_key

    def policy(self) -> Policy:
        """The approval policy in force."""
        return current_policy(self.records.read("meta", POLICY_KEY))

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
        """A pending proposal. An edge change naming a link is resolved here to the live
        assertions it names (refused when there are none). `origin` names where it came from
        (an ingest batch's retraction, an EPCIS errorDeclaration); proposing the same origin
        again returns the first proposal (a batch sent twice proposes once)."""
        if origin is not None:
            known = self.records.read("corrections", b"o" + origin.encode())
            if known is not None:
                return self.get(int(_U32.unpack(known)[0]))
        if change.get("type") not in CHANGES:
            raise InvalidInput(f"a correction changes one of: {', '.join(CHANGES)}; got "
                               f"{change.get('type')!r}")
        allowed = POLICY_PROPOSERS if change.get("type") == "approval-policy" else PROPOSERS
        if by.role not in allowed:
            raise PermissionDenied(f"{by.name} ({by.role}) may not propose this correction")
        if not reason or not reason.strip():
            raise InvalidInput("a correction needs a reason")
        if change.get("type") == "approval-policy":
            parse_policy(str(change.get("policy") or ""))  # refuses one that cannot be used
            change = {**change, "previous": self.policy().text}
        change = checked(change, getattr(self.records, "assertions", None),
                         getattr(self.records, "node", None))
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
                        keys=[f"correction:{number}", *keys_of(change)],
                        reason=proposal.reason, new=asdict(proposal),
                        details={"via": by.via, "origin": origin})])
        return proposal

    def rollback(self, number: int, by: Principal, reason: str) -> Correction:
        """A proposal that undoes applied correction `number` (through the same approval)."""
        done = self.get(number)
        if done.state != "applied":
            raise InvalidInput(f"correction {number} is {done.state}; only an applied one can "
                               "be rolled back")
        return self.propose(inverse(done.change), by, reason, rolls_back=number)

    def reject(self, number: int, by: Principal, reason: str) -> Correction:
        proposal, _ = self._decidable(number, by)
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
        """The batch that records `by`'s signature on proposal `number`: a review when
        approval steps remain, else the approval that applies the change. Submit it to the
        live store (its precondition is the proposal as read here)."""
        proposal, last = self._decidable(number, by)
        current = proposal.encode()
        now = iso_ms(self.clock.now())
        meaning = "approval" if last else "review"
        signature: dict[str, Any] = {"record_hash": record_hash(proposal.as_proposed().encode()),
                                     "signer_id": by.user_id, "signer": by.printed,
                                     "meaning": meaning, "time": now}
        if self.signing_key is not None:
            signature["key_id"] = key_id(self.signing_key.public_key())
            signature["ed25519"] = base64.b64encode(
                self.signing_key.sign(canonical_bytes(signature))).decode()
        signed = replace(proposal, signatures=[*proposal.signatures, signature])
        if last:
            signed = replace(signed, state="applied", decided_by=by.printed, decided_at=now,
                             decision_reason=(reason or "").strip() or None)
        change = proposal.change
        puts = [("corrections", _U32.pack(number), signed.encode())]
        expect: list[tuple[str, bytes, bytes | None]] = [
            ("corrections", _U32.pack(number), current)]
        if last and change["type"] == "approval-policy":
            puts.append(("meta", POLICY_KEY, change["policy"].encode()))
        if last and change["type"] == "quality-record":
            record_puts, record_expect = QualityRecords(self.records).correction_puts(
                change, proposal.author, now, f"correction {number}")
            puts += record_puts
            expect += record_expect
        action = "correction.approve" if last else "correction.review"
        return IngestBatch(
            "correction", number * 16 + len(proposal.signatures),  # one id per step
            writer=f"{by.printed} ({meaning} of correction {number})", user_id=by.user_id,
            expect=expect, side_puts=puts,
            side_audit=[AuditEvent(action, by.user_id, by.printed,
                                   keys=[f"correction:{number}", *keys_of(change)],
                                   reason=proposal.reason, old="pending",
                                   new="applied" if last else "pending",
                                   details={"signature": signature, "author": proposal.author,
                                            "step": len(proposal.signatures) + 1,
                                            "comment": (reason or "").strip() or None,
                                            "via": by.via})],
            retractions=(retractions_of(change, f"correction {number}: {proposal.reason}")
                         if last else ()),
            attributes=attributes_of(change) if last else (),
            edges=edges_frame(change) if last else None)

    @staticmethod
    def signature_problems(correction: Correction,
                           public: Ed25519PublicKey | None = None) -> list[str]:
        """Each signature must carry the hash of the proposal it signed (the record as
        proposed): one copied from another record, or a record changed after signing, fails.
        With the server's public key, each Ed25519 signature is checked too (a changed
        signer, meaning or time fails)."""
        expected = record_hash(correction.as_proposed().encode())
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

    def _decidable(self, number: int, by: Principal) -> tuple[Correction, bool]:
        """The pending proposal `by` may sign (or reject) now, and whether theirs is the last
        step of its approval path."""
        proposal = self.get(number)
        if proposal.state != "pending":
            raise InvalidInput(f"correction {number} is already {proposal.state}")
        steps = self.policy().steps(proposal.change["type"])
        step = len(proposal.signatures)
        if step >= len(steps):  # the policy was shortened after earlier reviews
            step = len(steps) - 1
        roles = steps[step]
        if by.role not in roles:
            raise PermissionDenied(
                f"{by.name} ({by.role}) may not decide correction {number} now: step "
                f"{step + 1} of {len(steps)} needs a user with role {' or '.join(sorted(roles))}")
        if by.user_id == proposal.author_id:
            raise PermissionDenied(f"{by.name} proposed correction {number}; another person "
                                   "must decide it")
        if any(s.get("signer_id") == by.user_id for s in proposal.signatures):
            raise PermissionDenied(f"{by.name} already signed correction {number}; the next "
                                   "step needs another person")
        return proposal, step == len(steps) - 1
