"""Helpers for the monitoring tests: a reference table and rows like it (optionally shifted), a webhook receiver."""

from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Any

import numpy as np
import pyarrow as pa


def reference_table(rows: int = 4000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        "age": rng.normal(40, 10, rows),
        "income": rng.lognormal(10, 0.5, rows),
        "country": rng.choice(["DE", "FR", "US", "JP"], rows, p=[0.4, 0.3, 0.2, 0.1]),
    })  # fmt: skip


def make_rows(n: int, *, seed: int, shift: float = 0.0, start: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    ages = rng.normal(40 + shift, 10, n)
    incomes = rng.lognormal(10, 0.5, n)
    countries = rng.choice(["DE", "FR", "US", "JP"], n, p=[0.4, 0.3, 0.2, 0.1])
    return [{"age": float(a), "income": float(i), "country": str(c), "event_id": f"e{start + k}"} for k, (a, i, c) in enumerate(zip(ages, incomes, countries))]


def traffic_gap(ws: Any, name: str = "gap", webhooks: list[str] | None = None) -> Any:
    """A 1-minute-window monitor under ``rows<100`` with 400 events in minute 0 and 400 in minute 3,
    none between (a traffic stop from minute 1, ended in minute 3), processed once after minute 4,
    as a processor catching up after a restart or a backlog; the monitor."""
    from assay.monitor import MonitorService, create_monitor
    from assay.monitor._windows import WindowProcessor

    monitor = create_monitor(ws, name, "ref@v1", window="1m", rules=["rows<100"], webhooks=webhooks or [])
    service = MonitorService(ws)
    service.log.start()
    try:
        for i in range(2):
            service.log.append(monitor.id, f"b{i}", pa.Table.from_pylist(make_rows(400, seed=i)))
    finally:
        service.log.stop()
    minute = 60 * 1_000_000
    for seq, at in ((0, 10), (1, 3 * 60 + 10)):
        ws.ledger.execute("UPDATE monitor_batches SET received_us = ? WHERE monitor = ? AND seq = ?",
                          (monitor.created_us + at * 1_000_000, monitor.id, seq))  # fmt: skip
    WindowProcessor(ws).step(now_us=monitor.created_us + 4 * minute + 2_000_000)
    return monitor


class Receiver:
    """A loopback HTTP receiver whose behaviour the test switches: ok, fail (500), refuse (400), slow, or
    redirect (a 301 to a page that answers GET with 200, as a site moved to https would)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.mode = "ok"
        self.received: list[dict[str, Any]] = []  # every request that got a 2xx
        self.attempts = 0
        self.gets: list[str] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                if receiver.mode in ("fail", "refuse"):
                    self.send_response(500 if receiver.mode == "fail" else 400)
                    self.end_headers()
                    return
                if receiver.mode == "redirect":
                    self.send_response(301)
                    self.send_header("Location", "/moved")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if receiver.mode == "slow":
                    time.sleep(1.5)  # longer than the sender's timeout: it must retry
                receiver.received.append({"key": self.headers["Idempotency-Key"], "body": json.loads(body)})
                self.send_response(204)
                self.end_headers()

            def do_GET(self) -> None:
                receiver.gets.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server: http.server.ThreadingHTTPServer | None = None
        self.Handler = Handler

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self.Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
