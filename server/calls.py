"""Streaming calls under watch, so no client can wedge or starve the server.

A gRPC worker thread serving a stream is held for as long as the stream lasts: by a client that
never reads (the send blocks on flow control), one that idles (the receive blocks), or one that
went away without a word. With a fixed pool, a handful of such clients would leave nothing for
anyone else, health checks included. So every stream (Trace, Hourglass, Impact, Ingest):

- takes a slot, at most `max_streams` in all (12 of the 16 workers: the other 4 keep unary
  calls, health and Stats answerable), `max_streams_per_peer` per client host and
  `max_streams_per_connection` per connection;
  none free is RESOURCE_EXHAUSTED at once, before any work;
- reports progress each time a message goes out or comes in; a watchdog thread cancels a
  stream that made none for `stall_seconds` (a reader that stopped reading) or, for Ingest,
  that received no batch for `idle_seconds` while owing no acknowledgement.

Cancelling frees the worker: a blocked send or receive returns, the handler's `finally` runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc

from domain import knobs

__all__ = ["CallGuard", "CallLimits", "WatchedCall"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallLimits:
    """The stream limits a server uses (defaults: domain.knobs, where each is explained)."""

    max_streams: int = knobs.MAX_STREAMS
    max_streams_per_peer: int = knobs.MAX_STREAMS_PER_PEER
    max_streams_per_connection: int = knobs.MAX_STREAMS_PER_CONNECTION
    stall_seconds: float = knobs.STALL_SECONDS
    idle_seconds: float = knobs.IDLE_SECONDS
    watch_every: float = knobs.WATCH_EVERY


@dataclass
class WatchedCall:
    """One stream in progress; `progress()` on every message that moved."""

    context: grpc.ServicerContext
    method: str
    peer: str
    idle_allowed: bool  # Ingest: waiting for the next batch is fine, up to idle_seconds
    last: float = field(default_factory=time.monotonic)
    owed: int = 0  # acknowledgements the server still owes (Ingest)
    reason: str = ""

    def progress(self) -> None:
        self.last = time.monotonic()


def _host(peer: str) -> str:
    """'ipv4:127.0.0.1:5123' -> 'ipv4:127.0.0.1' (one client host, whatever its ports)."""
    return peer.rsplit(":", 1)[0] if peer.count(":") >= 2 else peer


class CallGuard:
    """Slots and a watchdog for the streams of one server."""

    def __init__(self, limits: CallLimits | None = None) -> None:
        self.limits = limits or CallLimits()
        self._lock = threading.Lock()
        self._by_id: dict[int, WatchedCall] = {}
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.cancelled: dict[str, int] = {"stalled": 0, "idle": 0}

    def start(self) -> None:
        self._watchdog = threading.Thread(target=self._watch, name="tracegraph-watchdog",
                                          daemon=True)
        self._watchdog.start()

    def stop(self) -> None:
        self._stop.set()

    def acquire(self, context: grpc.ServicerContext, method: str, *,
                idle_allowed: bool = False) -> WatchedCall:
        """A slot for one stream (give it back with `release`); RESOURCE_EXHAUSTED, before any
        work, when none is free."""
        peer = context.peer()
        host = _host(peer)
        call = WatchedCall(context, method, peer, idle_allowed)
        with self._lock:
            open_here = sum(1 for c in self._by_id.values() if _host(c.peer) == host)
            on_connection = sum(1 for c in self._by_id.values() if c.peer == peer)
            full = (len(self._by_id) >= self.limits.max_streams
                    or open_here >= self.limits.max_streams_per_peer
                    or on_connection >= self.limits.max_streams_per_connection)
            if not full:
                self._by_id[id(call)] = call
        if full:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"too many open streams ({self.limits.max_streams} in all, "
                          f"{self.limits.max_streams_per_peer} per client host, "
                          f"{self.limits.max_streams_per_connection} per connection); "
                          "finish or cancel one and retry")
        return call

    def release(self, call: WatchedCall) -> None:
        with self._lock:
            self._by_id.pop(id(call), None)

    @contextmanager
    def stream(self, context: grpc.ServicerContext, method: str, *,
               idle_allowed: bool = False) -> Iterator[WatchedCall]:
        """`acquire` and `release` around a block."""
        call = self.acquire(context, method, idle_allowed=idle_allowed)
        try:
            yield call
        finally:
            self.release(call)

    def open_streams(self) -> int:
        with self._lock:
            return len(self._by_id)

    def _watch(self) -> None:
        while not self._stop.wait(self.limits.watch_every):
            now = time.monotonic()
            with self._lock:
                calls = list(self._by_id.values())
            for call in calls:
                quiet = now - call.last
                if call.idle_allowed and call.owed == 0:
                    if quiet > self.limits.idle_seconds:
                        self._cancel(call, "idle", f"no batch for {quiet:.0f} s")
                elif quiet > self.limits.stall_seconds:
                    self._cancel(call, "stalled", f"no progress for {quiet:.0f} s (the client "
                                                  "does not read)")

    def _cancel(self, call: WatchedCall, kind: str, why: str) -> None:
        if call.reason:
            return
        call.reason = why
        self.cancelled[kind] += 1
        log.warning("cancelling %s from %s: %s", call.method, call.peer, why)
        context: Any = call.context
        context.cancel()
