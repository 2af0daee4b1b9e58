"""What the bulk paths write is byte for byte what the one-at-a-time definitions write: audit
records assembled from pieces (trust.audit.chain_puts, encode_events) and quality record
versions encoded as columns (index.quality_records._kept_bytes) against canonical_bytes of
the same dicts, on generated text with every kind of character."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from index.live import LiveStore
from index.quality_records import QualityRecords, QualityReport, _kept_bytes
from loaders.quality_records import RecordVersions, read_quality_frames
from tests.conftest import opened_store
from tests.test_quality_reader import COLUMNS, NOW, ROWS, _frame
from trust.audit import GENESIS, AuditEvent, chain_puts, encode, encode_events, record_hash
from trust.canonical import canonical_bytes
from trust.identity import Principal

TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
WHEN = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
OWNER = Principal(0, "os:test", "os:test", "admin", "os")


def _event(action: str, keys: list[str], new: str | None, old: str | None,
           reason: str | None, file: str, rows: list[int], version: int) -> AuditEvent:
    return AuditEvent(action, 7, "Ann Example (ann)", keys=keys, reason=reason, old=old,
                      new=new, details={"version": version, "source": "test", "file": file,
                                        "rows": rows})


EVENTS = st.lists(st.builds(
    _event, TEXT, st.lists(TEXT, max_size=4), st.none() | TEXT, st.none() | TEXT,
    st.none() | TEXT, TEXT, st.lists(st.integers(0, 2**53 - 1), max_size=3),
    st.integers(1, 2**31)), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(EVENTS)
def test_audit_records_are_the_canonical_bytes_of_their_dicts(events: list[AuditEvent]) -> None:
    """Each record chain_puts writes is canonical_bytes of the record's dict, and each
    record's prev is the hash of the one before: the definition in trust.audit."""
    puts = chain_puts(events, WHEN, 41, GENESIS, None)
    records = [data for family, _, data in puts if family == "audit"]
    head = GENESIS
    for seq, (event, data) in enumerate(zip(events, records, strict=True), start=42):
        expected = {"seq": seq, "time": "2026-03-01T08:00:00.000+00:00",
                    "user_id": event.user_id, "user": event.user, "action": event.action,
                    "keys": list(event.keys), "reason": event.reason, "old": event.old,
                    "new": event.new, "details": dict(event.details), "prev": head}
        assert data == canonical_bytes(expected)
        head = record_hash(data)
    assert ("meta", b"audit_head", head.encode()) in puts


@settings(max_examples=200, deadline=None)
@given(EVENTS)
def test_events_encoded_as_columns_match_one_at_a_time(events: list[AuditEvent]) -> None:
    frame = pl.DataFrame([{
        "action": e.action, "details": e.details, "keys": list(e.keys), "new": e.new,
        "old": e.old, "reason": e.reason} for e in events],
        schema={"action": pl.String, "details": pl.Struct({
            "version": pl.Int64, "source": pl.String, "file": pl.String,
            "rows": pl.List(pl.Int64)}), "keys": pl.List(pl.String), "new": pl.String,
            "old": pl.String, "reason": pl.String})
    assert encode_events(frame, 7, "Ann Example (ann)") == [encode(e) for e in events]


def test_events_with_floats_are_refused() -> None:
    frame = pl.DataFrame({"action": ["a"], "details": [{"x": 1.5}], "keys": [["k"]],
                          "new": [None], "old": [None], "reason": [None]})
    with pytest.raises(ValueError, match="float"):
        encode_events(frame, 1, "u")


@settings(max_examples=150, deadline=None)
@given(ROWS, TEXT, TEXT)
def test_versions_encoded_as_columns_are_canonical(rows: list[dict[str, str | None]],
                                                   recorded_by: str, source: str) -> None:
    _same_as_one_at_a_time(rows, recorded_by, source)


def _same_as_one_at_a_time(rows: list[dict[str, str | None]], recorded_by: str,
                           source: str) -> None:
    """_kept_bytes of a version is canonical_bytes of the dict the one-at-a-time path keeps:
    its content, version, recorded_at, recorded_by and source (absent fields absent)."""
    versions, _ = read_quality_frames([("q.csv", _frame(rows))], NOW)
    table = versions.frame.with_columns(
        version=pl.lit(3, pl.Int64),
        all_keys=pl.col("keys").list.eval(pl.element().unique().sort()))
    when = "2026-03-01T08:00:00.000+00:00"
    expected: list[bytes] = []
    for version in versions:
        kept: dict[str, Any] = {**version.content(), "version": 3, "recorded_at": when,
                                "recorded_by": recorded_by, "source": source}
        expected.append(canonical_bytes(kept))
    got = _kept_bytes(table, when, recorded_by, source)
    assert got == expected
    assert all(json.loads(g) == json.loads(e) for g, e in zip(got, expected, strict=True))


