"""The service without HTTP: durable ingestion, windows judged from sketches, restarts, archiving."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from tests.monitor.monitor_helpers import make_rows, traffic_gap

from assay.errors import ConcurrencyError, NotFoundError, UsageError
from assay.monitor import (
    MonitorService,
    create_monitor,
    get_monitor,
    get_window,
    list_alerts,
    list_windows,
)
from assay.monitor._windows import WindowProcessor
from assay.workspace import Workspace


def _body(rows: list[dict], batch_id: str) -> bytes:
    return json.dumps({"rows": rows, "batch_id": batch_id}).encode()


def _wait(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def test_create_monitor_builds_the_reference_once(ref_ws: Workspace) -> None:
    monitor = create_monitor(ref_ws, "m", "ref@v1", window="1000rows", rules=["drift", "column:age"])
    assert monitor.spec.schema == {"age": "numeric", "income": "numeric", "country": "categorical"}
    assert ref_ws.store.exists(monitor.profile_key)
    edges = ref_ws.ledger.query("SELECT src, dst, relation FROM edges WHERE dst = ?", (monitor.node,))
    assert edges and edges[0][2] == "monitored_by"
    with pytest.raises(UsageError, match="exists already"):
        create_monitor(ref_ws, "m", "ref@v1")
    with pytest.raises(NotFoundError):
        create_monitor(ref_ws, "n", "nothing@v1")
    with pytest.raises(UsageError):
        create_monitor(ref_ws, "bad name!", "ref@v1")
    with pytest.raises(UsageError, match="webhook"):
        create_monitor(ref_ws, "w", "ref@v1", webhooks=["file:///etc/passwd"])
    narrowed = create_monitor(ref_ws, "n2", "ref@v1", columns=["age"])
    assert narrowed.spec.columns == ["age"]


def test_windows_close_and_drift_raises_alerts_exactly_once(ref_ws: Workspace) -> None:
    monitor = create_monitor(ref_ws, "m", "ref@v1", window="1000rows", rules=["drift", "column:age"])
    service = MonitorService(ref_ws).start()
    try:
        # 3 windows like the reference, then 2 windows with age shifted by one standard deviation;
        # batches of 300 rows straddle window boundaries
        for i in range(10):
            ack = service.ingest("m", _body(make_rows(300, seed=i, start=300 * i), f"b{i}"))
            assert (ack.seq, ack.first_event, ack.duplicate) == (i, 300 * i, False)
        for i in range(10, 17):
            service.ingest("m", _body(make_rows(300, seed=i, shift=10, start=300 * i), f"b{i}"))
        again = service.ingest("m", _body(make_rows(300, seed=3), "b3"))
        assert again.duplicate and again.seq == 3
        _wait(lambda: len(list_windows(ref_ws, monitor)) == 5)
    finally:
        service.stop()
    windows = list_windows(ref_ws, monitor)
    assert [w["rows"] for w in windows] == [1000] * 5
    assert [w["start_event"] for w in windows] == [0, 1000, 2000, 3000, 4000]
    assert [w["drift"] for w in windows[:2]] == [False, False]
    assert windows[3]["drift"] and windows[4]["drift"] and "age" in windows[4]["drifted"]
    assert "income" not in windows[4]["drifted"]
    alerts = list_alerts(ref_ws)
    keys = [(a["window"], a["rule"]) for a in alerts]
    assert len(keys) == len(set(keys))
    assert {(3, "drift"), (3, "column:age"), (4, "drift"), (4, "column:age")} <= set(keys)
    detail = get_window(ref_ws, get_monitor(ref_ws, "m"), 4)
    age = next(c for c in detail["report"]["columns"] if c["name"] == "age")
    assert age["drifted"] and age["chart"]["type"] == "numeric"
    assert get_monitor(ref_ws, "m").events == 17 * 300


def test_window_verdict_matches_the_drift_pillar_on_the_same_rows(ref_ws: Workspace) -> None:
    """A window judged from merged per-batch sketches equals `compare` on the window's rows with the profile."""
    from assay.drift import DriftSpec, compare
    from assay.monitor._monitors import load_reference

    monitor = create_monitor(ref_ws, "m", "ref@v1", window="1200rows")
    rows = make_rows(1200, seed=5, shift=3)
    service = MonitorService(ref_ws).start()
    try:
        for k in range(4):
            service.ingest("m", _body(rows[300 * k:300 * (k + 1)], f"b{k}"))
        _wait(lambda: len(list_windows(ref_ws, monitor)) == 1)
    finally:
        service.stop()
    window = list_windows(ref_ws, monitor)[0]
    table = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "event_id"} for r in rows])
    spec = DriftSpec(columns=("age", "income", "country"), method="binned", multivariate=False)
    direct = compare(load_reference(ref_ws, monitor), table, spec)
    for column in direct.columns:
        mine = window["columns"][column.name]
        assert mine["statistic"] == pytest.approx(column.statistic, rel=1e-9, abs=1e-12)
        assert mine["p_adjusted"] == pytest.approx(column.p_adjusted, rel=1e-9, abs=1e-12)
        assert mine["drifted"] == column.drifted
    assert window["drift"] == direct.drift


