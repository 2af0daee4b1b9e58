"""Trace columns from master data, over the engine's node attribute columns
(engine.columns): `expiry`, the expiry date of the row's lot (lot master data, ISO date).
The engine knows the genealogy, not master data; every way in (CLI, gRPC) asks for the
engine's columns, then adds these."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

import pyarrow as pa

from domain.errors import InvalidInput
from index.master import MasterData

__all__ = ["MASTER_COLUMNS", "split_columns", "with_master_columns"]

MASTER_COLUMNS: Final = ("expiry",)


def split_columns(columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the engine's columns to ask for, the master-data columns to add after): a master
    column needs the row's lot, so `lot` is asked for too (and dropped again if not wanted)."""
    engine = [c for c in columns if c not in MASTER_COLUMNS]
    master = [c for c in columns if c in MASTER_COLUMNS]
    if master and "lot" not in engine:
        engine.append("lot")
    return engine, master


def with_master_columns(table: pa.Table, columns: Sequence[str],
                        master: Callable[[], MasterData] | None) -> pa.Table:
    """`table` (an engine trace with a `lot` column when a master column is asked for) with
    the master columns of `columns` added, and `lot` dropped when `columns` lacks it."""
    wanted = [c for c in columns if c in MASTER_COLUMNS]
    if not wanted:
        return table
    if master is None:
        raise InvalidInput("expiry comes from lot master data, which this source has not")
    lots = table.column("lot").to_pylist()
    records = master().many("lot", [lot for lot in lots if lot is not None])
    table = table.append_column("expiry", pa.array(
        [records.get(lot, {}).get("expiry") if lot is not None else None for lot in lots],
        pa.string()))
    return table if "lot" in columns else table.drop_columns(["lot"])
