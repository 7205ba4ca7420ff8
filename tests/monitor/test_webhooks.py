"""Webhook delivery to a real local receiver that is down, slow, or answers 500."""

from __future__ import annotations

import time
from typing import Any

import pytest

from assay.monitor import (
    MonitorService,
    create_monitor,
    get_monitor,
    list_alerts,
    list_resolutions,
    list_windows,
)
from assay.monitor._webhooks import HOLD_ATTEMPTS, WebhookSender, backoff_seconds, deliveries
from assay.workspace import Workspace
from tests.monitor.monitor_helpers import Receiver, make_rows, traffic_gap


@pytest.fixture
def ref_ws(ref_ws_any: Workspace) -> Workspace:
    """Alerts, their streaks and ends, and their deliveries, on both ledgers."""
    return ref_ws_any


def _drifting(ws: Workspace, url: str, windows: int, *, shifts: list[float] | None = None, notify: str = "every") -> None:
    """Feed ``windows`` drifting windows (or one window per shift in ``shifts``); wait until they are closed."""
    monitor = create_monitor(ws, "m", "ref@v1", window="500rows", rules=["drift"], webhooks=[url], notify=notify)
    shifts = shifts if shifts is not None else [10] * windows
    windows = len(shifts)
    service = MonitorService(ws)
    service.log.start()
    try:
        for i, shift in enumerate(shifts):
            service.log.append(monitor.id, f"b{i}", __import__("pyarrow").Table.from_pylist(make_rows(500, seed=i, shift=shift)))
    finally:
        service.log.stop()
    from assay.monitor._windows import WindowProcessor

    processor = WindowProcessor(ws)
    while processor.step():
        pass
    assert len(list_windows(ws, monitor)) == windows


