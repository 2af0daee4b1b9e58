"""The audit trail on a real RocksDB store: every change has its record, written with the data;
verification recomputes the chain, the checkpoint root and the log coverage, and finds every
tampering done behind the store's back through RocksDB's own API, naming the first bad record.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from pypdf import PdfReader

from domain.errors import AuditUnverifiable, InvalidInput
from index.ingest import EndRequest, IngestBatch, RetractionRequest
from index.live import LiveStore
from index.store import Store
from trust.audit import decode
from trust.checkpoint import generate_key, load_private, sign_checkpoint, write_checkpoint
from trust.merkle import leaf_hash
from trust.verify import verify_store

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
TRIALS = int(os.environ.get("TRACEGRAPH_TAMPER_TRIALS", "300"))
_U64 = struct.Struct(">Q")


def _batches() -> Iterator[IngestBatch]:
    for n in range(1, 31):
        nodes = pl.DataFrame({"key": [f"lot:{n}", f"sn:{n}", f"case:{n}"],
                              "kind": ["lot", "serial", "logistic_unit"]})
        edges = pl.DataFrame({"src": [f"lot:{n}", f"sn:{n}"], "dst": [f"sn:{n}", f"case:{n}"],
                              "kind": ["consumed", "packed"],
                              "event_time": ["2026-03-01T08:00:00Z"] * 2})
        yield IngestBatch("mes", n, nodes, edges, writer="cli:tester", user_id=3)
    yield IngestBatch("fix", 1, retractions=[RetractionRequest(
        "sn:2", "case:2", "packed", "scanned into the wrong case")], writer="cli:qa", user_id=4)
    yield IngestBatch("fix", 2, ends=[EndRequest("sn:3", "case:3", "packed",
                                                 at=datetime(2026, 3, 2, tzinfo=UTC))])
    yield IngestBatch("mes", 99, None, pl.DataFrame({"src": ["nowhere"], "dst": ["sn:1"],
                                                     "kind": ["packed"]}))


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("audited") / "data"
    with LiveStore(data) as live:
        for batch in _batches():
            live.ingest(batch)
    return data


def _records(data: Path) -> list[dict[str, object]]:
    store = Store(data, writable=False)
    try:
        return [decode(value) for _, value in store.audit_records()]
    finally:
        store.close()


def test_every_change_has_its_audit_record(audited: Path) -> None:
    records = _records(audited)
    actions = [r["action"] for r in records]
    assert actions.count("ingest.batch") == 32  # 30 + the retraction + the end
    assert actions.count("ingest.rejected") == 1
    [retract] = [r for r in records if r["action"] == "edge.retract"]
    assert (retract["keys"], retract["reason"], retract["user_id"]) == (
        ["sn:2", "case:2"], "scanned into the wrong case", 4)
    assert [r["action"] for r in records if r["action"] == "link.end"] == ["link.end"]
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert all(str(r["time"]).endswith("+00:00") and len(str(r["time"])) == 29
               for r in records)
    store = Store(audited, writable=False)
    try:
        report = verify_store(store)
        assert report.ok, report.problems
        assert report.records == len(records)
        assert store.last_seq == 32
    finally:
        store.close()


def _copy(src: Path, dst: Path) -> Path:
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)
    return dst


def test_a_missing_record_for_a_log_entry_is_found(audited: Path, tmp_path: Path) -> None:
    data = _copy(audited, tmp_path / "data")
    store = Store(data, writable=True)
    try:  # an attacker who removes the newest audit records and fixes the meta to match
        records = list(store.audit_records())
        keep = len(records) - 6
        db = store.kv
        for seq, _ in records[keep:]:
            db.cf["audit"].delete(_U64.pack(seq))  # type: ignore[attr-defined]
        from trust.audit import record_hash
        db.cf["meta"][b"audit_last"] = _U64.pack(keep)  # type: ignore[attr-defined]
        db.cf["meta"][b"audit_head"] = record_hash(  # type: ignore[attr-defined]
            records[keep - 1][1]).encode()
        report = verify_store(store)
        assert not report.ok
        assert any("has no audit record" in p for p in report.problems), report.problems
    finally:
        store.close()


def _tamper(rng: random.Random, store: Store, count: int) -> tuple[str, int]:
    """One tampering through RocksDB's API; returns (kind, first bad sequence)."""
    cf = store.kv.cf  # type: ignore[attr-defined]
    kind = rng.choice(["flip", "delete", "swap", "insert", "meta", "replace"])
    seq = rng.randrange(1, count + 1)
    key = _U64.pack(seq)
    value = bytearray(cf["audit"][key])
    if kind == "flip":
        at = rng.randrange(len(value))
        value[at] ^= 1 << rng.randrange(8)
        cf["audit"][key] = bytes(value)
    elif kind == "delete":
        del cf["audit"][key]
    elif kind == "swap":
        other = rng.choice([s for s in range(1, count + 1) if s != seq])
        seq, hi = sorted((seq, other))
        a, b = cf["audit"][_U64.pack(seq)], cf["audit"][_U64.pack(hi)]
        cf["audit"][_U64.pack(seq)], cf["audit"][_U64.pack(hi)] = b, a
    elif kind == "insert":  # a forged record with a valid shape after the last one
        record = json.loads(cf["audit"][_U64.pack(count)])
        record["seq"] = count + 1
        from trust.canonical import canonical_bytes
        cf["audit"][_U64.pack(count + 1)] = canonical_bytes(record)
        seq = count + 1
    elif kind == "meta":
        cf["meta"][b"audit_head"] = b"f" * 64
        seq = count
    else:  # replace one record's reason, re-encoded canonically (a "clean" edit)
        record = json.loads(bytes(value))
        record["reason"] = "edited later"
        from trust.canonical import canonical_bytes
        cf["audit"][key] = canonical_bytes(record)
    return kind, seq


