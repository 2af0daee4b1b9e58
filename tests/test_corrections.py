"""Two-person corrections on a real live store: a proposal changes nothing until a different
qa user approves it; approval applies the change, the proposal's new state and the audit
records in one write; two approvers racing: exactly one wins; a rollback goes through the same
path; approval signatures are linked to their record."""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from pypdf import PdfReader

from domain.errors import InvalidInput, PermissionDenied, UnknownNode
from engine import Graph
from index.ingest import IngestBatch
from index.live import LiveStore
from trust.approvals import DEFAULT_POLICY
from trust.audit import decode
from trust.corrections import Correction, Corrections
from trust.identity import Principal

AUTHOR = Principal(3, "wes", "Wes Writer", "writer", "session")
QA = Principal(4, "quinn", "Quinn QA", "qa", "session")
QA2 = Principal(5, "rosa", "Rosa QA", "qa", "session")
ADMIN = Principal(6, "ada", "Ada Admin", "admin", "session")
EDGE = {"type": "retract-edge", "src": "sn:1", "dst": "case:1", "kind": "packed",
        "event_time": None, "event_id": None}
T = datetime(2026, 3, 1, 8, tzinfo=UTC)


def _load(live: LiveStore) -> Graph:
    live.ingest(IngestBatch("mes", 1, pl.DataFrame({
        "key": ["lot:1", "sn:1", "sn:2", "case:1"],
        "kind": ["lot", "serial", "serial", "logistic_unit"]}), pl.DataFrame({
            "src": ["lot:1", "lot:1", "sn:1", "sn:2"], "dst": ["sn:1", "sn:2", "case:1", "case:1"],
            "kind": ["consumed", "consumed", "packed", "packed"]})))
    return Graph(live.view().snapshot, live.view)


def _downstream(graph: Graph, key: str) -> set[str]:
    return set(graph.trace(key).column("key").to_pylist())


def test_a_proposal_changes_nothing_until_another_qa_approves(tmp_path: Path) -> None:
    with LiveStore(tmp_path / "data") as live:
        graph = _load(live)
        corrections = Corrections(live)
        proposal = corrections.propose(EDGE, AUTHOR, "sn:1 was scanned into the wrong case")
        assert _downstream(graph, "sn:1") == {"case:1"}  # pending: no answer changes
        with pytest.raises(PermissionDenied, match="another person"):
            corrections.approval(proposal.id, replace(QA, user_id=AUTHOR.user_id))
        with pytest.raises(PermissionDenied, match="may not decide"):
            corrections.approval(proposal.id, ADMIN)
        with pytest.raises(PermissionDenied, match="may not decide"):
            corrections.approval(proposal.id, AUTHOR)
        before = datetime.now(UTC)
        ack = live.ingest(corrections.approval(proposal.id, QA, "checked the packing list"))
        assert ack.outcome == "applied", ack.message
        assert _downstream(graph, "sn:1") == set()
        assert _downstream(graph, "lot:1") == {"sn:1", "sn:2", "case:1"}  # via sn:2
        assert "case:1" in set(graph.trace("sn:1", as_of=before).column("key").to_pylist())
        done = corrections.get(proposal.id)
        assert done.state == "applied"
        assert [s["meaning"] for s in done.signatures] == ["approval"]
        assert Corrections.signature_problems(done) == []
        with pytest.raises(InvalidInput, match="already applied"):
            corrections.approval(proposal.id, QA2)
        actions = [decode(v)["action"] for _, v in live.store.audit_records()]
        assert actions[-4:] == ["correction.propose", "ingest.batch", "edge.retract",
                                "correction.approve"]


def test_two_approvers_racing_exactly_one_wins(tmp_path: Path) -> None:
    with LiveStore(tmp_path / "data") as live:
        _load(live)
        corrections = Corrections(live)
        proposal = corrections.propose(EDGE, AUTHOR, "wrong case")
        first = corrections.approval(proposal.id, QA)
        second = replace(corrections.approval(proposal.id, QA2), sequence=proposal.id + 1000)
        futures = [live.submit(first), live.submit(second)]
        outcomes = sorted(f.result(30).outcome for f in futures)
        assert outcomes == ["applied", "rejected"]
        assert corrections.get(proposal.id).decided_by in (QA.printed, QA2.printed)


