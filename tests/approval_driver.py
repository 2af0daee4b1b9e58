"""Approves every pending correction of a data directory, one after another, as qa user 9:
the process tests/test_corrections.py SIGKILLs at random moments."""

from __future__ import annotations

import sys
from pathlib import Path

from index.live import LiveStore
from trust.corrections import Corrections
from trust.identity import Principal

APPROVER = Principal(9, "quinn", "Quinn QA", "qa", "session")


def main() -> None:
    with LiveStore(Path(sys.argv[1])) as live:
        corrections = Corrections(live)
        print("ready", flush=True)
        for proposal in corrections.all():
            if proposal.state == "pending":
                ack = live.ingest(corrections.approval(proposal.id, APPROVER))
                print(f"{proposal.id} {ack.outcome}", flush=True)


if __name__ == "__main__":
    main()
