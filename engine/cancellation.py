"""Stopping a running query from another thread."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from domain.errors import QueryCancelled

__all__ = ["Cancellation", "cancel_flag"]


class Cancellation:
    """A stop flag a running query polls (every few thousand nodes). Set it from any thread,
    for example when a gRPC call is cancelled or its deadline passes; the query then raises
    QueryCancelled. One Cancellation belongs to one request."""

    def __init__(self) -> None:
        self.flag = np.zeros(1, dtype=np.uint8)

    def cancel(self) -> None:
        self.flag[0] = 1

    @property
    def cancelled(self) -> bool:
        return bool(self.flag[0])


def cancel_flag(cancellation: Cancellation | None) -> npt.NDArray[Any] | None:
    """The flag a walk polls; raises QueryCancelled if the request is already cancelled."""
    if cancellation is None:
        return None
    if cancellation.cancelled:
        raise QueryCancelled("query cancelled before it started")
    return cancellation.flag