def test_a_rollback_is_a_correction_and_restores_the_answers(tmp_path: Path) -> None:
    with LiveStore(tmp_path / "data") as live:
        graph = _load(live)
        corrections = Corrections(live)
        keys = ["lot:1", "sn:1", "sn:2", "case:1"]
        original = {k: (_downstream(graph, k), set(graph.trace(k, "upstream")
                                                   .column("key").to_pylist())) for k in keys}
        first = corrections.propose(EDGE, AUTHOR, "wrong case")
        assert live.ingest(corrections.approval(first.id, QA)).outcome == "applied"
        with pytest.raises(InvalidInput, match="no live 'packed' edge"):
            corrections.propose(EDGE, AUTHOR, "retracted already: nothing to name")
        pending = corrections.propose({**EDGE, "src": "lot:1", "dst": "sn:2",
                                       "kind": "consumed"}, AUTHOR, "still pending")
        with pytest.raises(InvalidInput, match="only an applied one"):
            corrections.rollback(pending.id, AUTHOR, "undo what never happened")
        undo = corrections.rollback(first.id, AUTHOR, "the first case was right after all")
        assert undo.change["type"] == "restore-edge"
        assert undo.rolls_back == first.id
        assert live.ingest(corrections.approval(undo.id, QA2)).outcome == "applied"
        for key in keys:
            assert (_downstream(graph, key), set(graph.trace(key, "upstream").column(
                "key").to_pylist())) == original[key], key


def test_a_rejected_proposal_is_closed_with_its_reason(tmp_path: Path) -> None:
    with LiveStore(tmp_path / "data") as live:
        graph = _load(live)
        corrections = Corrections(live)
        proposal = corrections.propose(EDGE, AUTHOR, "wrong case?")
        with pytest.raises(InvalidInput, match="needs a reason"):
            corrections.reject(proposal.id, QA, " ")
        closed = corrections.reject(proposal.id, QA, "the scan was right")
        assert (closed.state, closed.decision_reason) == ("rejected", "the scan was right")
        assert _downstream(graph, "sn:1") == {"case:1"}
        with pytest.raises(InvalidInput, match="already rejected"):
            corrections.approval(proposal.id, QA2)


def test_a_signature_copied_onto_another_record_fails(tmp_path: Path) -> None:
    rng = random.Random(11)
    with LiveStore(tmp_path / "data") as live:
        _load(live)
        corrections = Corrections(live)
        signed = []
        for n in range(6):
            # Restores of assertions never made: each signs a distinct record.
            change = {**EDGE, "type": "restore-edge", "event_id": f"ev-{n}",
                      "src": rng.choice(["sn:1", "sn:2"])}
            proposal = corrections.propose(change, AUTHOR, f"reason {n}")
            batch = corrections.approval(proposal.id, QA)
            signed.append((proposal, batch.side_puts[0][2]))
    records = [Correction(**json.loads(data)) for _, data in signed]
    assert all(Corrections.signature_problems(r) == [] for r in records)
    refused = 0
    for _ in range(1000):
        a, b = rng.sample(records, 2)
        forged = replace(b, signatures=a.signatures)
        refused += bool(Corrections.signature_problems(forged))
        edited = replace(a, reason=a.reason + " (edited after signing)")
        refused += bool(Corrections.signature_problems(edited))
    assert refused == 2000


