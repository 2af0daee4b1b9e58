"""A grpcio server whose TraceUnary does nothing: the throughput floor of Python gRPC on this
machine, measured beside ours in the same run. Prints its port, then serves until killed."""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc

from server.rpc import genealogy_pb2 as pb


def _nothing(_request: Any, _context: grpc.ServicerContext) -> bytes:
    return b""


def main() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    handler = grpc.unary_unary_rpc_method_handler(
        _nothing, request_deserializer=pb.TraceRequest.FromString,
        response_serializer=lambda reply: reply)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "tracegraph.v1.Genealogy", {"TraceUnary": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"noop server on 127.0.0.1:{port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
