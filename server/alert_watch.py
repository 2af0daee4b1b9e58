"""The server's alert loop: the alert rules measured every `every` seconds on a thread of the
serving process (qms.alerts.check over the live store and graph), and a feed of the alerts
whose state changed, for WatchAlerts streams to wait on.

The feed keeps the last FEED changes with a sequence number; a watcher that fell further
behind than that gets the current active alerts again instead (it cannot miss a state:
it is told where things stand)."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from domain.errors import TraceError
from qms.alerts import Alert, check
from trust.identity import Principal

__all__ = ["SERVER", "AlertWatch"]

log = logging.getLogger(__name__)
SERVER = Principal(0, "server", "server (alert rules)", "admin", "server")
"""Who raises and clears alerts the server measured (the audit trail's `user`)."""
FEED = 1000


class AlertWatch:
    def __init__(self, live: Any, graph: Callable[[], Any], every: float,
                 stopped: threading.Event) -> None:
        self.live = live
        self.graph = graph
        self.every = every
        self.stopped = stopped
        self._changed = threading.Condition()
        self._feed: deque[tuple[int, Alert]] = deque(maxlen=FEED)
        self._seq = 0
        self.failures = 0

    def start(self) -> None:
        threading.Thread(target=self._loop, name="tracegraph-alerts", daemon=True).start()

    def _loop(self) -> None:
        self.run_once()  # what stands at start, off the server's start-up path
        while not self.stopped.wait(self.every):
            self.run_once()

    def run_once(self) -> list[Alert]:
        """Measure now; publish and return what changed (nothing when the store refuses:
        logged, tried again next time)."""
        graph = self.graph()
        if graph is None or self.stopped.is_set():
            return []
        try:
            changed = check(self.live, graph, SERVER)
        except TraceError as e:
            self.failures += 1
            log.error("alert rules not measured: %s", e)
            return []
        self.publish(changed)
        return changed

    def publish(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        with self._changed:
            for alert in alerts:
                self._seq += 1
                self._feed.append((self._seq, alert))
            self._changed.notify_all()

    @property
    def seq(self) -> int:
        with self._changed:
            return self._seq

    def wait(self, after: int, timeout: float) -> tuple[int, list[Alert] | None]:
        """(sequence now, the changes after `after`), waiting up to `timeout` for one; None
        instead of the changes when the feed no longer holds them all (read the active
        alerts again)."""
        with self._changed:
            if self._seq == after:
                self._changed.wait(timeout)
            if self._seq == after:
                return after, []
            oldest = self._feed[0][0] if self._feed else self._seq + 1
            if after + 1 < oldest:
                return self._seq, None
            return self._seq, [alert for seq, alert in self._feed if seq > after]
