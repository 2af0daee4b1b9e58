"""The soak test's load: `python -m tests.soak_driver ADDRESS SECONDS CLIENTS` runs CLIENTS
threads against a loopback server for SECONDS, each a careless client of one kind: one that
ingests, one that drops its connection after the ack, one that opens an Ingest stream and
idles, one that queries, one that opens a big Trace and never reads it. Prints a JSON summary
of the status codes seen. Bounded in time and count; loopback only."""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

import grpc

from server.rpc import genealogy_pb2 as pb
from server.rpc import genealogy_pb2_grpc as pb_grpc
from server.rpc import ingest_pb2 as ipb
from server.rpc import ingest_pb2_grpc as ipb_grpc

LOT = "lot:wide"


def _client(address: str, kind: int, index: int, until: float, seen: Counter[str],
            lock: threading.Lock) -> None:
    rng = random.Random(index)
    sequence = 0
    while time.monotonic() < until:
        code = "OK"
        channel = grpc.insecure_channel(address, options=[
            ("grpc.http2.bdp_probe", 0), ("grpc.use_local_subchannel_pool", 1)])
        try:
            if kind == 0:  # ingests a few batches and reads every ack
                batches = [ipb.IngestBatch(source=f"soak-{index}", sequence=sequence + i,
                                           nodes=[ipb.NodeRecord(key=f"soak:{index}:{sequence + i}",
                                                                 kind="serial")])
                           for i in range(3)]
                sequence += 3
                list(ipb_grpc.IngestStub(channel).Ingest(iter(batches), timeout=10))
            elif kind == 1:  # drops the connection right after its ack
                batch = ipb.IngestBatch(source=f"drop-{index}", sequence=sequence,
                                        nodes=[ipb.NodeRecord(key=f"drop:{index}:{sequence}",
                                                              kind="serial")])
                sequence += 1
                hold = threading.Event()

                def stream(b: ipb.IngestBatch = batch,
                           h: threading.Event = hold) -> Iterator[ipb.IngestBatch]:
                    yield b
                    h.wait(2)

                next(ipb_grpc.IngestStub(channel).Ingest(stream(), timeout=10))
                channel.close()
                hold.set()
            elif kind == 2:  # opens an Ingest stream and sends nothing for a while
                stop = threading.Event()

                def idle(s: threading.Event = stop) -> Iterator[ipb.IngestBatch]:
                    s.wait(5)
                    yield from ()

                call = ipb_grpc.IngestStub(channel).Ingest(idle(), timeout=8)
                time.sleep(rng.uniform(1, 4))
                call.cancel()
                stop.set()
            elif kind == 3:  # queries
                stub = pb_grpc.GenealogyStub(channel)
                stub.TraceUnary(pb.TraceRequest(seeds=[f"sn:{rng.randrange(60_000):06d}"],
                                                direction=pb.UPSTREAM), timeout=5)
                list(stub.Trace(pb.TraceRequest(seeds=[LOT], direction=pb.DOWNSTREAM,
                                                chunk_rows=20_000), timeout=10))
            else:  # opens a big Trace and never reads past the first chunk
                call = pb_grpc.GenealogyStub(channel).Trace(pb.TraceRequest(
                    seeds=[LOT], direction=pb.DOWNSTREAM, chunk_rows=500), timeout=10)
                next(call)
                time.sleep(rng.uniform(1, 3))
                call.cancel()
        except grpc.RpcError as e:
            code = e.code().name if e.code() is not None else "UNKNOWN"
        finally:
            channel.close()
        with lock:
            seen[f"{kind}:{code}"] += 1
        time.sleep(rng.uniform(0.05, 0.5))


def main(argv: list[str]) -> int:
    address, seconds, clients = argv[0], float(argv[1]), int(argv[2])
    until = time.monotonic() + seconds
    seen: Counter[str] = Counter()
    lock = threading.Lock()
    threads = [threading.Thread(target=_client, args=(address, i % 5, i, until, seen, lock),
                                daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    print(json.dumps(dict(seen)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
