"""The same service on a PostgreSQL ledger: ingestion, idempotency, windows, alerts, restart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.monitor.monitor_helpers import make_rows, reference_table

from assay.monitor import (
    MonitorService,
    create_monitor,
    create_token,
    list_alerts,
    list_windows,
    verify_token,
)
from assay.workspace import Workspace

pytestmark = pytest.mark.postgres


def test_service_on_postgres(tmp_path: Path, pg_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.data import add

    monkeypatch.chdir(tmp_path)
    ws = Workspace.init(tmp_path, ledger=pg_database)
    (tmp_path / "ref").mkdir()
    pq.write_table(reference_table(), tmp_path / "ref" / "part.parquet")
    add(ws, [str(tmp_path / "ref")], name="ref")
    token = create_token(ws, ["ingest"])
    assert verify_token(ws, token["token"])["scopes"] == ["ingest"]
    monitor = create_monitor(ws, "m", "ref@v1", window="1000rows", rules=["drift"])
    service = MonitorService(ws).start()
    try:
        for i in range(3):
            service.ingest("m", json.dumps({"rows": make_rows(500, seed=i), "batch_id": f"b{i}"}).encode())
        assert service.ingest("m", json.dumps({"rows": make_rows(500, seed=0), "batch_id": "b0"}).encode()).duplicate
    finally:
        service.stop()
    service = MonitorService(ws).start()
    try:
        for i in range(3, 6):
            service.ingest("m", json.dumps({"rows": make_rows(500, seed=i, shift=10), "batch_id": f"b{i}"}).encode())
        deadline = time.monotonic() + 20
        while len(list_windows(ws, monitor)) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        service.stop()
    windows = list_windows(ws, monitor)
    assert [(w["window"], w["rows"]) for w in windows] == [(0, 1000), (1, 1000), (2, 1000)]
    assert [w["drift"] for w in windows] == [False, True, True]
    assert sorted(a["window"] for a in list_alerts(ws)) == [1, 2]
    ws.close()