def test_the_command_line_flow(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    data = tmp_path / "data"

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "server.cli", *args], input=stdin,
                              capture_output=True, text=True, env=env, timeout=120,
                              check=False)

    with LiveStore(data) as live:
        _load(live)
    for name, role in (("wes", "writer"), ("quinn", "qa")):
        added = cli("users", "add", name, "--role", role, "--data", str(data),
                    "--password-stdin", stdin=f"{name}-password-long\n")
        assert added.returncode == 0, added.stderr
    proposed = cli("correct", "propose", "--data", str(data), "--user", "wes",
                   "--password-stdin", "--reason", "wrong case", "--retract-edge", "sn:1",
                   "case:1", "packed", stdin="wes-password-long\n")
    assert proposed.returncode == 0, proposed.stderr
    number = proposed.stdout.strip().splitlines()[-1]
    assert number == "1"
    self_approved = cli("correct", "approve", number, "--data", str(data), "--user", "wes",
                        "--password-stdin", stdin="wes-password-long\n")
    assert self_approved.returncode == 1
    assert "may not run `tracegraph correct approve`" in self_approved.stderr
    wrong = cli("correct", "approve", number, "--data", str(data), "--user", "quinn",
                "--password-stdin", stdin="not quinn's password\n")
    assert wrong.returncode == 1
    assert "sign-in failed" in wrong.stderr
    approved = cli("correct", "approve", number, "--data", str(data), "--user", "quinn",
                   "--password-stdin", "--reason", "packing list checked",
                   stdin="quinn-password-long\n")
    assert approved.returncode == 0, approved.stderr
    assert "applied at log sequence" in approved.stdout
    shown = json.loads(cli("correct", "show", number, "--data", str(data)).stdout)
    assert shown["state"] == "applied"
    assert shown["signatures"][0]["signer"] == "quinn (quinn)"
    trace = cli("trace", "sn:1", "--data", str(data), "--format", "json")
    assert json.loads(trace.stdout) == []
    verified = cli("audit", "verify", "--data", str(data))
    assert verified.returncode == 0, verified.stdout
    listed = cli("correct", "list", "--data", str(data))
    assert "applied  retract-edge: sn:1 -> case:1 (packed) [1 assertion(s)]" in listed.stdout
    assert "[1 signature(s)]" in listed.stdout
    assert cli("correct", "policy", "--data", str(data)).stdout == DEFAULT_POLICY
    printed = tmp_path / "sn-1.pdf"
    made = cli("audit", "export", "sn:1", "--data", str(data), "--format", "pdf", "--output",
               str(printed))
    assert made.returncode == 0, made.stderr
    text = " ".join(page.extract_text() for page in PdfReader(printed).pages)
    assert "Correction 1 (applied)" in text
    assert "quinn (quinn)" in text  # the signature's manifestation
    assert "approval" in text


def test_corrections_over_grpc(tmp_path: Path) -> None:
    import grpc

    from index.store import Store
    from server.client import TraceClient
    from server.rpc import auth_pb2 as apb
    from server.rpc import auth_pb2_grpc as apb_grpc
    from server.serve import ServerConfig, TraceServer
    from trust.identity import Directory

    data = tmp_path / "data"
    with LiveStore(data) as live:
        _load(live)
    store = Store(data, writable=True)
    owner = Principal(0, "os:test", "os:test", "admin", "os")
    directory = Directory(store)
    directory.add("wes", "writer", owner, password="wes-password-long")
    directory.add("quinn", "qa", owner, password="quinn-password-long")
    store.close()
    server = TraceServer(data, ServerConfig(port=0, compact_edges=0))
    server.load()
    try:
        target = f"127.0.0.1:{server.port}"
        with TraceClient(target, token="") as wes, TraceClient(target, token="") as quinn:
            wes.login("wes", "wes-password-long")
            quinn.login("quinn", "quinn-password-long")
            proposed = apb_grpc.CorrectionsStub(wes.channel).Propose(apb.ProposeRequest(
                type="retract-edge", src="sn:1", dst="case:1", kind="packed",
                reason="wrong case"), timeout=10)
            assert proposed.state == "pending"
            stub = apb_grpc.CorrectionsStub(quinn.channel)
            with pytest.raises(grpc.RpcError) as denied:
                apb_grpc.CorrectionsStub(wes.channel).Approve(apb.DecideRequest(
                    id=proposed.id, password="wes-password-long"), timeout=10)
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
            with pytest.raises(grpc.RpcError) as unsigned:
                stub.Approve(apb.DecideRequest(id=proposed.id, password="guess"), timeout=10)
            assert unsigned.value.code() == grpc.StatusCode.UNAUTHENTICATED
            approved = stub.Approve(apb.DecideRequest(id=proposed.id,
                                                      password="quinn-password-long"),
                                    timeout=10)
            assert approved.state == "applied"
            signature = json.loads(approved.json)["signatures"][0]
            assert (signature["signer"], signature["meaning"]) == ("quinn (quinn)", "approval")
            assert quinn.trace("sn:1").num_rows == 0
            with pytest.raises(grpc.RpcError) as again:
                stub.Approve(apb.DecideRequest(id=proposed.id, password="quinn-password-long"),
                             timeout=10)
            assert again.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            listed = list(stub.List(apb.ListCorrectionsRequest(), timeout=10))
            assert [(c.id, c.state) for c in listed] == [(proposed.id, "applied")]
    finally:
        server.stop(0)