FREE_ROWS = st.lists(st.fixed_dictionaries({
    "record_id": TEXT, "record_type": st.just("nonconformance"), "key": TEXT,
    "status": st.sampled_from(["open", "closed"]),
    "opened_at": st.just("2026-01-01T08:00:00Z"), "title": TEXT,
    "closed_at": st.none(), "result": st.none(), "disposition": st.just("scrap"),
    "capa_id": TEXT, "effective_from": st.none(), "products": TEXT, "inspector": TEXT,
    "measurements": st.none() | TEXT | st.builds(json.dumps, st.dictionaries(
        TEXT, st.none() | TEXT | st.integers(-10, 10) | st.floats(allow_nan=False)))}),
    max_size=6)


@settings(max_examples=150, deadline=None)
@given(FREE_ROWS, TEXT, TEXT)
def test_versions_with_any_text_encode_as_columns(rows: list[dict[str, str | None]],
                                                  recorded_by: str, source: str) -> None:
    _same_as_one_at_a_time(rows, recorded_by, source)


def _kept(live: LiveStore) -> tuple[list[tuple[bytes, bytes]], list[dict[str, Any]]]:
    """The quality families and the audit records but for when and the chain."""
    rows = [*live.scan("quality"), *live.scan("quality_nodes")]
    audit = [{k: v for k, v in json.loads(value).items() if k not in ("time", "prev")}
             for _, value in live.scan("audit")]
    return rows, audit


def _row(**given: str) -> dict[str, str | None]:
    return {**dict.fromkeys(COLUMNS), "opened_at": "2026-01-01T08:00:00Z", "title": "t",
            **given}


@settings(max_examples=25, deadline=None)
@given(ROWS)
@example([_row(record_id="NC-1", record_type="nonconformance", key="lot:A", status="open"),
          _row(record_id="NC-1", record_type="nonconformance", key="lot:B", status="open"),
          _row(record_id="NC-1", record_type="nonconformance", key="lot:A", status="closed",
               disposition="scrap", closed_at="2026-01-02T08:00:00Z"),
          _row(record_id="IN-1", record_type="inspection", key="sn:1", status="done",
               result="pass", measurements='{"torque": 4.50}', products="P2;P1")])
def test_both_write_paths_keep_the_same_records(tmp_path_factory: pytest.TempPathFactory,
                                                rows: list[dict[str, str | None]]) -> None:
    """New records written as columns (_put_new) and the same written one version at a time
    (_put_each, the path of records already kept) leave the same bytes in a real store and
    the same audit records."""
    versions, _ = read_quality_frames([("q.csv", _frame(rows))], NOW)
    # _put_new takes records whose versions each move forward (put sends it no others)
    steps = versions.frame.filter(
        pl.col("rank").n_unique().over("record_id") == pl.len().over("record_id"))
    folder = tmp_path_factory.mktemp("paths")
    when = "2026-06-01T00:00:00.000+00:00"
    kept = []
    for name in ("columns", "each"):
        live = opened_store(folder / name)
        records, report = QualityRecords(live), QualityReport()
        if name == "columns":
            records._put_new(steps, OWNER, "test", when, report, write=True)
        else:
            records._put_each(RecordVersions(steps), OWNER, "test", when, {}, report,
                              write=True)
        assert not report.rejects
        assert report.added + report.changed == steps.height
        kept.append((_kept(live), (report.added, report.changed)))
    assert kept[0] == kept[1]


@settings(max_examples=25, deadline=None)
@given(ROWS, ROWS)
@example([_row(record_id="NC-1", record_type="nonconformance", key="lot:A", status="open"),
          _row(record_id="NC-1", record_type="nonconformance", key="lot:A", status="closed",
               disposition="scrap")],
         [_row(record_id="NC-1", record_type="nonconformance", key="lot:A", status="open"),
          _row(record_id="NC-1", record_type="nonconformance", key="lot:A", status="closed",
               disposition="scrap"),
          _row(record_id="NC-2", record_type="nonconformance", key="lot:B", status="open")])
def test_an_export_sent_again_is_unchanged_as_one_at_a_time(
        tmp_path_factory: pytest.TempPathFactory, first: list[dict[str, str | None]],
        again: list[dict[str, str | None]]) -> None:
    """A second import whose versions repeat kept ones: dropping those found unchanged as
    columns (_drop_unchanged) and checking the rest one at a time gives the report and the
    store that checking every one at a time gives."""
    kept, _ = read_quality_frames([("a.csv", _frame(first))], NOW)
    sent, _ = read_quality_frames([("b.csv", _frame(again))], NOW)
    folder = tmp_path_factory.mktemp("again")
    when = "2026-06-01T00:00:00.000+00:00"
    outcomes = []
    for name in ("columns", "each"):
        live = opened_store(folder / name)
        records = QualityRecords(live)
        records.put(kept, OWNER, "test", lambda keys: {}, NOW)
        report = QualityReport()
        frame = sent.frame
        if name == "columns":
            frame = records._drop_unchanged(frame, report)
        records._put_each(RecordVersions(frame), OWNER, "test", when, {}, report, write=True)
        outcomes.append(((report.added, report.changed, report.unchanged, report.rejects),
                         _kept(live)))
    assert outcomes[0] == outcomes[1]
