"""Fault hooks for crash tests: points in the write path where a test can make the process die.

`TRACEGRAPH_FAULTS` holds comma-separated `point` or `point:action` items; the action is `exit`
(default: `os._exit(137)`, as abrupt as SIGKILL for our purposes, no cleanup, no flush) or
`sleep=SECONDS` (widen a window so a test's SIGKILL lands inside it). Points:

    after-commit     the ingest WriteBatch is synced, the client is not yet acknowledged
    publish-files    snapshot files written, manifest not yet
    publish-manifest manifest written, directory not yet fsynced
    publish-rename   directory fsynced, not yet renamed into place
    publish-done     renamed, parent directory not yet fsynced
    compact-start    compaction has exported the delta, the build has not begun
    before-walk      a query passed its cancellation check, its kernel has not begun

Unset in production: `hit` is then one dictionary lookup.
"""

from __future__ import annotations

import os
import time

__all__ = ["hit"]

_ENV = "TRACEGRAPH_FAULTS"


def _parse(text: str) -> dict[str, str]:
    faults: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        point, _, action = item.partition(":")
        faults[point] = action or "exit"
    return faults


def hit(point: str) -> None:
    """Run the fault configured for `point`, if any."""
    text = os.environ.get(_ENV)
    if not text:
        return
    action = _parse(text).get(point)
    if action is None:
        return
    if action == "exit":
        os._exit(137)
    if action.startswith("sleep="):
        time.sleep(float(action.removeprefix("sleep=")))
