"""A short, bounded load test from a second process: no event lost, none stored twice (no wall-clock asserts).

The full benchmark with figures is benchmarks/serve_load.py (see benchmarks/README.md).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("serve_load", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("fmt", ["json", "arrow"])
def test_bounded_load_on_sqlite(tmp_path: Path, fmt: str) -> None:
    result = _bench().run(seconds=3, senders=3, batch=500, fmt=fmt, max_events=30_000, workdir=tmp_path, window="10000rows")
    assert result["events_acked"] > 0 and result["failed_requests"] == 0
    assert result["events_stored"] == result["events_acked"]


@pytest.mark.postgres
def test_bounded_load_on_postgres(tmp_path: Path, pg_database: str) -> None:
    result = _bench().run(ledger=pg_database, seconds=3, senders=3, batch=500, fmt="json", max_events=30_000, workdir=tmp_path, window="10000rows")
    assert result["events_acked"] > 0 and result["failed_requests"] == 0
    assert result["events_stored"] == result["events_acked"]
