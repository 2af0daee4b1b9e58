"""ERP export conversion speed: an SAP-like goods-movement table of 10 x --units rows (10M at the
default scale) through loaders/mappings/sap_goods_movements.toml. The export is generated once
into bench-data/ (ignored by git)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks.conftest import MEASURED
from benchmarks.data import ROOT as BENCH_ROOT
from loaders.erp import convert, load_mapping

MAPPING = Path(__file__).resolve().parents[1] / "loaders" / "mappings" / \
    "sap_goods_movements.toml"


def _export(rows: int) -> Path:
    path = BENCH_ROOT / f"erp-{rows}.parquet"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    i = np.arange(rows)
    bwart = rng.choice(np.array(["101", "261", "601"]), rows)
    issue = bwart == "601"
    frame = pl.DataFrame({
        "MBLNR": (4900000000 + i // 3).astype(str), "ZEILE": (i % 3 + 1).astype(str),
        "BWART": bwart, "MATNR": np.char.add("MAT-", (i % 500).astype(str)),
        "CHARG": np.char.add("B", (i % 200_000).astype(str)),
        "AUFNR": np.where(issue, "", (1_000_000 + i % 50_000).astype(str)),
        "SERNR": "", "VBELN": np.where(issue, (8_000_000 + i % 20_000).astype(str), ""),
        "KUNNR": np.where(issue, np.char.add("C", (i % 300).astype(str)), ""),
        "MENGE": "5", "MEINS": "EA", "BUDAT": "20250301", "CPUTM": "080000",
    }).with_columns([pl.col(c).replace("", None) for c in ("AUFNR", "SERNR", "VBELN", "KUNNR")])
    frame.write_parquet(path)
    return path


def test_convert_goods_movements(benchmark: Any, scale: Any) -> None:
    rows = scale.units * 10
    export = _export(rows)
    mapping = load_mapping(MAPPING)
    converted = benchmark.pedantic(lambda: convert(mapping, [export]), rounds=1)
    assert converted.rejects.height == 0
    MEASURED.append(f"ERP conversion of {rows:,} goods-movement rows: "
                    f"{benchmark.stats.stats.median:.1f} s -> {converted.edges.height:,} edges")
