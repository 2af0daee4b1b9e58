"""What every verb of the command line shares: the stderr console and the progress printer."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console

__all__ = ["err", "progress_printer", "timed"]

err = Console(stderr=True, highlight=False)


def progress_printer(prefix: str) -> Callable[[str], None]:
    """Progress lines on stderr, each with the seconds since the verb began."""
    started = time.perf_counter()

    def say(message: str) -> None:
        err.print(f"[dim]{time.perf_counter() - started:7.2f}s[/dim] {prefix}: {message}")

    return say


def timed(label: str, started: float) -> None:
    """One dim stderr line: what was done and how long it took since `started`."""
    err.print(f"[dim]{label} in {(time.perf_counter() - started) * 1000:.2f} ms[/dim]")
