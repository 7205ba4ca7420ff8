"""Deleting a monitor: everything it holds goes, other monitors keep theirs, a running service copes."""

from __future__ import annotations

import json
import time
from typing import Any

import pyarrow as pa
import pytest
from tests.monitor.monitor_helpers import make_rows

from assay.errors import NotFoundError
from assay.monitor import (
    MonitorService,
    create_monitor,
    delete_monitor,
    get_monitor,
    list_alerts,
    list_monitors,
    list_windows,
    store_labels,
)
from assay.monitor._log import segments_dir
from assay.monitor._windows import WindowProcessor, read_any
from assay.workspace import Workspace


@pytest.fixture
def ref_ws(ref_ws_any: Workspace) -> Workspace:
    """Every test here runs on SQLite and on PostgreSQL."""
    return ref_ws_any


TABLES = ("monitor_batches", "monitor_windows", "monitor_alerts", "monitor_labels", "monitor_predictions", "monitor_performance")


def _body(rows: list[dict], batch_id: str) -> bytes:
    return json.dumps({"rows": rows, "batch_id": batch_id}).encode()


def _left_of(ws: Workspace, monitor_id: str) -> dict[str, int]:
    counts = {t: int(ws.ledger.query(f"SELECT COUNT(*) FROM {t} WHERE monitor = ?", (monitor_id,))[0][0]) for t in TABLES}
    counts["deliveries"] = int(ws.ledger.query("SELECT COUNT(*) FROM webhook_deliveries d WHERE NOT EXISTS "
                                               "(SELECT 1 FROM monitor_alerts a WHERE a.id = d.alert_id)")[0][0])  # fmt: skip
    counts["edges"] = int(ws.ledger.query("SELECT COUNT(*) FROM edges WHERE src = ? OR dst = ?", (f"monitor:{monitor_id}",) * 2)[0][0])
    counts["objects"] = len(list(ws.store.list(f"monitor/{monitor_id}/")))
    return {k: v for k, v in counts.items() if v}


def _readable(ws: Workspace, monitor_id: str) -> int:
    rows = 0
    for seq, segment, offset, length, archive in ws.ledger.query(
        "SELECT seq, segment, seg_offset, seg_length, archive FROM monitor_batches WHERE monitor = ? ORDER BY seq", (monitor_id,)
    ):
        rows += read_any(ws, segment, offset, length, archive, int(seq)).num_rows
    return rows


def test_delete_removes_everything_of_the_monitor_and_nothing_of_the_others(ref_ws: Workspace) -> None:
    # alerts whose webhook never answers stay pending; 'keep' shares the segment files with 'gone'
    gone = create_monitor(ref_ws, "gone", "ref@v1", window="500rows", rules=["drift", "accuracy<0.9"], webhooks=["http://127.0.0.1:9/hook"],
                          drift={"prediction": "country"}, min_labels=10)  # fmt: skip
    keep = create_monitor(ref_ws, "keep", "ref@v1", window="500rows", rules=["drift"], webhooks=["http://127.0.0.1:9/hook"])
    service = MonitorService(ref_ws, segment_bytes=1)  # a new segment after every group: some hold one monitor only
    service.log.start()
    try:
        for i in range(4):
            service.log.append(gone.id, f"g{i}", pa.Table.from_pylist(make_rows(500, seed=i, shift=10, start=500 * i)))
        for i in range(2):
            service.log.append(keep.id, f"k{i}", pa.Table.from_pylist(make_rows(500, seed=10 + i, shift=10)))
    finally:
        service.log.stop()
    processor = WindowProcessor(ref_ws)
    while processor.step():
        pass
    store_labels(ref_ws, gone, [(f"e{i}", "nowhere") for i in range(100)])
    while processor.step():
        pass
    first_segment = ref_ws.ledger.query("SELECT segment FROM monitor_batches WHERE monitor = ? AND seq = 0", (gone.id,))[0][0]
    assert MonitorService(ref_ws).archive_segment(first_segment)  # a Parquet roll of 'gone' in the object store
    assert {"monitor_batches", "monitor_windows", "monitor_alerts", "monitor_labels", "monitor_predictions", "monitor_performance",
            "edges", "objects"} <= set(_left_of(ref_ws, gone.id))  # fmt: skip
    assert any(k.endswith(".parquet") for k in ref_ws.store.list(f"monitor/{gone.id}/"))
    keep_before = (list_windows(ref_ws, keep), list_alerts(ref_ws, keep), _readable(ref_ws, keep.id))
    segments_before = {p.name for p in segments_dir(ref_ws).glob("*.seg")}

    planned = delete_monitor(ref_ws, "gone", dry_run=True)
    assert planned == {"monitor": "gone", "id": gone.id, "deleted": False, "events": 2000, "windows": 4, "alerts": 5, "labels": 100,
                       "pending_deliveries": 5}  # fmt: skip
    assert get_monitor(ref_ws, "gone").id == gone.id  # a dry run deletes nothing
    done = delete_monitor(ref_ws, "gone")
    assert done["deleted"] and done["objects_removed"] >= 6 and done["segments_removed"] >= 1

    assert _left_of(ref_ws, gone.id) == {}
    assert [m.name for m in list_monitors(ref_ws)] == ["keep"]
    with pytest.raises(NotFoundError):
        get_monitor(ref_ws, "gone")
    with pytest.raises(NotFoundError):
        delete_monitor(ref_ws, "gone")
    # every segment file left is referenced by 'keep' (or is the empty one the log opened last), and 'keep' is untouched
    left = {p.name for p in segments_dir(ref_ws).glob("*.seg")}
    referenced = {r[0] for r in ref_ws.ledger.query("SELECT DISTINCT segment FROM monitor_batches WHERE segment IS NOT NULL")}
    assert left < segments_before and all((segments_dir(ref_ws) / name).stat().st_size == 0 for name in left - referenced)
    assert (list_windows(ref_ws, keep), list_alerts(ref_ws, keep), _readable(ref_ws, keep.id)) == keep_before
    # a monitor of the same name can be created again, from scratch
    again = create_monitor(ref_ws, "gone", "ref@v1", window="500rows")
    assert again.id != gone.id and again.events == 0 and list_windows(ref_ws, again) == []