def test_random_tampering_is_always_found_and_named(audited: Path, tmp_path: Path) -> None:
    data = _copy(audited, tmp_path / "data")
    rng = random.Random(20261129)
    store = Store(data, writable=True)
    cf = store.kv.cf  # type: ignore[attr-defined]
    original = dict(cf["audit"].items())
    meta_head = cf["meta"][b"audit_head"]
    count = len(original)
    found = named = 0
    try:
        for _ in range(TRIALS):
            kind, seq = _tamper(rng, store, count)
            report = verify_store(store)
            found += not report.ok
            named += report.first_bad == seq
            assert report.first_bad == seq, (kind, seq, report.problems)
            for key in list(cf["audit"].keys()):  # put everything back as it was
                if key not in original:
                    del cf["audit"][key]
            for key, value in original.items():
                cf["audit"][key] = value
            cf["meta"][b"audit_head"] = meta_head
            assert verify_store(store).ok
    finally:
        store.close()
    assert (found, named) == (TRIALS, TRIALS)


def test_a_rewritten_chain_or_truncation_fails_the_signed_checkpoint(
        audited: Path, tmp_path: Path) -> None:
    data = _copy(audited, tmp_path / "data")
    key = tmp_path / "keys" / "audit.key"
    key.parent.mkdir()
    public = generate_key(key)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    store = Store(data, writable=True)
    try:
        leaves = [leaf_hash(v) for _, v in store.audit_records()]
        checkpoints = tmp_path / "checkpoints"
        write_checkpoint(checkpoints, sign_checkpoint(load_private(key), "tracegraph:test",
                                                      leaves, datetime.now(UTC)))
        assert verify_store(store, public, checkpoints).ok
        # Rewrite record 5 and every record after it, with correct hashes and meta: the chain
        # verifies, the signed root does not.
        from trust.audit import record_hash
        from trust.canonical import canonical_bytes
        cf = store.kv.cf  # type: ignore[attr-defined]
        records = [json.loads(v) for _, v in store.audit_records()]
        head = record_hash(canonical_bytes(records[3]))
        for record in records[4:]:
            if record["seq"] == 5:
                record["reason"] = "nothing happened"
            record["prev"] = head
            data_bytes = canonical_bytes(record)
            cf["audit"][_U64.pack(record["seq"])] = data_bytes
            head = record_hash(data_bytes)
        cf["meta"][b"audit_head"] = head.encode()
        assert verify_store(store).ok  # without the checkpoint nobody could tell
        report = verify_store(store, public, checkpoints)
        assert not report.ok
        assert "no longer have the signed root" in report.problems[0]
        # A forged checkpoint (signed by another key) is refused.
        other = generate_key(tmp_path / "keys" / "other.key")
        assert not verify_store(store, other, checkpoints).ok
    finally:
        store.close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], capture_output=True,
                          text=True, env=ENV, timeout=300, check=False)


def test_audit_verify_and_log_on_the_command_line(audited: Path, tmp_path: Path) -> None:
    ok = _cli("audit", "verify", "--data", str(audited))
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout
    log = _cli("audit", "log", "--data", str(audited), "--format", "json", "--key", "sn:2")
    assert log.returncode == 0, log.stderr
    rows = json.loads(log.stdout)
    assert [r["action"] for r in rows] == ["edge.retract"]  # the records naming sn:2
    data = _copy(audited, tmp_path / "data")
    store = Store(data, writable=True)
    try:
        cf = store.kv.cf  # type: ignore[attr-defined]
        value = bytearray(cf["audit"][_U64.pack(7)])
        value[10] ^= 0x01
        cf["audit"][_U64.pack(7)] = bytes(value)
    finally:
        store.close()
    bad = _cli("audit", "verify", "--data", str(data))
    assert bad.returncode == 1
    assert "first bad record: 7" in bad.stdout + bad.stderr


