"""Webhook delivery to a real local receiver that is down, slow, or answers 500."""

from __future__ import annotations

import time
from typing import Any

from assay.monitor import MonitorService, create_monitor, list_alerts, list_windows
from assay.monitor._webhooks import WebhookSender, backoff_seconds, deliveries
from assay.workspace import Workspace
from tests.monitor.monitor_helpers import Receiver, make_rows


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
    for _ in range(3):  # down: every attempt fails and is rescheduled
        sender.step()
        time.sleep(0.25)
    pending = deliveries(ref_ws)
    assert len(pending) == 3 and all(d["state"] == "pending" and d["attempts"] >= 1 and d["last_error"] for d in pending)
    receiver.up()
    _run_until(sender, lambda: all(d["state"] == "delivered" for d in deliveries(ref_ws)))
    keys = [r["key"] for r in receiver.received]
    assert sorted(keys) == sorted(a["id"] for a in list_alerts(ref_ws))
    assert {r["body"]["window"] for r in receiver.received} == {0, 1, 2}


def test_receiver_answering_500_is_retried_until_it_accepts(ref_ws: Workspace, receiver: Receiver) -> None:
    _drifting(ref_ws, receiver.url, 2)
    receiver.up()
    receiver.mode = "fail"
    sender = WebhookSender(ref_ws, timeout=1.0, base_delay=0.05, max_delay=0.2)
    _run_until(sender, lambda: receiver.attempts >= 6)
    assert receiver.received == []
    assert all(d["last_error"] == "HTTP 500" for d in deliveries(ref_ws))
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


def test_notify_change_posts_a_streaks_first_alert_only(ref_ws: Workspace, receiver: Receiver) -> None:
    # drift, drift, drift, none, drift: four alerts recorded, two streaks, two posts
    _drifting(ref_ws, receiver.url, 0, shifts=[10, 10, 10, 0, 10], notify="change")
    alerts = sorted(list_alerts(ref_ws), key=lambda a: a["window"])
    assert [(a["window"], a["streak_start"], a["webhooks"]) for a in alerts] == [(0, 0, 1), (1, 0, 0), (2, 0, 0), (4, 4, 1)]
    receiver.up()
    sender = WebhookSender(ref_ws, timeout=1.0, base_delay=0.05, max_delay=0.2)
    _run_until(sender, lambda: len(deliveries(ref_ws)) == 2 and all(d["state"] == "delivered" for d in deliveries(ref_ws)))
    bodies = sorted((r["body"] for r in receiver.received), key=lambda b: b["window"])
    assert [(b["window"], b["streak_start"], b["notified"]) for b in bodies] == [(0, 0, True), (4, 4, True)]


def test_notify_every_posts_each_alert_and_names_its_streak(ref_ws: Workspace, receiver: Receiver) -> None:
    _drifting(ref_ws, receiver.url, 0, shifts=[10, 10, 0, 10])
    alerts = sorted(list_alerts(ref_ws), key=lambda a: a["window"])
    assert [(a["window"], a["streak_start"], a["webhooks"]) for a in alerts] == [(0, 0, 1), (1, 0, 1), (3, 3, 1)]


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
