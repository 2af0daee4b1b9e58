"""The one error table: every class of the tree has a status code and a reason, every reason
is distinct, and a client maps a failed call back to the same class by its ErrorInfo reason,
on a real server (never by reading the message)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from domain import errors
from domain.errors import REASONS, TraceError
from server.client import TraceClient
from server.serve import ServerConfig, TraceServer
from server.status import _BY_CODE, error_from_rpc
from tests.conftest import T0, write_tables


def test_every_error_class_has_one_row() -> None:
    classes = {obj for _, obj in inspect.getmembers(errors, inspect.isclass)
               if issubclass(obj, TraceError) and obj is not TraceError}
    assert {kind for kind, _, _ in REASONS} == classes
    reasons = [reason for _, _, reason in REASONS]
    assert len(reasons) == len(set(reasons))
    for kind, code, _ in REASONS:
        assert hasattr(grpc.StatusCode, code), kind
    # most specific first: no class is shadowed by an earlier row for one of its bases
    for i, (kind, _, _) in enumerate(REASONS):
        assert not any(issubclass(kind, earlier) for earlier, _, _ in REASONS[:i]), kind


def test_engine_imports_nothing_from_loaders() -> None:
    root = Path(__file__).resolve().parents[1] / "engine"
    for path in root.glob("*.py"):
        assert "from loaders" not in path.read_text(), path


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TraceClient]:
    root = tmp_path_factory.mktemp("errors")
    nodes, edges = write_tables(
        root / "in", [{"key": k, "kind": "lot" if k.startswith("lot") else "serial"}
                      for k in ("lot:1", "sn:1", "sn:2", "sn:3")],
        [{"src": "lot:1", "dst": d, "kind": "consumed", "event_time": T0}
         for d in ("sn:1", "sn:2")])
    from index.build import build_from_files

    build_from_files([nodes], [edges], root / "data")
    server = TraceServer(root / "data", ServerConfig(port=0, no_auth=True, read_only=True))
    server.load()
    with TraceClient(f"127.0.0.1:{server.port}") as connected:
        yield connected
    server.stop(0)


def test_the_client_maps_back_by_reason(client: TraceClient) -> None:
    with pytest.raises(errors.NotConnected):
        client.path("lot:1", "sn:3")  # NOT_FOUND, like an unknown key: told apart by reason
    with pytest.raises(errors.UnknownNode):
        client.trace("nope")
    with pytest.raises(errors.EmptySeeds):
        client.trace([])
    with pytest.raises(errors.ResultLimitExceeded):
        client.trace("lot:1", limit=1)
    with pytest.raises(errors.InvalidInput):
        client.trace("lot:1", edge_kinds=["teleported"])


def test_codes_without_errorinfo_still_map() -> None:
    for code, kind in _BY_CODE.items():
        class Bare(grpc.RpcError):
            def code(self) -> grpc.StatusCode:
                return code  # noqa: B023

            def details(self) -> str:
                return "from some other server"

            def trailing_metadata(self) -> tuple[()]:
                return ()

        mapped = error_from_rpc(Bare())
        assert isinstance(mapped, kind)
