"""Times, one representation everywhere: int64 microseconds since 1970-01-01 UTC inside, ISO
8601 with an explicit offset outside; naive datetimes and texts are UTC.

Sentinels (kernels compare against them; they are int64 extremes, so no real time collides):
NO_TIME is an edge without an event time, NEVER a retraction or an end that has not happened.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from domain.errors import InvalidInput

__all__ = ["EPOCH", "NEVER", "NO_TIME", "TimeLike", "from_micros", "iso", "parse_time",
           "to_micros"]

NO_TIME = int(np.iinfo(np.int64).min)
NEVER = int(np.iinfo(np.int64).max)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TimeLike = datetime | str | None


def parse_time(value: TimeLike, name: str = "time") -> datetime | None:
    """A datetime or ISO 8601 text (`Z`, an offset, or naive = UTC) as an aware datetime;
    InvalidInput naming `name` otherwise."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as e:
            raise InvalidInput(f"{name}: {value!r} is not an ISO 8601 time") from e
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name}: expected a datetime or ISO 8601 text, got "
                           f"{type(value).__name__}")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def to_micros(value: TimeLike, name: str = "time") -> int | None:
    """Microseconds since the epoch (exact, no float rounding), or None."""
    moment = parse_time(value, name)
    if moment is None:
        return None
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def iso(value: datetime) -> str:
    """The one output format: ISO 8601 with the offset, in UTC (microseconds when any)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()