def _run_until(sender: WebhookSender, done: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "deliveries did not finish"
        sender.step()
        time.sleep(0.05)


def test_backoff_grows_and_is_capped() -> None:
    import random

    rng = random.Random(0)
    delays = [backoff_seconds(n, base=0.5, cap=60, rng=rng) for n in range(12)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(0.5 * min(60, 0.5 * 2**n) <= d <= min(60, 0.5 * 2**n) for n, d in enumerate(delays))
    assert max(delays) <= 60


def test_receiver_down_then_up_gets_each_alert_once(ref_ws: Workspace, receiver: Receiver) -> None:
    _drifting(ref_ws, receiver.url, 3)
    sender = WebhookSender(ref_ws, timeout=1.0, base_delay=0.05, max_delay=0.2)
    for _ in range(3):  # down: the first alert's attempts fail and are rescheduled; the later ones wait behind it
        sender.step()
        time.sleep(0.25)
    first = next(a["id"] for a in list_alerts(ref_ws) if a["window"] == 0)
    pending = deliveries(ref_ws)
    assert len(pending) == 3 and all(d["state"] == "pending" for d in pending)
    assert all((d["attempts"] >= 2 and d["last_error"]) if d["alert_id"] == first else (d["attempts"], d["last_error"]) == (0, None)
               for d in pending)  # fmt: skip
    receiver.up()
    _run_until(sender, lambda: all(d["state"] == "delivered" for d in deliveries(ref_ws)))
    keys = [r["key"] for r in receiver.received]
    assert sorted(keys) == sorted(a["id"] for a in list_alerts(ref_ws))
    assert [r["body"]["window"] for r in receiver.received] == [0, 1, 2]


def test_receiver_answering_500_is_retried_until_it_accepts(ref_ws: Workspace, receiver: Receiver) -> None:
    _drifting(ref_ws, receiver.url, 2)
    receiver.up()
    receiver.mode = "fail"
    sender = WebhookSender(ref_ws, timeout=1.0, base_delay=0.05, max_delay=0.2)
    _run_until(sender, lambda: receiver.attempts >= 6)
    assert receiver.received == []
    # the first alert is retried; the second waits behind it, not attempted
    assert sorted((d["attempts"] >= 6, d["last_error"]) for d in deliveries(ref_ws)) == [(False, None), (True, "HTTP 500")]
    receiver.mode = "ok"
    _run_until(sender, lambda: all(d["state"] == "delivered" for d in deliveries(ref_ws)))
    assert sorted(r["key"] for r in receiver.received) == sorted(a["id"] for a in list_alerts(ref_ws))


def test_slow_receiver_sees_retries_with_the_same_idempotency_key(ref_ws: Workspace, receiver: Receiver) -> None:
    _drifting(ref_ws, receiver.url, 1)
    receiver.up()
    receiver.mode = "slow"
    sender = WebhookSender(ref_ws, timeout=0.5, base_delay=0.05, max_delay=0.2)
    _run_until(sender, lambda: receiver.attempts >= 2)
    receiver.mode = "ok"
    _run_until(sender, lambda: all(d["state"] == "delivered" for d in deliveries(ref_ws)))
    time.sleep(1.6)  # let the slow handlers finish recording
    alert_ids = {a["id"] for a in list_alerts(ref_ws)}
    assert len(alert_ids) == 1
    # the network may deliver twice (a 2xx we did not wait for); the key lets the receiver drop the copies
    assert {r["key"] for r in receiver.received} == alert_ids
    assert len(deliveries(ref_ws)) == 1


def test_alerts_survive_a_restart_before_delivery(ref_ws: Workspace, receiver: Receiver) -> None:
    _drifting(ref_ws, receiver.url, 2)  # alerts recorded, nothing sent: as if the service died right after
    receiver.up()
    service = MonitorService(ref_ws, webhook_base_delay=0.05).start()
    try:
        deadline = time.monotonic() + 20
        while not all(d["state"] == "delivered" for d in deliveries(ref_ws)):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        service.stop()
    assert sorted(r["key"] for r in receiver.received) == sorted(a["id"] for a in list_alerts(ref_ws))
    assert all(a["webhooks_delivered"] == 1 for a in list_alerts(ref_ws))


def _posts(ws: Workspace, receiver: Receiver, count: int) -> list[dict[str, Any]]:
    """The bodies posted once ``count`` deliveries are delivered, by window (an alert before the resolution of its window)."""
    receiver.up()
    sender = WebhookSender(ws, timeout=1.0, base_delay=0.05, max_delay=0.2)
    _run_until(sender, lambda: len(deliveries(ws)) == count and all(d["state"] == "delivered" for d in deliveries(ws)))
    assert len(receiver.received) == count
    return sorted((r["body"] for r in receiver.received), key=lambda b: (b["window"], b.get("kind", "alert")))


def test_notify_change_posts_a_streaks_first_alert_and_its_end(ref_ws: Workspace, receiver: Receiver) -> None:
    # drift, drift, drift, none, drift: four alerts recorded, two streaks; posts: the first's start and end, the second's start
    _drifting(ref_ws, receiver.url, 0, shifts=[10, 10, 10, 0, 10], notify="change")
    alerts = sorted(list_alerts(ref_ws), key=lambda a: a["window"])
    assert [(a["window"], a["streak_start"], a["webhooks"]) for a in alerts] == [(0, 0, 1), (1, 0, 0), (2, 0, 0), (4, 4, 1)]
    [resolved] = list_resolutions(ref_ws)
    assert (resolved["rule"], resolved["window"], resolved["streak_start"], resolved["last_window"], resolved["webhooks"]) == ("drift", 3, 0, 2, 1)
    bodies = _posts(ref_ws, receiver, 3)
    assert [(b["kind"], b["window"], b["streak_start"], b["notified"]) for b in bodies] == [
        ("alert", 0, 0, True), ("resolved", 3, 0, True), ("alert", 4, 4, True)]
    end = bodies[1]
    assert (end["monitor"], end["rule"], end["last_window"], end["resolution_id"]) == ("m", "drift", 2, resolved["id"])
    assert end["message"] == "drift passes in window 3, after breaching in windows 0 to 2"
    assert {r["key"] for r in receiver.received} == {a["id"] for a in alerts if a["webhooks"]} | {resolved["id"]}


def test_notify_every_posts_each_alert_and_one_end_per_streak(ref_ws: Workspace, receiver: Receiver) -> None:
    _drifting(ref_ws, receiver.url, 0, shifts=[10, 10, 0, 0, 10, 0])
    alerts = sorted(list_alerts(ref_ws), key=lambda a: a["window"])
    assert [(a["window"], a["streak_start"], a["webhooks"]) for a in alerts] == [(0, 0, 1), (1, 0, 1), (4, 4, 1)]
    bodies = _posts(ref_ws, receiver, 5)
    assert [(b["kind"], b["window"], b["streak_start"]) for b in bodies] == [
        ("alert", 0, 0), ("alert", 1, 0), ("resolved", 2, 0), ("alert", 4, 4), ("resolved", 5, 4)]
    assert [b["last_window"] for b in bodies if b["kind"] == "resolved"] == [1, 4]  # window 3 passed too: no second end


def test_a_streak_that_goes_on_is_not_resolved(ref_ws: Workspace, receiver: Receiver) -> None:
    _drifting(ref_ws, receiver.url, 3, notify="change")
    assert list_resolutions(ref_ws) == []
    assert [b["kind"] for b in _posts(ref_ws, receiver, 1)] == ["alert"]


def test_a_window_a_rule_could_not_judge_does_not_end_its_streak(ref_ws: Workspace, receiver: Receiver) -> None:
    # time windows: drifting events in minutes 0 and 2, none in minute 1 (recorded empty for the rows rule), plain ones in minute 3
    import pyarrow as pa

    from assay.monitor._windows import WindowProcessor

    monitor = create_monitor(ref_ws, "gap", "ref@v1", window="1m", rules=["drift", "rows<100"], webhooks=[receiver.url], notify="change")
    service = MonitorService(ref_ws)
    service.log.start()
    try:
        for i, shift in enumerate((10, 10, 0)):
            service.log.append(monitor.id, f"b{i}", pa.Table.from_pylist(make_rows(400, seed=i, shift=shift)))
    finally:
        service.log.stop()
    for seq, minute in ((0, 0), (1, 2), (2, 3)):
        ref_ws.ledger.execute("UPDATE monitor_batches SET received_us = ? WHERE monitor = ? AND seq = ?",
                              (monitor.created_us + (minute * 60 + 10) * 1_000_000, monitor.id, seq))  # fmt: skip
    WindowProcessor(ref_ws).step(now_us=monitor.created_us + 4 * 60_000_000 + 2_000_000)
    assert [(w["window"], w["rows"]) for w in list_windows(ref_ws, monitor)] == [(0, 400), (1, 0), (2, 400), (3, 400)]
    alerts = sorted((a["rule"], a["window"], a["streak_start"]) for a in list_alerts(ref_ws))
    assert alerts == [("drift", 0, 0), ("drift", 2, 0), ("rows<100", 1, 1)]  # the empty window judged no drift
    ends = sorted((r["rule"], r["window"], r["streak_start"], r["last_window"]) for r in list_resolutions(ref_ws))
    assert ends == [("drift", 3, 0, 2), ("rows<100", 2, 1, 1)]
    bodies = _posts(ref_ws, receiver, 4)
    assert sorted((b["kind"], b["rule"], b["window"]) for b in bodies) == [
        ("alert", "drift", 0), ("alert", "rows<100", 1), ("resolved", "drift", 3), ("resolved", "rows<100", 2)]


def test_a_ledger_from_before_resolutions_opens_and_ends_its_streaks(ref_ws: Workspace, receiver: Receiver) -> None:
    import json
    import sqlite3

    if ref_ws.ledger.dialect != "sqlite":
        pytest.skip("rewrites a SQLite ledger file as an older assay left it")

    from assay.monitor._windows import WindowProcessor

    _drifting(ref_ws, receiver.url, 2, notify="change")
    # the ledger as the assay before resolutions left it: no kind column, schema 5, alert bodies without a kind
    ref_ws.close()
    db = sqlite3.connect(ref_ws.dir / "ledger.db")
    for alert_id, body in db.execute("SELECT id, body FROM monitor_alerts").fetchall():
        db.execute("UPDATE monitor_alerts SET body = ? WHERE id = ?", (json.dumps({k: v for k, v in json.loads(body).items() if k != "kind"}), alert_id))
    db.execute("ALTER TABLE monitor_alerts DROP COLUMN kind")
    db.execute("DELETE FROM schema_migrations WHERE version = 6")
    db.commit()
    db.close()
    ws = Workspace.open(ref_ws.root)
    try:
        assert ws.ledger.schema_version() == 6
        assert [(a["window"], a["streak_start"]) for a in sorted(list_alerts(ws), key=lambda a: a["window"])] == [(0, 0), (1, 0)]
        monitor = get_monitor(ws, "m")
        service = MonitorService(ws)
        service.log.start()
        try:
            service.log.append(monitor.id, "b2", __import__("pyarrow").Table.from_pylist(make_rows(500, seed=2)))
        finally:
            service.log.stop()
        processor = WindowProcessor(ws)
        while processor.step():
            pass
        assert [(r["window"], r["streak_start"], r["last_window"]) for r in list_resolutions(ws)] == [(2, 0, 1)]
        assert [(b.get("kind"), b["window"]) for b in _posts(ws, receiver, 2)] == [(None, 0), ("resolved", 2)]  # the old alert posted as it was recorded
    finally:
        ws.close()


def test_notify_from_the_cli_and_streaks_in_monitor_show(cli: Any, ref_ws: Workspace, receiver: Receiver) -> None:
    made = cli.json("monitor", "create", "n", "--reference", "ref@v1", "--window", "500rows", "--notify", "change",
                    "--webhook", receiver.url)  # fmt: skip
    assert made["notify"] == "change"
    told = cli("monitor", "create", "o", "--reference", "ref@v1", "--window", "500rows", "--notify", "change", "--webhook", receiver.url).stdout
    assert "; 1 webhook gets the first alert of each streak" in told, told
    refused = cli("monitor", "create", "x", "--reference", "ref@v1", "--notify", "sometimes", check=2)
    assert "'sometimes' is not one of 'every', 'change'" in refused.stderr
    _drifting(ref_ws, receiver.url, 2, notify="change")
    shown = cli("monitor", "show", "m", check=1).stdout
    assert "window 1 [drift] drift in window 1" in shown and "(breaching since window 0)" in shown


def test_monitor_show_lists_the_end_of_a_streak(cli: Any, ref_ws: Workspace, receiver: Receiver) -> None:
    _drifting(ref_ws, receiver.url, 0, shifts=[10, 0])
    shown = cli("monitor", "show", "m").stdout
    assert "] drift passes in window 1, after breaching in window 0" in shown and "  resolved " in shown, shown
    doc = cli.json("monitor", "show", "m")
    assert [(r["window"], r["rule"], r["streak_start"], r["last_window"], r["webhooks"]) for r in doc["resolved"]] == [(1, "drift", 0, 0, 1)]
    assert [a["window"] for a in doc["alerts"]] == [0]


def test_a_streak_goes_on_across_a_service_restart(ref_ws: Workspace, receiver: Receiver) -> None:
    import json

    monitor = create_monitor(ref_ws, "m", "ref@v1", window="500rows", rules=["drift"], webhooks=[receiver.url], notify="change")
    for run in range(2):  # two drifting windows, a restart, two more
        service = MonitorService(ref_ws).start()
        try:
            for i in (2 * run, 2 * run + 1):
                service.ingest("m", json.dumps({"rows": make_rows(500, seed=i, shift=10), "batch_id": f"b{i}"}).encode())
            deadline = time.monotonic() + 30
            while len(list_windows(ref_ws, monitor)) < 2 * run + 2:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            service.stop()
    alerts = sorted(list_alerts(ref_ws), key=lambda a: a["window"])
    assert [(a["window"], a["streak_start"]) for a in alerts] == [(0, 0), (1, 0), (2, 0), (3, 0)]
    assert len(deliveries(ref_ws)) == 1


def test_a_streaks_end_is_not_posted_before_its_alert(ref_ws: Workspace, receiver: Receiver) -> None:
    # the alert waits out a long back-off while its streak ends: the resolved post must not reach the on-call first
    _drifting(ref_ws, receiver.url, 2, shifts=[10, 0])
    receiver.up()
    receiver.mode = "fail"
    sender = WebhookSender(ref_ws, base_delay=0.01)
    sender.step()
    resolution = list_resolutions(ref_ws)[0]["id"]
    ref_ws.ledger.execute("UPDATE webhook_deliveries SET next_attempt_us = CASE WHEN alert_id = ? THEN 0 ELSE ? END",
                          (resolution, (time.time() + 3600) * 1e6))  # fmt: skip
    receiver.mode = "ok"
    sender.step()
    assert receiver.received == []  # held back behind its alert, not attempted (no back-off of its own)
    assert [d["attempts"] for d in deliveries(ref_ws) if d["alert_id"] == resolution] == [0]
    ref_ws.ledger.execute("UPDATE webhook_deliveries SET next_attempt_us = 0")
    _run_until(sender, lambda: len(receiver.received) == 2)
    assert [r["body"]["kind"] for r in receiver.received] == ["alert", "resolved"]


def _first_post_failed(ws: Workspace, receiver: Receiver, mode: str) -> tuple[WebhookSender, str]:
    """Windows 0 (drift), 1 (none: the end) and 2 (drift again); the first post tried while the receiver
    answers as ``mode`` says, then due in an hour, the others now, with the receiver back to "ok"."""
    _drifting(ws, receiver.url, 3, shifts=[10, 0, 10])
    receiver.up()
    receiver.mode = mode
    sender = WebhookSender(ws, base_delay=0.01)
    sender.step()
    first = next(a["id"] for a in list_alerts(ws) if a["window"] == 0)
    ws.ledger.execute("UPDATE webhook_deliveries SET next_attempt_us = CASE WHEN alert_id = ? THEN ? ELSE 0 END",
                      (first, (time.time() + 3600) * 1e6))  # fmt: skip
    receiver.mode = "ok"
    return sender, first


def test_a_url_gets_a_rules_posts_in_the_order_of_their_windows(ref_ws: Workspace, receiver: Receiver) -> None:
    # after an outage the first alert waits out a long back-off; the end of its streak and the next
    # streak's alert wait behind it: "resolved" must not be the last word while the rule breaches
    sender, first = _first_post_failed(ref_ws, receiver, "fail")
    sender.step()
    assert receiver.received == []  # both held back behind window 0's alert
    ref_ws.ledger.execute("UPDATE webhook_deliveries SET next_attempt_us = 0")
    _run_until(sender, lambda: len(receiver.received) == 3)
    assert [(r["body"]["kind"], r["body"]["window"]) for r in receiver.received] == [("alert", 0), ("resolved", 1), ("alert", 2)]


def test_a_post_the_receiver_refuses_holds_none_back(ref_ws: Workspace, receiver: Receiver) -> None:
    # a 400 may be the receiver's answer to that post for good: the later posts go on without it
    sender, first = _first_post_failed(ref_ws, receiver, "refuse")
    _run_until(sender, lambda: len(receiver.received) == 2)
    assert [(r["body"]["kind"], r["body"]["window"]) for r in receiver.received] == [("resolved", 1), ("alert", 2)]
    assert [d["last_error"] for d in deliveries(ref_ws) if d["alert_id"] == first] == ["HTTP 400"]


def test_a_redirect_is_not_taken_for_a_delivery(ref_ws: Workspace, receiver: Receiver) -> None:
    # urllib followed the 301 with a GET that carried no alert; the moved page's 200 marked the alert delivered
    _drifting(ref_ws, receiver.url, 1)
    receiver.up()
    receiver.mode = "redirect"
    sender = WebhookSender(ref_ws, base_delay=0.01)
    sender.step()
    [delivery] = deliveries(ref_ws)
    assert receiver.gets == [] and delivery["state"] == "pending"
    assert delivery["last_error"] == "HTTP 301: a redirect to '/moved', not followed (give the webhook its final URL)"
    receiver.mode = "ok"
    _run_until(sender, lambda: len(receiver.received) == 1)
    assert deliveries(ref_ws)[0]["state"] == "delivered"


def test_a_redirected_post_holds_none_back(ref_ws: Workspace, receiver: Receiver) -> None:
    # a redirect answers every post alike until the URL is mended: like a 4xx, it must not keep the later posts from the on-call
    sender, first = _first_post_failed(ref_ws, receiver, "redirect")
    _run_until(sender, lambda: len(receiver.received) == 2)
    assert [(r["body"]["kind"], r["body"]["window"]) for r in receiver.received] == [("resolved", 1), ("alert", 2)]
    assert [d["last_error"][:8] for d in deliveries(ref_ws) if d["alert_id"] == first] == ["HTTP 301"]


def test_a_post_that_keeps_failing_holds_the_next_ones_back_only_for_a_while(ref_ws: Workspace, receiver: Receiver) -> None:
    # a receiver that fails one post for good (a 500 for that body): after HOLD_ATTEMPTS tries the later posts go
    _drifting(ref_ws, receiver.url, 3, shifts=[10, 0, 10])
    receiver.up()
    first = next(a["id"] for a in list_alerts(ref_ws) if a["window"] == 0)
    later = (time.time() + 3600) * 1e6
    ref_ws.ledger.execute("UPDATE webhook_deliveries SET attempts = ?, last_error = 'HTTP 500', next_attempt_us = ? WHERE alert_id = ?",
                          (HOLD_ATTEMPTS - 1, later, first))  # fmt: skip
    sender = WebhookSender(ref_ws, base_delay=0.01)
    sender.step()
    assert receiver.received == []  # still held behind it
    ref_ws.ledger.execute("UPDATE webhook_deliveries SET attempts = ? WHERE alert_id = ?", (HOLD_ATTEMPTS, first))
    _run_until(sender, lambda: len(receiver.received) == 2)
    assert [(r["body"]["kind"], r["body"]["window"]) for r in receiver.received] == [("resolved", 1), ("alert", 2)]


def _iso(us: int) -> str:
    import datetime as dt

    return (dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=us)).isoformat(timespec="microseconds")


def test_posts_and_show_say_when_a_row_count_streak_began(cli: Any, ref_ws: Workspace, receiver: Receiver) -> None:
    # a row-count window began when its first event arrived: monitor_windows.start_us
    _drifting(ref_ws, receiver.url, 0, shifts=[10, 10, 0])
    receiver.up()
    _run_until(WebhookSender(ref_ws, base_delay=0.05), lambda: all(d["state"] == "delivered" for d in deliveries(ref_ws)))
    began = _iso(list_windows(ref_ws, get_monitor(ref_ws, "m"))[0]["start_us"])
    posts = [(r["body"]["kind"], r["body"]["window"], r["body"]["streak_start"], r["body"]["streak_started_at"]) for r in receiver.received]
    assert posts == [("alert", 0, 0, began), ("alert", 1, 0, began), ("resolved", 2, 0, began)]
    doc = cli.json("monitor", "show", "m")
    assert [(a["window"], a["streak_started_at"]) for a in doc["alerts"]] == [(1, began), (0, began)]
    assert [(r["window"], r["streak_started_at"]) for r in doc["resolved"]] == [(2, began)]


def test_posts_and_show_say_when_a_time_streak_began(ref_ws: Workspace, receiver: Receiver) -> None:
    # events in minute 0 and minute 3, none between: a traffic stop from minute 1, ended in minute 3
    monitor = traffic_gap(ref_ws, webhooks=[receiver.url])
    minute = 60 * 1_000_000
    receiver.up()
    _run_until(WebhookSender(ref_ws, base_delay=0.05), lambda: all(d["state"] == "delivered" for d in deliveries(ref_ws)))
    began = _iso(monitor.created_us + minute)
    posts = [(r["body"]["kind"], r["body"]["window"], r["body"]["streak_started_at"]) for r in receiver.received]
    assert posts == [("alert", 1, began), ("alert", 2, began), ("resolved", 3, began)]
    assert {a["streak_started_at"] for a in list_alerts(ref_ws)} == {began} == {r["streak_started_at"] for r in list_resolutions(ref_ws)}