def test_rollbacks_restore_forward_and_backward_answers_for_a_thousand_nodes(
        small_source: tuple[Path, Path], tmp_path: Path) -> None:
    """Corrections of 12 random edges of a 3,000-unit genealogy, each then rolled back (both
    through approval): every answer, downstream and upstream, of 1,000 random nodes is what
    it was before, and as_of between the two shows the retraction."""
    from index.build import build_from_files

    rng = random.Random(29)
    data = tmp_path / "data"
    build_from_files([small_source[0]], [small_source[1]], data)
    edges = pl.read_parquet(small_source[1]).filter(
        pl.col("kind").is_in(["packed", "assembled", "shipped"])).sample(12, seed=5)
    with LiveStore(data) as live:
        graph = Graph(live.view().snapshot, live.view)
        keys = graph.snapshot.node_keys.to_pylist()
        sample = rng.sample(keys, 1000)

        def answers() -> dict[str, tuple[list[str], list[str]]]:
            return {k: (sorted(graph.trace(k).column("key").to_pylist()),
                        sorted(graph.trace(k, "upstream").column("key").to_pylist()))
                    for k in sample}

        before = answers()
        corrections = Corrections(live)
        applied = []
        for edge in edges.to_dicts():
            change = {"type": "retract-edge", "src": edge["src"], "dst": edge["dst"],
                      "kind": edge["kind"], "event_time": None, "event_id": None}
            proposal = corrections.propose(change, AUTHOR, "audit sample")
            assert live.ingest(corrections.approval(proposal.id, QA)).outcome == "applied"
            applied.append(proposal.id)
        between = datetime.now(UTC)
        retracted = answers()
        assert retracted != before  # the corrections changed answers
        for number in applied:
            undo = corrections.rollback(number, AUTHOR, "the audit sample was wrong")
            assert live.ingest(corrections.approval(undo.id, QA2)).outcome == "applied"
        assert answers() == before
        assert {k: (sorted(graph.trace(k, as_of=between).column("key").to_pylist()),
                    sorted(graph.trace(k, "upstream", as_of=between).column("key")
                           .to_pylist())) for k in sample} == retracted


def test_a_kill_during_approvals_leaves_each_correction_whole_or_untouched(
        tmp_path: Path) -> None:
    """SIGKILL a process that approves 60 corrections, at 20 random moments, restarting it
    each time: every correction is either applied (state, signature, retraction and audit
    record all there) or still pending (none of them), and the audit trail verifies."""
    import os
    import signal
    import subprocess
    import sys

    from index.store import Store
    from trust.verify import verify_store

    rng = random.Random(2026)
    data = tmp_path / "data"
    count = 60
    with LiveStore(data) as live:
        live.ingest(IngestBatch("mes", 1, pl.DataFrame({
            "key": [f"sn:{i}" for i in range(count)] + [f"case:{i}" for i in range(count)],
            "kind": ["serial"] * count + ["logistic_unit"] * count}), pl.DataFrame({
                "src": [f"sn:{i}" for i in range(count)],
                "dst": [f"case:{i}" for i in range(count)], "kind": ["packed"] * count})))
        corrections = Corrections(live)
        for i in range(count):
            corrections.propose({**EDGE, "src": f"sn:{i}", "dst": f"case:{i}"}, AUTHOR,
                                f"wrong case {i}")
    # Each approval waits 30 ms between its synced write and its acknowledgement, so kills
    # land inside approvals, and in that very window too.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "TRACEGRAPH_FAULTS": "after-commit:sleep=0.03"}
    landed = 0
    for _ in range(20):
        with subprocess.Popen([sys.executable, "-m", "tests.approval_driver", str(data)],
                              stdout=subprocess.PIPE, text=True, env=env) as process:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.2))
            process.send_signal(signal.SIGKILL)
            landed += process.wait(30) == -signal.SIGKILL
        with LiveStore(data) as live:
            graph = Graph(live.view().snapshot, live.view)
            approved = {int(decode(v)["keys"][0].split(":")[1])
                        for _, v in live.store.audit_records()
                        if decode(v)["action"] == "correction.approve"}
            for proposal in Corrections(live).all():
                number = proposal.id
                retracted = graph.trace(f"sn:{number - 1}").num_rows == 0
                applied = proposal.state == "applied"
                assert applied == retracted == (number in approved), number
                assert applied == bool(proposal.signatures), number
    assert landed >= 15, landed  # most kills landed while approving
    store = Store(data, writable=False)
    try:
        assert verify_store(store).ok
    finally:
        store.close()


