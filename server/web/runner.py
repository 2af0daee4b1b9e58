"""The web app served by uvicorn on a thread of the gRPC server's process (`serve
--web-port`, `tracegraph web`): same process, same View, same sessions."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

__all__ = ["WebServer"]

log = logging.getLogger(__name__)


class WebServer:
    """uvicorn on an already bound socket (so port 0 picks a free port and `port` says
    which), started on its own thread and stopped with `stop`."""

    def __init__(self, app: Starlette, host: str, port: int, tls_cert: Path | None = None,
                 tls_key: Path | None = None) -> None:
        self.socket = socket.create_server((host, port), family=socket.AF_INET6
                                           if ":" in host else socket.AF_INET)
        self.host = host
        self.port = int(self.socket.getsockname()[1])
        self.server = uvicorn.Server(uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off",
            timeout_graceful_shutdown=5, server_header=False,
            ssl_certfile=None if tls_cert is None else str(tls_cert),
            ssl_keyfile=None if tls_key is None else str(tls_key)))
        self.scheme = "http" if tls_cert is None else "https"
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.socket]},
                                       name="tracegraph-web", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}/"

    def start(self, timeout: float = 10.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()
