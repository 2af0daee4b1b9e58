"""Directions of a trace, with the aliases people use. Never "top-down"/"bottom-up": SAP's MB56
uses them the other way round from what many guess (README, "Words")."""

from __future__ import annotations

from typing import Literal

from domain.errors import InvalidInput

__all__ = ["ALIASES", "Direction", "direction_of"]

Direction = Literal["downstream", "upstream"]
ALIASES: dict[str, Direction] = {
    "downstream": "downstream", "forward": "downstream", "where-used": "downstream",
    "upstream": "upstream", "backward": "upstream", "where-from": "upstream",
}


def direction_of(name: str) -> Direction:
    """The direction a name or alias means; InvalidInput for anything else."""
    try:
        return ALIASES[name]
    except (KeyError, TypeError):
        raise InvalidInput(f"direction {name!r} is not one of downstream (forward, where-used) "
                           "or upstream (backward, where-from)") from None