def test_retract_with_a_user_is_a_proposal(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    data = tmp_path / "data"
    with LiveStore(data) as live:
        _load(live)

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "server.cli", *args], input=stdin,
                              capture_output=True, text=True, env=env, timeout=120,
                              check=False)

    assert cli("users", "add", "wes", "--role", "writer", "--data", str(data),
               "--password-stdin", stdin="wes-password-long\n").returncode == 0
    proposed = cli("retract", "--data", str(data), "--src", "sn:1", "--dst", "case:1",
                   "--kind", "packed", "--reason", "wrong case", "--user", "wes",
                   "--password-stdin", stdin="wes-password-long\n")
    assert proposed.returncode == 0, proposed.stderr
    assert proposed.stdout.strip().splitlines()[-1] == "1"
    trace = cli("trace", "sn:1", "--data", str(data), "--format", "json")
    assert [row["key"] for row in json.loads(trace.stdout)] == ["case:1"]  # not yet


def test_approvals_signed_with_the_servers_key(tmp_path: Path) -> None:
    from trust.checkpoint import generate_key, load_private, load_public

    public = load_public(generate_key(tmp_path / "server.key"))
    other = load_public(generate_key(tmp_path / "other.key"))
    with LiveStore(tmp_path / "data") as live:
        _load(live)
        corrections = Corrections(live, signing_key=load_private(tmp_path / "server.key"))
        proposal = corrections.propose(EDGE, AUTHOR, "wrong case")
        assert live.ingest(corrections.approval(proposal.id, QA)).outcome == "applied"
        done = corrections.get(proposal.id)
    [signature] = done.signatures
    assert set(signature) >= {"ed25519", "key_id", "record_hash", "signer", "meaning", "time"}
    assert Corrections.signature_problems(done, public) == []
    assert Corrections.signature_problems(done, other)  # another key: refused
    for field, value in (("meaning", "review"), ("signer", "Mallory (mallory)"),
                         ("time", "2020-01-01T00:00:00.000+00:00")):
        forged = replace(done, signatures=[{**signature, field: value}])
        assert any("does not verify" in p
                   for p in Corrections.signature_problems(forged, public)), field


def test_a_rollback_restores_each_assertion_with_its_event_time(tmp_path: Path) -> None:
    """A retraction of the link lists the assertions it found; the rollback asserts exactly
    those again, event times and quantities kept (not a timeless edge that would pass every
    time window)."""
    with LiveStore(tmp_path / "data") as live:
        _load(live)
        live.ingest(IngestBatch("mes", 2, None, pl.DataFrame({
            "src": ["lot:1"] * 2, "dst": ["case:1"] * 2, "kind": ["consumed"] * 2,
            "event_time": ["2026-01-05T10:00:00Z", "2026-01-06T10:00:00Z"],
            "quantity": [2.5, 4.0], "event_id": ["ev-a", "ev-b"]})))
        graph = Graph(live.view().snapshot, live.view)
        before = sorted(live.assertions("lot:1", "case:1", "consumed"))
        assert len(before) == 2
        corrections = Corrections(live)
        link = {"type": "retract-edge", "src": "lot:1", "dst": "case:1", "kind": "consumed"}
        proposal = corrections.propose(link, AUTHOR, "never consumed into the case")
        assert sorted((e["event_id"], e["quantity"]) for e in proposal.change["edges"]) == [
            ("ev-a", "2.5"), ("ev-b", "4.0")]
        assert live.ingest(corrections.approval(proposal.id, QA)).outcome == "applied"
        assert live.assertions("lot:1", "case:1", "consumed") == []
        undo = corrections.rollback(proposal.id, AUTHOR, "it was consumed after all")
        assert live.ingest(corrections.approval(undo.id, QA2)).outcome == "applied"
        assert sorted(live.assertions("lot:1", "case:1", "consumed")) == before
        window = graph.trace("lot:1", since="2026-01-06T00:00:00Z", max_depth=1)
        assert "case:1" in window.column("key").to_pylist()
        early = graph.trace("lot:1", until="2026-01-01T00:00:00Z", max_depth=1)
        assert "case:1" not in early.column("key").to_pylist()