def test_a_broken_trail_keeps_the_store_closed_until_an_audited_recovery(
        audited: Path, tmp_path: Path) -> None:
    data = _copy(audited, tmp_path / "data")
    store = Store(data, writable=True)
    try:
        last = store.audit_count
        store.kv.cf["audit"].delete(_U64.pack(last))  # type: ignore[attr-defined]
    finally:
        store.close()
    with pytest.raises(AuditUnverifiable, match=f"audit record {last}, the last"):
        LiveStore(data)
    with LiveStore(data, audit_recovery="restored from backup, ticket 4711") as live:
        records = [decode(v) for _, v in live.store.audit_records()]
    assert records[-1]["action"] == "audit.recovery"
    assert records[-1]["reason"] == "restored from backup, ticket 4711"
    store = Store(data, writable=False)
    try:
        assert not verify_store(store).ok  # the damage is still reported
    finally:
        store.close()


def test_a_store_without_a_trail_is_adopted_only_on_purpose(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LiveStore(data) as live:
        live.ingest(next(_batches()))
    store = Store(data, writable=True)
    try:  # as a version without audit records left it
        for key, _ in list(store.scan("audit")):
            store.kv.cf["audit"].delete(key)  # type: ignore[attr-defined]
        for name in (b"audit_last", b"audit_head", b"audit_time"):
            store.kv.cf["meta"].delete(name)  # type: ignore[attr-defined]
    finally:
        store.close()
    with pytest.raises(AuditUnverifiable, match="no audit trail"):
        LiveStore(data)
    with LiveStore(data, audit_recovery="upgrade from 0.1 (no audit trail then)"):
        pass
    store = Store(data, writable=False)
    try:
        report = verify_store(store)
        assert report.ok, report.problems  # the recovery record covers the old log entries
    finally:
        store.close()


def test_the_server_signs_checkpoints_outside_the_data_directory(tmp_path: Path) -> None:
    from server.serve import ServerConfig, TraceServer

    data = tmp_path / "data"
    key = tmp_path / "keys" / "audit.key"
    key.parent.mkdir()
    public = generate_key(key)
    with pytest.raises(InvalidInput, match="inside the data directory"):
        TraceServer(data, ServerConfig(port=0, no_auth=True, audit_key=key,
                                       checkpoints=data / "checkpoints"))
    checkpoints = tmp_path / "checkpoints"
    server = TraceServer(data, ServerConfig(port=0, no_auth=True, compact_edges=0,
                                            audit_key=key, checkpoints=checkpoints,
                                            checkpoint_records=5))
    server.load()
    try:
        assert server.live is not None
        for batch in list(_batches())[:8]:
            server.live.ingest(batch)
    finally:
        server.stop(0)
    files = sorted(checkpoints.glob("checkpoint-*.json"))
    assert len(files) >= 2  # at start and at stop at least
    store = Store(data, writable=False)
    try:
        report = verify_store(store, public, checkpoints)
        assert report.ok, report.problems
        assert report.checkpoint is not None
        assert report.checkpoint["size"] == store.audit_count  # the last one covers all
    finally:
        store.close()


def test_an_entity_export_is_readable_and_re_verifiable(audited: Path, tmp_path: Path) -> None:
    data = _copy(audited, tmp_path / "data")
    key = tmp_path / "keys" / "audit.key"
    key.parent.mkdir()
    public = generate_key(key)
    signed = _cli("audit", "checkpoint", "--data", str(data), "--private-key", str(key),
                  "--out", str(tmp_path / "checkpoints"))
    assert signed.returncode == 0, signed.stderr
    [checkpoint] = (tmp_path / "checkpoints").iterdir()
    export = tmp_path / "sn-2.jsonl"
    made = _cli("audit", "export", "sn:2", "--data", str(data), "--output", str(export))
    assert made.returncode == 0, made.stderr
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert [line["type"] for line in lines][:4] == ["header", "node", "genealogy", "genealogy"]
    [audit] = [line for line in lines if line["type"] == "audit"]
    assert json.loads(audit["record"])["action"] == "edge.retract"
    ok = _cli("audit", "verify-export", str(export), "--public-key", str(public),
              "--checkpoint", str(checkpoint))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "signed checkpoint" in ok.stdout
    # The reason edited in the copy: the proof no longer leads to the root.
    audit["record"] = audit["record"].replace("wrong case", "right case")
    export.write_text("".join(json.dumps(line) + "\n" for line in lines))
    bad = _cli("audit", "verify-export", str(export))
    assert bad.returncode == 1
    assert "proof leads to another root" in bad.stdout
    page = _cli("audit", "export", "sn:2", "--data", str(data), "--format", "html")
    assert page.returncode == 0
    assert "<h1>sn:2</h1>" in page.stdout
    assert "scanned into the wrong case" in page.stdout
    nowhere = _cli("audit", "export", "sn:2", "--data", str(data), "--format", "pdf")
    assert nowhere.returncode != 0
    assert "--output FILE.pdf" in nowhere.stderr
    printed = tmp_path / "sn-2.pdf"
    made = _cli("audit", "export", "sn:2", "--data", str(data), "--format", "pdf",
                "--output", str(printed))
    assert made.returncode == 0, made.stderr
    text = "\n".join(page.extract_text() for page in PdfReader(printed).pages)
    assert "Record of sn:2" in text
    assert "edge.retract" in text
    assert "scanned into the wrong case" in text
    assert lines[0]["audit_root"] in text.replace("\n", "")