def test_restart_rebuilds_the_open_window_and_resumes(ref_ws: Workspace) -> None:
    monitor = create_monitor(ref_ws, "m", "ref@v1", window="1000rows", rules=["drift"])
    first = MonitorService(ref_ws).start()
    try:
        for i in range(5):  # 1500 events: window 0 closed, window 1 half full
            first.ingest("m", _body(make_rows(300, seed=i, shift=10), f"b{i}"))
        _wait(lambda: len(list_windows(ref_ws, monitor)) == 1)
        with pytest.raises(ConcurrencyError):
            MonitorService(ref_ws).start()
    finally:
        first.stop()
    second = MonitorService(ref_ws).start()
    try:
        for i in range(5, 10):
            second.ingest("m", _body(make_rows(300, seed=i, shift=10), f"b{i}"))
        assert second.ingest("m", _body(make_rows(300, seed=0), "b0")).duplicate
        _wait(lambda: len(list_windows(ref_ws, monitor)) == 3)
    finally:
        second.stop()
    windows = list_windows(ref_ws, monitor)
    assert [(w["window"], w["rows"], w["start_event"]) for w in windows] == [(0, 1000, 0), (1, 1000, 1000), (2, 1000, 2000)]
    assert sorted(a["window"] for a in list_alerts(ref_ws)) == [0, 1, 2]


def test_closed_segments_roll_into_parquet_and_stay_readable(ref_ws: Workspace) -> None:
    monitor = create_monitor(ref_ws, "m", "ref@v1", window="600rows")
    service = MonitorService(ref_ws, segment_seconds=0.0).start()  # a new segment after every group
    try:
        for i in range(4):
            service.ingest("m", _body(make_rows(300, seed=i), f"b{i}"))
        _wait(lambda: len(list_windows(ref_ws, monitor)) == 2)
        _wait(lambda: ref_ws.ledger.query("SELECT COUNT(*) FROM monitor_batches WHERE archive IS NOT NULL")[0][0] == 4, timeout=30)
    finally:
        service.stop()
    rows = ref_ws.ledger.query("SELECT segment, archive FROM monitor_batches ORDER BY seq")
    assert all(seg is None and key.endswith(".parquet") for seg, key in rows)
    from assay.monitor._windows import read_any

    table = read_any(ref_ws, None, None, None, rows[2][1], 2)
    assert table.num_rows == 300 and table.column("event_id")[0].as_py() == "e0"
    # a processor started from scratch replays archived batches just as well
    ref_ws.ledger.execute("DELETE FROM monitor_windows")
    ref_ws.ledger.execute("UPDATE monitors SET next_window = 0")
    processor = WindowProcessor(ref_ws)
    while processor.step():
        pass
    assert [w["rows"] for w in list_windows(ref_ws, monitor)] == [600, 600]


def test_time_windows_close_on_the_clock(ref_ws: Workspace) -> None:
    monitor = create_monitor(ref_ws, "t", "ref@v1", window="1h", rules=["drift", "rows<1000"])
    service = MonitorService(ref_ws)
    service.log.start()
    try:
        for i in range(2):
            service.log.append(monitor.id, f"b{i}", pa.Table.from_pylist(make_rows(400, seed=i, shift=10)))
    finally:
        service.log.stop()
    processor = WindowProcessor(ref_ws)
    processor.step()
    assert list_windows(ref_ws, monitor) == []  # the hour is not over
    processor.step(now_us=monitor.created_us + 3600 * 1_000_000 + 2_000_000)
    windows = list_windows(ref_ws, monitor)
    assert [(w["window"], w["rows"], w["drift"]) for w in windows] == [(0, 800, True)]
    assert windows[0]["end_us"] - windows[0]["start_us"] == 3600 * 1_000_000
    assert sorted(a["rule"] for a in list_alerts(ref_ws)) == ["drift", "rows<1000"]