def test_a_serial_moves_to_another_lot_in_one_entry_and_back(tmp_path: Path) -> None:
    with LiveStore(tmp_path / "data") as live:
        _load(live)
        live.ingest(IngestBatch("mes", 2, pl.DataFrame({"key": ["lot:2"], "kind": ["lot"]})))
        graph = Graph(live.view().snapshot, live.view)
        corrections = Corrections(live)
        with pytest.raises(InvalidInput, match="no live 'consumed' edge 'lot:2' -> 'sn:1'"):
            corrections.propose({"type": "move-serial", "serial": "sn:1", "from": "lot:2",
                                 "to": "lot:1", "kind": "consumed"}, AUTHOR, "wrong lot")
        move = corrections.propose({"type": "move-serial", "serial": "sn:1", "from": "lot:1",
                                    "to": "lot:2", "kind": "consumed"}, AUTHOR,
                                   "the label was from lot 2")
        assert graph.trace("sn:1", "upstream").column("key").to_pylist() == ["lot:1"]
        original = live.assertions("lot:1", "sn:1", "consumed")
        seq = live.last_seq
        assert live.ingest(corrections.approval(move.id, QA)).outcome == "applied"
        assert live.last_seq == seq + 1  # retraction and new parent: one log entry
        assert live.assertions("lot:2", "sn:1", "consumed") == original  # time, id, qty kept
        assert set(graph.trace("sn:1", "upstream").column("key").to_pylist()) == {"lot:2"}
        assert _downstream(graph, "lot:1") == {"sn:2", "case:1"}
        assert _downstream(graph, "lot:2") == {"sn:1", "case:1"}
        back = corrections.rollback(move.id, AUTHOR, "it was lot 1")
        assert (back.change["from"], back.change["to"]) == ("lot:2", "lot:1")
        assert live.ingest(corrections.approval(back.id, QA2)).outcome == "applied"
        assert set(graph.trace("sn:1", "upstream").column("key").to_pylist()) == {"lot:1"}


TWO_STEPS = """
[default]
steps = ["qa"]

[move-serial]
steps = ["qa", ["qa", "investigator"]]
"""


def test_an_approval_path_is_a_policy_changed_only_by_a_correction(tmp_path: Path) -> None:
    investigator = Principal(8, "ivy", "Ivy Investigator", "investigator", "session")
    with LiveStore(tmp_path / "data") as live:
        _load(live)
        live.ingest(IngestBatch("mes", 2, pl.DataFrame({"key": ["lot:2"], "kind": ["lot"]})))
        graph = Graph(live.view().snapshot, live.view)
        corrections = Corrections(live)
        assert corrections.policy().steps("move-serial") == (frozenset({"qa"}),)
        for bad, why in (("[default]\nsteps = []", "1 to 5 roles"),
                         ("[default]\nsteps = ['admin']", "admin may not approve"),
                         ("[move-serial]\nsteps = ['qa']", "[default] table is required"),
                         ("[default]\nsteps = ['qa']\n[rename]\nsteps = ['qa']",
                          "not a change type"),
                         ("[default\n", "not TOML")):
            with pytest.raises(InvalidInput, match=re.escape(why)):
                corrections.propose({"type": "approval-policy", "policy": bad}, ADMIN, "x")
        with pytest.raises(PermissionDenied, match="may not propose"):
            corrections.propose({"type": "approval-policy", "policy": TWO_STEPS}, AUTHOR, "x")
        policy = corrections.propose({"type": "approval-policy", "policy": TWO_STEPS}, ADMIN,
                                     "serial moves need two people")
        with pytest.raises(PermissionDenied, match="may not decide"):
            corrections.approval(policy.id, ADMIN)  # an admin never approves
        assert live.ingest(corrections.approval(policy.id, QA)).outcome == "applied"
        assert corrections.policy().text == TWO_STEPS

        move = corrections.propose({"type": "move-serial", "serial": "sn:1", "from": "lot:1",
                                    "to": "lot:2", "kind": "consumed"}, AUTHOR, "wrong lot")
        with pytest.raises(PermissionDenied, match="step 1 of 2 needs a user with role qa"):
            corrections.approval(move.id, investigator)
        ack = live.ingest(corrections.approval(move.id, QA, "label checked"))
        assert ack.outcome == "applied"
        reviewed = corrections.get(move.id)
        assert reviewed.state == "pending"  # one of two: nothing moved yet
        assert [s["meaning"] for s in reviewed.signatures] == ["review"]
        assert set(graph.trace("sn:1", "upstream").column("key").to_pylist()) == {"lot:1"}
        with pytest.raises(PermissionDenied, match="already signed"):
            corrections.approval(move.id, QA)
        assert live.ingest(corrections.approval(move.id, investigator)).outcome == "applied"
        done = corrections.get(move.id)
        assert done.state == "applied"
        assert [s["meaning"] for s in done.signatures] == ["review", "approval"]
        assert Corrections.signature_problems(done) == []
        assert set(graph.trace("sn:1", "upstream").column("key").to_pylist()) == {"lot:2"}
        # Other changes keep the default: one qa.
        retraction = corrections.propose(EDGE, AUTHOR, "wrong case")
        assert live.ingest(corrections.approval(retraction.id, QA2)).outcome == "applied"
        assert corrections.get(retraction.id).state == "applied"
        # The policy's own rollback goes back to the default, through a correction.
        undo = corrections.rollback(policy.id, ADMIN, "one person is enough again")
        assert live.ingest(corrections.approval(undo.id, QA2)).outcome == "applied"
        assert corrections.policy().steps("move-serial") == (frozenset({"qa"}),)
        actions = [decode(v)["action"] for _, v in live.store.audit_records()]
        assert actions.count("correction.review") == 1