def test_delete_while_the_service_runs(ref_ws: Workspace) -> None:
    create_monitor(ref_ws, "m", "ref@v1", window="500rows", rules=["drift"], drift={"prediction": "country"})
    other = create_monitor(ref_ws, "other", "ref@v1", window="500rows", rules=["drift"])
    service = MonitorService(ref_ws, background="thread").start()
    try:
        service.ingest("m", _body(make_rows(300, seed=1), "a"))
        service.ingest("other", _body(make_rows(300, seed=2), "a"))
        assert service.monitor("m")  # cached in the service
        delete_monitor(ref_ws, "m")  # as `assay monitor delete` does from another process
        with pytest.raises(NotFoundError):
            service.ingest("m", _body(make_rows(300, seed=3), "b"))
        # the window processor goes on with the other monitor, without a failed pass
        service.ingest("other", _body(make_rows(300, seed=4), "b"))
        deadline = time.monotonic() + 30
        while not list_windows(ref_ws, other):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # created again under the same name: the service's cached copy of the old one is not used
        create_monitor(ref_ws, "m", "ref@v1", window="500rows")
        ack = service.ingest("m", _body(make_rows(600, seed=5), "b"))
        assert (ack.seq, ack.first_event, ack.duplicate) == (0, 0, False)
        deadline = time.monotonic() + 30
        while not list_windows(ref_ws, get_monitor(ref_ws, "m")):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert service.windows is not None and service.windows.errors == 0
    finally:
        service.stop()
    assert get_monitor(ref_ws, "m").events == 600


def test_cli_delete_needs_yes_and_reports_what_goes(cli: Any, ref_ws: Workspace) -> None:
    cli("monitor", "create", "m", "--reference", "ref@v1", "--window", "500rows")
    refused = cli("monitor", "delete", "m", check=2)
    assert "cannot be undone" in refused.stderr and "--yes" in refused.stderr
    assert cli.json("monitor", "delete", "m", check=2)["error"] == "UsageError"
    planned = cli.json("monitor", "delete", "m", "--dry-run")
    assert planned["deleted"] is False and planned["events"] == 0
    assert cli.json("monitor", "list")["monitors"][0]["name"] == "m"
    assert cli.json("monitor", "delete", "m", "--yes")["deleted"] is True
    assert cli.json("monitor", "list")["monitors"] == []
    assert cli.json("monitor", "delete", "m", "--yes", check=2)["error"] == "NotFoundError"
    assert "cannot be undone" in cli("monitor", "delete", "--help").stdout


def test_a_deletion_cut_short_is_finished_later(ref_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    import assay.monitor._monitors as monitors_module

    monkeypatch.setattr(monitors_module, "DELETE_CHUNK", 7)  # many small transactions
    gone = create_monitor(ref_ws, "gone", "ref@v1", window="500rows", drift={"prediction": "country"})
    _ingest_and_close(ref_ws, gone, 3)
    store_labels(ref_ws, gone, [(f"e{i}", "DE") for i in range(40)])
    # a crash right after the first transaction: marked deleted, rows still there
    with ref_ws.ledger.transaction() as tx:
        tx.execute("UPDATE monitors SET name = ? WHERE id = ?", (f".deleting.{gone.id}", gone.id))
    assert list_monitors(ref_ws) == []
    with pytest.raises(NotFoundError):
        get_monitor(ref_ws, f".deleting.{gone.id}")
    service = MonitorService(ref_ws, background="thread")
    service.log.start()
    try:
        with pytest.raises(NotFoundError):  # nothing more is accepted for it
            service.log.append(gone.id, "late", pa.Table.from_pylist(make_rows(10, seed=9)))
    finally:
        service.log.stop()
    assert _left_of(ref_ws, gone.id)  # rows are still there
    other = create_monitor(ref_ws, "gone", "ref@v1", window="500rows")  # the name is free already
    _ingest_and_close(ref_ws, other, 1)
    delete_monitor(ref_ws, "gone")  # deleting the new one finishes the old one too
    assert _left_of(ref_ws, gone.id) == {} and _left_of(ref_ws, other.id) == {}
    assert ref_ws.ledger.query("SELECT COUNT(*) FROM monitors")[0][0] == 0


def _ingest_and_close(ws: Workspace, monitor: Any, windows: int) -> None:
    service = MonitorService(ws)
    service.log.start()
    try:
        for i in range(windows):
            service.log.append(monitor.id, f"b{i}", pa.Table.from_pylist(make_rows(500, seed=i, start=500 * i)))
    finally:
        service.log.stop()
    processor = WindowProcessor(ws)
    while processor.step():
        pass