def test_no_drift_on_reference_like_traffic_is_the_common_case(ref_ws: Workspace) -> None:
    monitor = create_monitor(ref_ws, "m", "ref@v1", window="2000rows")
    service = MonitorService(ref_ws).start()
    try:
        for i in range(10):
            service.ingest("m", _body(make_rows(1000, seed=100 + i), f"b{i}"))
        _wait(lambda: len(list_windows(ref_ws, monitor)) == 5)
    finally:
        service.stop()
    drifted = sum(w["drift"] for w in list_windows(ref_ws, monitor))
    assert drifted <= 1  # Holm at alpha 0.05 over 3 columns: about 5% of windows at most
    assert np.isfinite([w["share"] for w in list_windows(ref_ws, monitor)]).all()


def test_time_windows_without_events_alert_a_rows_rule(ref_ws: Workspace) -> None:
    monitor = create_monitor(ref_ws, "quiet", "ref@v1", window="1m", rules=["rows<100"])
    hour = 60 * 1_000_000
    processor = WindowProcessor(ref_ws)
    processor.step(now_us=monitor.created_us + 3 * hour + 2_000_000)
    windows = list_windows(ref_ws, monitor)
    assert [(w["window"], w["rows"], w["drift"]) for w in windows] == [(0, 0, False), (1, 0, False), (2, 0, False)]
    assert sorted(a["window"] for a in list_alerts(ref_ws)) == [0, 1, 2]
    assert get_window(ref_ws, get_monitor(ref_ws, "quiet"), 1)["report"]["findings"][0]["kind"] == "empty"
    processor.step(now_us=monitor.created_us + 3 * hour + 2_000_000)
    assert len(list_windows(ref_ws, monitor)) == 3  # nothing twice
    assert [a["streak_start"] for a in list_alerts(ref_ws)] == [0, 0, 0]  # one traffic stop
    other = create_monitor(ref_ws, "plain", "ref@v1", window="1m", rules=["drift"])
    processor.step(now_us=other.created_us + 3 * hour + 2_000_000)
    assert list_windows(ref_ws, other) == []  # without a rows rule, empty windows are not recorded


def test_a_processor_catching_up_records_the_empty_windows_between_busy_ones(ref_ws: Workspace) -> None:
    # events in minute 0 and minute 3, none between; the processor runs only after minute 4 (a restart, a backlog)
    monitor = traffic_gap(ref_ws)
    assert [(w["window"], w["rows"]) for w in list_windows(ref_ws, monitor)] == [(0, 400), (1, 0), (2, 0), (3, 400)]
    assert sorted((a["window"], a["streak_start"]) for a in list_alerts(ref_ws)) == [(1, 1), (2, 1)]


def test_the_service_folder_stays_out_of_version_control(ref_ws: Workspace) -> None:
    create_monitor(ref_ws, "m", "ref@v1")
    MonitorService(ref_ws).start().stop()
    ignore = ref_ws.dir / "monitor" / ".gitignore"
    assert ignore.read_text().splitlines()[-1] == "*"


