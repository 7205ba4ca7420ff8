"""Load benchmark for `assay serve`: events per second sustained and acknowledgement latency.

Starts `assay serve` in its own process on a free loopback port over a fresh workspace
(SQLite ledger, or PostgreSQL with --ledger postgresql://...), creates a monitor on a
30-column reference, then sends batches of rows from this process (several sender
threads, keep-alive connections) for a bounded time and count. Every batch carries an
idempotency key; at the end the ledger must hold exactly the acknowledged events.

    python benchmarks/serve_load.py --seconds 20 --senders 4 --batch 500 --format json
    python benchmarks/serve_load.py --ledger postgresql://user@127.0.0.1:5432/db
    python benchmarks/serve_load.py --rate 20000      # paced: latency at a given offered load

Without --rate the senders send back to back (closed loop): that measures the most the
service sustains, and its latency is mostly queueing behind the other senders. With
--rate the senders follow a fixed schedule (open loop) and latency is measured from the
*scheduled* send time, so falling behind shows up in the figures (no coordinated omission).

Traffic goes only to 127.0.0.1. Prints one JSON document; exit 1 if any event was lost.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

NUMERIC, CATEGORICAL = 25, 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _table(rows: int, seed: int, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {f"x{i}": rng.normal(shift, 1, rows) for i in range(NUMERIC)}
    for i in range(CATEGORICAL):
        cols[f"c{i}"] = rng.choice(["a", "b", "c", "d", "e"], rows)
    return pa.table(cols)


def _bodies(fmt: str, batch: int, count: int) -> list[bytes]:
    out = []
    for k in range(count):
        table = _table(batch, 100 + k, shift=0.3 if k % 2 else 0.0)
        if fmt == "arrow":
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            out.append(sink.getvalue().to_pybytes())
        else:
            out.append(json.dumps({"rows": table.to_pylist()}).encode())
    return out


def run(*, ledger: str = "sqlite", seconds: float = 20.0, senders: int = 2, batch: int = 500, fmt: str = "json",
        max_events: int = 5_000_000, workdir: Path | None = None, window: str = "100000rows", rate: float | None = None) -> dict[str, Any]:  # fmt: skip
    root = Path(workdir or tempfile.mkdtemp(prefix="assay-load-"))
    env = {**os.environ, "ASSAY_PROGRESS": "0"}
    env.pop("ASSAY_HOME", None)
    assay = [sys.executable, "-m", "assay"]

    def cli(*args: str) -> dict[str, Any]:
        proc = subprocess.run([*assay, *args, "--json"], cwd=root, env=env, capture_output=True, text=True, check=True)
        return json.loads(proc.stdout)

    init = ["init"] + (["--ledger", ledger] if ledger != "sqlite" else [])
    cli(*init)
    (root / "ref").mkdir(exist_ok=True)
    pq.write_table(_table(20_000, 0), root / "ref" / "part.parquet")
    cli("data", "add", "ref", "--name", "ref")
    cli("monitor", "create", "load", "--reference", "ref@v1", "--window", window, "--rule", "drift")
    token = cli("token", "create", "--scope", "ingest")["token"]
    port = _free_port()
    server = subprocess.Popen([*assay, "serve", "--port", str(port), "--json"], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        ready = server.stdout.readline()
        if not ready:
            raise RuntimeError(f"assay serve did not start: {server.stderr.read() if server.stderr else ''}")
        url = json.loads(ready)["url"]
        bodies = _bodies(fmt, batch, 16)
        content_type = "application/vnd.apache.arrow.stream" if fmt == "arrow" else "application/json"
        latencies: list[float] = []
        acked = [0]
        failures = [0]
        lock = threading.Lock()
        stop_at = time.monotonic() + seconds
        per_sender = max_events // senders

        def send(n: int) -> None:
            sent = 0
            headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
            interval = senders * batch / rate if rate else 0.0
            # the standard library's client: a keep-alive connection with little CPU of its own,
            # so the load generator takes as little as it can from the cores it shares with the service
            host, port = url.removeprefix("http://").rsplit(":", 1)
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            try:
                k = 0
                first = time.perf_counter() + n * interval / senders  # senders staggered over one interval
                while time.monotonic() < stop_at and sent < per_sender:
                    key = f"{n}-{k}-{uuid.uuid4().hex[:8]}"
                    scheduled = first + k * interval
                    if rate:
                        pause = scheduled - time.perf_counter()
                        if pause > 0:
                            time.sleep(pause)
                    t0 = scheduled if rate else time.perf_counter()
                    conn.request("POST", "/api/v1/monitors/load/events", body=bodies[(n + k) % len(bodies)], headers={**headers, "Idempotency-Key": key})
                    response = conn.getresponse()
                    response.read()
                    elapsed = time.perf_counter() - t0
                    with lock:
                        if response.status == 201:
                            latencies.append(elapsed)
                            acked[0] += batch
                        else:
                            failures[0] += 1
                    sent += batch
                    k += 1
            finally:
                conn.close()

        started = time.monotonic()
        threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        # what the service holds, read through the API-free ledger after a clean stop
        server.terminate()
        server.wait(timeout=60)
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        from assay.workspace import Workspace

        ws = Workspace.open(root)
        stored = int(ws.ledger.query("SELECT events FROM monitors WHERE name = 'load'")[0][0])
        windows = int(ws.ledger.query("SELECT COUNT(*) FROM monitor_windows")[0][0])
        ws.close()
        lat = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
        return {
            "ledger": "postgresql" if ledger.startswith("postgres") else "sqlite", "format": fmt, "senders": senders, "offered_rate": rate, "batch_rows": batch,
            "columns": NUMERIC + CATEGORICAL, "seconds": round(elapsed, 2), "events_acked": acked[0], "events_stored": stored,
            "lost": acked[0] - stored if stored <= acked[0] else 0, "extra": max(0, stored - acked[0]), "failed_requests": failures[0],
            "events_per_s": round(acked[0] / elapsed, 1), "ack_p50_ms": round(float(np.percentile(lat, 50)), 2),
            "ack_p99_ms": round(float(np.percentile(lat, 99)), 2), "ack_max_ms": round(float(lat.max()), 2), "windows_closed": windows,
            "cpus": os.cpu_count(),
        }  # fmt: skip
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ledger", default="sqlite", help='"sqlite" or a postgresql:// URL (a fresh database)')
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--format", choices=["json", "arrow"], default="json")
    parser.add_argument("--max-events", type=int, default=5_000_000)
    parser.add_argument("--rate", type=float, default=None, help="offered events/s (open loop); default: as fast as possible")
    args = parser.parse_args()
    result = run(ledger=args.ledger, seconds=args.seconds, senders=args.senders, batch=args.batch, fmt=args.format, max_events=args.max_events, rate=args.rate)
    print(json.dumps(result, indent=2))
    sys.exit(1 if result["lost"] or result["extra"] else 0)


if __name__ == "__main__":
    main()
