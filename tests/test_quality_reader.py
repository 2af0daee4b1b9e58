"""The column-wise quality record reader (loaders.quality_records.read_quality_frames) against
its definition: check_row on every row and the grouping of rows into versions, one row at a
time (the reader it replaced, kept here as the oracle), on generated rows full of the
spellings that trip a column check (other time forms, Unicode spaces, floats in
measurements, repeated versions with other content)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import polars as pl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from loaders.quality_records import (
    OPTIONAL,
    REQUIRED,
    RecordVersion,
    check_row,
    measurement,
    read_quality_frames,
    status_rank,
)
from trust.canonical import canonical_bytes

NOW = datetime(2026, 6, 1, tzinfo=UTC)
COLUMNS = (*REQUIRED, *OPTIONAL)
SPACES = ["", " ", "\t", "\x1c", "\xa0", "\u3000"]
VALUES: dict[str, list[str | None]] = {
    "record_id": ["NC-1", "NC-2", " NC-1", "", None, "CO-1"],
    "record_type": ["nonconformance", "inspection", "change_order", "certificate", "capa",
                    "deviation", "audit", "", None],
    "status": ["open", "closed", "dispositioned", "done", "planned", "effective",
               "accepted", "rejected", "received", "draft", "reopened", "", None],
    "key": ["lot:A", "lot:B", "sn:1", "", None],
    "opened_at": ["2026-01-01T08:00:00Z", "2026-01-02T08:00:00Z", "2026-13-01T08:00:00Z",
                  "2026-01-01T08:00:00+02:00", "2026-01-01T08:00:00.250Z",
                  "2026-01-01T08:00:00", "2026-01-01", "2030-01-01T00:00:00Z",
                  "0000-01-01T00:00:00Z", "2026-01-01T23:59:60Z", "yesterday", "", None],
    "title": ["Seal", "Résine ", "\x1fpart\x1f", "", None],
    "closed_at": ["2026-01-03T08:00:00Z", "2025-12-31T08:00:00Z", "2026-01-01T08:00:00Z",
                  "2026-02-30T00:00:00Z", "", None],
    "result": ["pass", "fail", "PASS", "", None],
    "disposition": ["scrap", "rework", "burn", "", None],
    "capa_id": ["CAPA-1", "", None],
    "effective_from": ["2026-01-05T00:00:00Z", "2027-01-05T00:00:00Z", "", None],
    "products": ["P1;P2", " P2 ; P1 ;", ";;", "P\x1c", "", None],
    "inspector": ["QC 3", " ", None],
    "measurements": ['{"torque": 4.50}', "[1, 2.0]", '{"n": 9007199254740993}', "NaN",
                     "not json", '{"b": 1, "a": [true, null]}', "", None],
}


def _oracle(frames: list[tuple[str, pl.DataFrame]]
            ) -> tuple[list[RecordVersion], list[dict[str, Any]]]:
    """The row-at-a-time reader: check_row on each row, rows with the same record id and
    status one version when their content agrees, the rest rejected."""
    versions: dict[tuple[str, str], RecordVersion] = {}
    rejects: list[dict[str, Any]] = []
    for name, frame in frames:
        for number, raw in enumerate(frame.iter_rows(named=True), start=2):
            row = {k: "" if v is None else str(v) for k, v in raw.items()}
            fields, where, problem = check_row(row, NOW)
            record = json.dumps(raw, ensure_ascii=False)
            if problem:
                rejects.append({"file": name, "row": number, "table": "quality",
                                "field": where, "reason": problem, "record": record})
                continue
            rid, key, status = row["record_id"].strip(), row["key"].strip(), row["status"].strip()
            kind = row["record_type"].strip()
            seen = versions.get((rid, status))
            if seen is None:
                versions[(rid, status)] = RecordVersion(rid, kind, status, fields, (key,),
                                                        name, number, (number,))
            elif seen.fields != fields or seen.record_type != kind:
                rejects.append({"file": name, "row": number, "table": "quality",
                                "field": "record_id",
                                "reason": f"record {rid} ({status}) was given other content "
                                          f"in {seen.file} row {seen.row}", "record": record})
            else:
                versions[(rid, status)] = RecordVersion(
                    rid, kind, status, fields, (*seen.keys, key), seen.file, seen.row,
                    (*seen.rows, number))
    ordered = sorted(versions.values(),
                     key=lambda v: (v.record_id, status_rank(v.record_type, v.status)))
    return ordered, rejects


def _cell(name: str) -> st.SearchStrategy[str | None]:
    return st.builds(lambda v, pad: v if v is None or not v else pad + v + pad,
                     st.sampled_from(VALUES[name]), st.sampled_from(SPACES))


ROWS = st.lists(st.fixed_dictionaries({name: _cell(name) for name in COLUMNS}),
                max_size=25)


def _frame(rows: list[dict[str, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=dict.fromkeys(COLUMNS, pl.String))


@settings(max_examples=150, deadline=None)
@given(ROWS, ROWS)
@example([{**dict.fromkeys(COLUMNS), "record_id": "C-1", "record_type": "certificate",
           "key": "lot:A", "status": "accepted", "opened_at": "2026-01-01T08:00:00Z",
           "title": "CoA"},
          {**dict.fromkeys(COLUMNS), "record_id": "C-1", "record_type": "certificate",
           "key": "lot:B", "status": "rejected", "opened_at": "2026-01-01T08:00:00Z",
           "title": "CoA"}], [])
@example([{**dict.fromkeys(COLUMNS), "record_id": "NC-1", "record_type": "nonconformance",
           "key": "lot:A", "status": "open", "opened_at": "2026-01-01T08:00:00Z",
           "title": "Seal", "products": "\xa0;;\xa0"}], [])
@example([], [{**dict.fromkeys(COLUMNS), "record_id": "NC-1", "record_type": "nonconformance",
               "key": "lot:A", "status": "open", "opened_at": "0000-01-01T00:00:00Z",
               "title": "Seal"}])
def test_the_column_reader_agrees_with_check_row(first: list[dict[str, str | None]],
                                                  second: list[dict[str, str | None]]) -> None:
    frames = [("a.csv", _frame(first)), ("b.csv", _frame(second))]
    versions, rejects = read_quality_frames(frames, NOW)
    expected, expected_rejects = _oracle(frames)
    assert list(versions) == expected
    assert rejects == expected_rejects


def test_a_file_without_optional_columns_reads() -> None:
    frame = pl.DataFrame({"record_id": ["NC-1"], "record_type": ["nonconformance"],
                          "key": ["lot:A"], "status": ["open"],
                          "opened_at": ["2026-01-01T08:00:00Z"], "title": ["Burr"]})
    versions, rejects = read_quality_frames([("q.csv", frame)], NOW)
    assert rejects == []
    assert [v.content() for v in versions] == [{
        "record_id": "NC-1", "record_type": "nonconformance", "status": "open",
        "title": "Burr", "opened_at": "2026-01-01T08:00:00Z", "keys": ["lot:A"]}]


def test_measurements_keep_numbers_as_written() -> None:
    """A float would have no canonical form (and would round): the text as written is kept;
    a safe integer stays a number."""
    kept = measurement('{"torque": 4.50, "n": 3, "big": 9007199254740993, "x": NaN}')
    assert kept == {"torque": "4.50", "n": 3, "big": "9007199254740993", "x": "NaN"}
    assert canonical_bytes(kept) == (b'{"big":"9007199254740993","n":3,"torque":"4.50",'
                                     b'"x":"NaN"}')
    assert measurement("7 Nm") == "7 Nm"