def test_a_traffic_stop_stays_one_streak_across_the_windows_not_backfilled(ref_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    import assay.monitor._windows as windows_module

    monkeypatch.setattr(windows_module, "EMPTY_BACKFILL", 3)
    monitor = create_monitor(ref_ws, "quiet", "ref@v1", window="1m", rules=["rows<100"], webhooks=["http://127.0.0.1:9/hook"], notify="change")
    minute = 60 * 1_000_000
    processor = WindowProcessor(ref_ws)
    processor.step(now_us=monitor.created_us + 2 * minute + 2_000_000)  # windows 0 and 1
    processor.step(now_us=monitor.created_us + 10 * minute + 2_000_000)  # windows 7 to 9 (2 to 6 are not recorded)
    alerts = sorted(list_alerts(ref_ws), key=lambda a: a["window"])
    assert [(a["window"], a["streak_start"]) for a in alerts] == [(0, 0), (1, 0), (7, 0), (8, 0), (9, 0)]
    assert sum(a["webhooks"] for a in alerts) == 1  # the traffic never came back: one post


def test_a_webhook_or_rule_given_twice_is_kept_once(ref_ws: Workspace) -> None:
    # each (window, rule) alert and each (alert, url) delivery is unique: a repeat used to fail every window's transaction
    monitor = create_monitor(ref_ws, "twice", "ref@v1", window="1m", rules=["rows<100", "rows < 100", "drift"],
                             webhooks=["http://127.0.0.1:9/hook", "http://127.0.0.1:9/hook"])  # fmt: skip
    assert ([r.text for r in monitor.spec.rules], monitor.spec.webhooks) == (["rows<100", "drift"], ["http://127.0.0.1:9/hook"])
    WindowProcessor(ref_ws).step(now_us=monitor.created_us + 2 * 60 * 1_000_000 + 2_000_000)
    assert [(a["window"], a["webhooks"]) for a in sorted(list_alerts(ref_ws), key=lambda a: a["window"])] == [(0, 1), (1, 1)]


def test_empty_text_sent_for_a_csv_reference_with_empty_fields_is_no_drift(ws: Workspace) -> None:
    """The drift pillar reads an empty CSV text field as missing, so a reference built from a
    CSV dataset counts it as missing; events sent with "" for the same field were counted as
    the category "": every window drifted (an unseen category and a missing-rate change)."""
    from assay.data import add

    def rows(n: int, seed: int) -> list[dict]:
        rng = np.random.default_rng(seed)
        return [{"age": float(a), "country": str(c)} for a, c in zip(rng.normal(40, 10, n), rng.choice(["DE", "FR", "", "US"], n, p=[0.4, 0.3, 0.2, 0.1]))]

    (ws.root / "ref").mkdir()
    (ws.root / "ref" / "part.csv").write_text("age,country\n" + "".join(f"{r['age']},{r['country']}\n" for r in rows(4000, 1)))
    add(ws, [str(ws.root / "ref")], name="ref")
    monitor = create_monitor(ws, "m", "ref@v1", window="1000rows")
    service = MonitorService(ws).start()
    try:
        for i in range(3):
            service.ingest("m", _body(rows(1000, 10 + i), f"b{i}"))
        _wait(lambda: len(list_windows(ws, monitor)) == 3)
    finally:
        service.stop()
    assert not any(w["drift"] for w in list_windows(ws, monitor))
    country = next(c for c in get_window(ws, monitor, 0)["report"]["columns"] if c["name"] == "country")
    assert 150 < country["current"]["missing"] < 250 and country["reference"]["distinct"] == country["current"]["distinct"] == 3


def test_a_column_named_twice_is_watched_once(cli: Any, ref_ws: Workspace) -> None:
    # `--columns age,age` was exit 3: the binned reference profile read the column twice (pyarrow: 'Field "age" exists 2 times')
    doc = cli.json("monitor", "create", "m", "--reference", "ref@v1", "--columns", "age,age,country")
    assert doc["columns"] == ["age", "country"]


def test_a_drift_setting_past_what_can_be_allocated_is_refused(ref_ws: Workspace) -> None:
    # drift={"bins": 1e30} over the API was a 500 (numpy: "Maximum allowed size exceeded")
    with pytest.raises(UsageError, match="bins must be at most 1,000,000, got 1,000,000,000,000,000,000,000,000,000,000"):
        create_monitor(ref_ws, "m", "ref@v1", drift={"bins": 10**30})


def test_a_monitor_that_cannot_be_set_up_holds_up_no_other(ref_ws: Workspace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A monitor stored with a drift setting this version refuses (here: bins past the new cap) raised in
    every pass, and no monitor listed after it closed a window."""
    from assay.monitor import _windows

    first = create_monitor(ref_ws, "a", "ref@v1", window="300rows")
    second = create_monitor(ref_ws, "b", "ref@v1", window="300rows")
    spec = json.loads(ref_ws.ledger.query("SELECT spec FROM monitors WHERE id = ?", (first.id,))[0][0])
    spec["drift"] = {**(spec.get("drift") or {}), "bins": 5_000_000}
    ref_ws.ledger.execute("UPDATE monitors SET spec = ? WHERE id = ?", (json.dumps(spec), first.id))
    service = MonitorService(ref_ws)
    service.log.start()
    try:
        for monitor in (first, second):
            service.log.append(monitor.id, "b0", pa.Table.from_pylist(make_rows(300, seed=0)))
    finally:
        service.log.stop()
    processor = WindowProcessor(ref_ws)
    with caplog.at_level("ERROR", logger="assay.monitor"):
        processor.step()
        processor.step()  # tried again a minute later, not on every pass: said once
    assert [w["rows"] for w in list_windows(ref_ws, second)] == [300] and list_windows(ref_ws, first) == []
    said = [r.getMessage() for r in caplog.records if "cannot be processed" in r.getMessage()]
    assert said == ["monitor 'a' cannot be processed, its windows wait: bins must be at most 1,000,000, got 5,000,000 (tried again in 60 s)"]
    ref_ws.ledger.execute("UPDATE monitors SET spec = ? WHERE id = ?", (json.dumps({**spec, "drift": {}}), first.id))
    monkeypatch.setattr(_windows, "RETRY_UNUSABLE_S", 0)
    processor.step()  # mended: its windows close
    assert [w["rows"] for w in list_windows(ref_ws, first)] == [300]
