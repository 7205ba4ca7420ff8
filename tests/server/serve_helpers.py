"""Helpers for the service tests: reference data, rows like it, a bearer header, a live `assay serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from assay.workspace import Workspace


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reference_table(rows: int = 4000, seed: int = 0, *, names: tuple[str, str, str] = ("age", "income", "country")) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        names[0]: rng.normal(40, 10, rows),
        names[1]: rng.lognormal(10, 0.5, rows),
        names[2]: rng.choice(["DE", "FR", "US", "JP"], rows, p=[0.4, 0.3, 0.2, 0.1]),
    })  # fmt: skip


def make_rows(n: int, *, seed: int, shift: float = 0.0, names: tuple[str, str, str] = ("age", "income", "country")) -> list[dict]:
    rng = np.random.default_rng(seed)
    a, b, c = names
    return [{a: float(x), b: float(y), c: str(z)} for x, y, z in zip(rng.normal(40 + shift, 10, n), rng.lognormal(10, 0.5, n),
                                                                    rng.choice(["DE", "FR", "US", "JP"], n, p=[0.4, 0.3, 0.2, 0.1]))]  # fmt: skip


def add_reference(ws: Workspace, name: str = "ref", table: pa.Table | None = None) -> None:
    from assay.data import add

    folder = ws.root / f"data-{name}"
    folder.mkdir()
    pq.write_table(table if table is not None else reference_table(), folder / "part.parquet")
    add(ws, [str(folder)], name=name)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class LiveServer:
    """`python -m assay serve` in a subprocess on a free loopback port."""

    def __init__(self, root: Path, port: int, env: dict[str, str] | None = None) -> None:
        self.root, self.port, self.env = root, port, env or {}
        self.proc: subprocess.Popen[str] | None = None
        self.url = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 60.0) -> LiveServer:
        env = {**os.environ, "ASSAY_PROGRESS": "0", **self.env}
        env.pop("ASSAY_HOME", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "assay", "serve", "--port", str(self.port), "--json"], cwd=self.root,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = self.proc.stdout.readline()
        if not line.startswith('{"url"'):  # refused: its --json error document, or nothing, on stdout
            raise AssertionError(f"assay serve exited {self.proc.wait()}: {line}{self.proc.stdout.read()}{self.proc.stderr.read() if self.proc.stderr else ''}")
        doc = json.loads(line)
        assert doc["url"] == self.url and time.monotonic() < deadline
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode if self.proc else 0
