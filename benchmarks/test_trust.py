"""Trust benchmarks: what authorization adds to a call (the interceptor in-process, with an
API token checked against the RocksDB user directory), audit verification of 1M records, and
an RFC 6962 inclusion proof in a 1M-leaf tree (size and verification time).

    .venv/bin/python -m pytest benchmarks/test_trust.py --benchmark-only -s -p no:cacheprovider
"""

from __future__ import annotations

import time
from collections import namedtuple
from pathlib import Path
from typing import Any

import grpc
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from benchmarks.conftest import MEASURED
from index.store import Store
from server.auth import AuthInterceptor, Gate, Sessions
from trust.audit import AuditEvent
from trust.identity import Directory, Principal
from trust.merkle import inclusion_proof, leaf_hash, root, root_from_proof
from trust.verify import verify_store

OWNER = Principal(0, "os:bench", "os:bench", "admin", "os")
AUDIT_RECORDS = 1_000_000
Details = namedtuple("Details", "method invocation_metadata")


@pytest.fixture(scope="module")
def token_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = Store(tmp_path_factory.mktemp("auth") / "data", writable=True)
    directory = Directory(store)
    directory.add("reader", "viewer", OWNER, kind="service")
    _, token = directory.issue_token("reader", OWNER)
    yield directory, token
    store.close()


def test_authorization_per_call(benchmark: BenchmarkFixture, token_store: Any) -> None:
    directory, token = token_store
    interceptor = AuthInterceptor(Gate(directory, Sessions()))
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
    details = Details("/tracegraph.v1.Genealogy/Stats", (("authorization", f"Bearer {token}"),))
    result = benchmark(lambda: interceptor.intercept_service(lambda _d: handler, details))
    assert result is not handler  # wrapped: the call was allowed
    MEASURED.append(f"authorization per call: {benchmark.stats['median'] * 1e6:.1f} us median")


def test_session_check_per_call(benchmark: BenchmarkFixture) -> None:
    sessions = Sessions()
    token, _ = sessions.open(OWNER)
    interceptor = AuthInterceptor(Gate(None, sessions))
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
    details = Details("/tracegraph.v1.Genealogy/Stats", (("authorization", f"Bearer {token}"),))
    benchmark(lambda: interceptor.intercept_service(lambda _d: handler, details))


@pytest.fixture(scope="module")
def million_records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("audit") / "data"
    store = Store(data, writable=True)
    started = time.perf_counter()
    for start in range(0, AUDIT_RECORDS, 10_000):
        store.write([], [AuditEvent("ingest.batch", 7, "Bench Writer (bench)",
                                    keys=[f"bench/{i}"], details={"nodes": 3, "edges": 2})
                         for i in range(start, start + 10_000)])
    MEASURED.append(f"writing {AUDIT_RECORDS:,} audit records: "
                    f"{time.perf_counter() - started:.1f} s")
    store.close()
    return data


def test_audit_verify_of_a_million_records(benchmark: BenchmarkFixture,
                                           million_records: Path) -> None:
    store = Store(million_records, writable=False)
    try:
        report = benchmark.pedantic(lambda: verify_store(store), rounds=1, iterations=1)
    finally:
        store.close()
    assert report.ok, report.problems
    assert report.records == AUDIT_RECORDS
    MEASURED.append(f"audit verify of {AUDIT_RECORDS:,} records: "
                    f"{benchmark.stats['median']:.1f} s")


def test_inclusion_proof_in_a_million_leaf_tree(benchmark: BenchmarkFixture) -> None:
    leaves = [leaf_hash(i.to_bytes(8, "big")) for i in range(1_000_000)]
    head = root(leaves)
    index = 765_432
    proof = inclusion_proof(index, leaves)
    size = sum(len(p) for p in proof)
    assert size < 2048
    got = benchmark(lambda: root_from_proof(index, len(leaves), leaves[index], proof))
    assert got == head
    MEASURED.append(f"inclusion proof, 1M leaves: {size} bytes, verified in "
                    f"{benchmark.stats['median'] * 1e6:.1f} us")
