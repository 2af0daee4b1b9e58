"""Node.js packages for the tests and benchmarks that drive the server from Node.js."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def node_modules() -> Path:
    """@grpc/grpc-js and @grpc/proto-loader from npm, installed once into .node/ (ignored)."""
    prefix = ROOT / ".node"
    if not (prefix / "node_modules" / "@grpc" / "proto-loader").is_dir():
        npm = shutil.which("npm")
        assert npm, "npm is needed to drive the server from Node.js (Node.js 20 is expected)"
        subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                        "@grpc/grpc-js@1", "@grpc/proto-loader@0"], check=True,
                       capture_output=True, timeout=600)
    return prefix / "node_modules"