def test_a_node_attribute_is_corrected_and_kept_through_restart_and_compaction(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LiveStore(data) as live:
        live.ingest(IngestBatch("erp", 1, pl.DataFrame({
            "key": ["lot:9", "sn:9"], "kind": ["lot", "serial"],
            "product": ["gtin:0001", "gtin:0002"], "quantity": [500.0, None]})))
        corrections = Corrections(live)
        graph = Graph(live.view().snapshot, live.view)
        with pytest.raises(InvalidInput, match="cannot be set"):
            corrections.propose({"type": "set-attribute", "key": "lot:9", "field": "kind",
                                 "value": "serial"}, AUTHOR, "x")
        with pytest.raises(InvalidInput, match="number >= 0"):
            corrections.propose({"type": "set-attribute", "key": "lot:9",
                                 "field": "quantity", "value": "-3"}, AUTHOR, "x")
        with pytest.raises(InvalidInput, match="already"):
            corrections.propose({"type": "set-attribute", "key": "lot:9",
                                 "field": "quantity", "value": "500"}, AUTHOR, "x")
        with pytest.raises(UnknownNode):
            corrections.propose({"type": "set-attribute", "key": "lot:404",
                                 "field": "quantity", "value": "1"}, AUTHOR, "x")
        fix = corrections.propose({"type": "set-attribute", "key": "lot:9",
                                   "field": "quantity", "value": "480"}, AUTHOR,
                                  "20 units scrapped at receiving")
        assert (fix.change["previous"], fix.change["value"]) == ("500.0", "480.0")
        assert graph.node("lot:9")["quantity"] == 500.0  # pending
        assert live.ingest(corrections.approval(fix.id, QA)).outcome == "applied"
        assert graph.node("lot:9")["quantity"] == 480.0
        product = corrections.propose({"type": "set-attribute", "key": "sn:9",
                                       "field": "product", "value": "gtin:0003"}, AUTHOR,
                                      "relabelled")
        assert live.ingest(corrections.approval(product.id, QA)).outcome == "applied"
        [record] = [decode(v) for _, v in live.store.audit_records()
                    if decode(v)["action"] == "node.set_attribute"
                    and decode(v)["keys"] == ["lot:9"]]
        assert (record["old"], record["new"]) == ("500.0", "480.0")
    with LiveStore(data) as live:  # replayed from the log
        graph = Graph(live.view().snapshot, live.view)
        assert graph.node("lot:9")["quantity"] == 480.0
        assert graph.node("sn:9")["product"] == "gtin:0003"
        assert live.compact() is not None
    with LiveStore(data) as live:  # baked into the snapshot
        graph = Graph(live.view().snapshot, live.view)
        assert live.view().attributes == {}
        assert graph.node("lot:9")["quantity"] == 480.0
        assert graph.node("sn:9")["product"] == "gtin:0003"
        corrections = Corrections(live)
        undo = corrections.rollback(fix.id, AUTHOR, "the scrap was reversed")
        assert live.ingest(corrections.approval(undo.id, QA2)).outcome == "applied"
        assert graph.node("lot:9")["quantity"] == 500.0
