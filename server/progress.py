"""Progress of long commands on the terminal: one rich progress bar whose label is the current
step, instead of a line per step. A step reports counts through `count(done, total)` when it
has them (rows resolved, of how many); anything else is a step name. Off a terminal the bar
shows its last state once, when the command ends."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["ProgressBar"]


class ProgressBar:
    """Callable as a plain progress function (`bar("numbering nodes")`) and with counts
    (`bar.count(rows, total)`); use as a context manager around the work."""

    def __init__(self, console: Console, label: str) -> None:
        self._label = label
        self._started = time.perf_counter()
        self._console = console
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                             MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                             transient=True)
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressBar:
        self._bar.start()
        self._task = self._bar.add_task(f"{self._label}: starting", total=None)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._bar.stop()  # transient: the bar goes; an error's one line stays alone
        if kind is None:
            seconds = time.perf_counter() - self._started
            self._console.print(f"{self._label}: done in {seconds:.1f} s")

    def __call__(self, message: str) -> None:
        if self._task is not None:
            self._bar.update(self._task, description=f"{self._label}: {message}")

    def count(self, done: int, total: int | None) -> None:
        if self._task is not None:
            self._bar.update(self._task, completed=done, total=total)

