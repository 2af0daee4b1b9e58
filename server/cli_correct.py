"""`tracegraph correct`: two-person corrections on a data directory (trust.corrections).
Proposing, approving and rejecting act as the signed-in user (--user, the password on stdin);
list, show and policy read the store as its owner."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from domain.errors import InvalidInput
from index.store import Store
from server.cli_trust import signed_in

__all__ = ["add_correct_parser", "cmd_correct"]


def add_correct_parser(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """The `correct` verbs (called by server.cli_args); every verb takes --data."""

    def verb(verbs: Any, name: str, help_text: str) -> Any:
        parser = verbs.add_parser(name, help=help_text, formatter_class=formatter)
        parser.add_argument("--data", type=Path, required=True, help="data directory")
        return parser

    correct = sub.add_parser("correct", help="two-person corrections of recorded data: "
                                             "propose, then another qa user approves")
    correct.formatter_class = formatter
    verbs = correct.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = verb(verbs, "propose", "propose a correction (prints its id alone on the last line)")
    change = p.add_mutually_exclusive_group(required=True)
    change.add_argument("--retract-edge", nargs=3, metavar=("SRC", "DST", "KIND"),
                        help="withdraw a wrong edge (kept as history)")
    change.add_argument("--restore-edge", nargs=3, metavar=("SRC", "DST", "KIND"),
                        help="assert an edge again (undoes a retraction)")
    change.add_argument("--move-serial", nargs=4, metavar=("SERIAL", "FROM", "TO", "KIND"),
                        help="give SERIAL the parent TO instead of FROM (edges of KIND), "
                             "keeping each assertion's event time and quantity")
    change.add_argument("--set-attribute", nargs=3, metavar=("KEY", "FIELD", "VALUE"),
                        help="set a node's product, quantity, uom or created_at (VALUE '' "
                             "clears it)")
    change.add_argument("--approval-policy", type=Path, metavar="FILE",
                        help="a new approval policy (TOML; see `correct policy`)")
    change.add_argument("--rollback", type=int, metavar="ID",
                        help="undo applied correction ID (through the same approval)")
    change.add_argument("--quality-record", metavar="RECORD_ID",
                        help="a kept quality record's next version: --status and --set "
                             "what an import may not change (a step back, other content)")
    p.add_argument("--status", help="--quality-record: its status in the new version")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="--quality-record: a field of the new version (VALUE empty removes "
                        "it); repeatable")
    p.add_argument("--event-time", help="only the edge at this event time (ISO 8601)")
    p.add_argument("--event-id", help="only the assertion of this event")
    p.add_argument("--reason", required=True, help="why (kept with the proposal)")
    for name, what in (("approve", "approve and apply a pending correction (qa, not its "
                                   "author); the approval is an e-signature"),
                       ("reject", "close a pending correction without applying it (qa)")):
        p = verb(verbs, name, what)
        p.add_argument("id", type=int)
        p.add_argument("--reason", required=name == "reject", help="why")
        if name == "approve":
            p.add_argument("--signing-key", type=Path, help="Ed25519 private key that also "
                           "signs the approval (the server's audit key)")
    for p in (verbs.choices["propose"], verbs.choices["approve"], verbs.choices["reject"]):
        p.add_argument("--user", required=True, help="who you are (a signature needs it)")
        p.add_argument("--password-stdin", action="store_true", required=True,
                       help="your password, read from stdin")
    verb(verbs, "policy", "print the approval policy in force (TOML)")
    p = verb(verbs, "list", "every correction and its state")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output")
    p = verb(verbs, "show", "one correction, whole, with its signatures")
    p.add_argument("id", type=int)


def cmd_correct(args: argparse.Namespace) -> int:
    """Corrections act as the signed-in user (--user, password on stdin): the author and the
    approver must be two people, and the approval is their signature."""
    from dataclasses import asdict

    from index.live import LiveStore
    from trust.changes import describe
    from trust.corrections import Corrections

    if args.verb in ("list", "show", "policy"):
        store = Store(args.data, writable=False)
        try:
            corrections = Corrections(store)
            if args.verb == "policy":
                sys.stdout.write(corrections.policy().text)
                return 0
            rows = ([asdict(corrections.get(args.id))] if args.verb == "show"
                    else [asdict(c) for c in corrections.all()])
        finally:
            store.close()
        if args.verb == "show" or args.format == "json":
            print(json.dumps(rows if args.verb == "list" else rows[0], indent=1,
                             ensure_ascii=False))
        else:
            for row in rows:
                signed = len(row["signatures"])
                print(f"{row['id']:>4}  {row['state']:<8} {describe(row['change'])}  by "
                      f"{row['author']}: {row['reason']}"
                      + (f"  [{signed} signature(s)]" if signed else ""))
        return 0
    with LiveStore(args.data) as live:
        signer = signed_in(live, args, f"correct {args.verb}")
        key = getattr(args, "signing_key", None)
        if key is not None:
            from trust.checkpoint import load_private

            corrections = Corrections(live, signing_key=load_private(key))
        else:
            corrections = Corrections(live)
        if args.verb == "propose":
            if args.rollback is not None:
                proposal = corrections.rollback(args.rollback, signer, args.reason)
            elif args.quality_record is not None:
                from index.quality_records import QualityRecords

                sets = dict(_assignment(text) for text in args.set)
                change = QualityRecords(live).correction(args.quality_record, args.status,
                                                         sets)
                proposal = corrections.propose(change, signer, args.reason)
            else:
                proposal = corrections.propose(_change_of(args), signer, args.reason)
            print(f"proposed correction {proposal.id}: {describe(proposal.change)}; it "
                  "changes nothing until it is approved", file=sys.stderr)
            print(proposal.id)
        elif args.verb == "reject":
            corrections.reject(args.id, signer, args.reason)
            print(f"rejected correction {args.id}")
        else:
            batch = corrections.approval(args.id, signer, args.reason)
            ack = live.ingest(batch)
            if ack.outcome != "applied":
                raise InvalidInput(f"correction {args.id} was not signed: {ack.message}")
            done = corrections.get(args.id)
            if done.state == "applied":
                print(f"correction {args.id} approved by {signer.printed} and applied at log "
                      f"sequence {ack.seq}")
            else:
                steps = len(corrections.policy().steps(done.change["type"]))
                print(f"correction {args.id} reviewed by {signer.printed} (signature "
                      f"{len(done.signatures)} of {steps}); it applies at the last approval")
    return 0


def _assignment(text: str) -> tuple[str, str | None]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise InvalidInput(f"--set takes FIELD=VALUE, got {text!r}")
    return name.strip(), value or None


def _change_of(args: argparse.Namespace) -> dict[str, Any]:
    """The change `correct propose` names."""
    if args.move_serial:
        serial, source, target, kind = args.move_serial
        return {"type": "move-serial", "serial": serial, "from": source, "to": target,
                "kind": kind}
    if args.set_attribute:
        key, name, value = args.set_attribute
        return {"type": "set-attribute", "key": key, "field": name, "value": value}
    if args.approval_policy is not None:
        return {"type": "approval-policy",
                "policy": args.approval_policy.read_text(encoding="utf-8")}
    kind, (src, dst, edge_kind) = (("retract-edge", args.retract_edge) if args.retract_edge
                                   else ("restore-edge", args.restore_edge))
    return {"type": kind, "src": src, "dst": dst, "kind": edge_kind,
            "event_time": args.event_time, "event_id": args.event_id}
