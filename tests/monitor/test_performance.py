"""Model performance per window from ground-truth labels: statistics, resolution of labels, rules that fire once."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.monitor.monitor_helpers import Receiver, make_rows

from assay.errors import NotFoundError, UsageError
from assay.monitor import (
    MonitorService,
    create_monitor,
    get_window,
    list_alerts,
    list_resolutions,
    list_windows,
    mean_interval,
    store_labels,
    wilson_interval,
    window_metrics,
)
from assay.monitor._webhooks import WebhookSender, deliveries
from assay.monitor._windows import WindowProcessor
from assay.workspace import Workspace


@pytest.fixture
def ref_ws(ref_ws_any: Workspace) -> Workspace:
    """Every test here runs on SQLite and on PostgreSQL."""
    return ref_ws_any



# -- statistics against reference formulas -----------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 5000), share=st.floats(0, 1))
def test_wilson_interval_matches_scipy(n: int, share: float) -> None:
    k = round(n * share)
    low, high = wilson_interval(k, n)
    ref = scipy.stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert low == pytest.approx(ref.low, abs=1e-12) and high == pytest.approx(ref.high, abs=1e-12)
    assert 0 <= low <= k / n <= high <= 1


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=200))
def test_mean_interval_matches_the_t_interval(values: list[float]) -> None:
    x = np.array(values)
    got = mean_interval(len(x), float(x.sum()), float((x * x).sum()))
    assert got is not None
    if x.std() == 0:
        assert got[0] == pytest.approx(x.mean()) and got[1] == pytest.approx(x.mean())
        return
    low, high = scipy.stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=scipy.stats.sem(x))
    assert got[0] == pytest.approx(low, rel=1e-6, abs=1e-6) and got[1] == pytest.approx(high, rel=1e-6, abs=1e-6)
    assert mean_interval(1, 3.0, 9.0) is None


def test_regression_metrics_match_numpy_and_scipy() -> None:
    rng = np.random.default_rng(3)
    truth = rng.normal(10, 3, 400)
    guess = truth + rng.normal(0.5, 2, 400)
    pairs = [(float(g), float(t)) for g, t in zip(guess, truth)] + [(1.0, "n/a"), (None, 2.0)]
    doc = window_metrics(pairs, "regression")
    errors = guess - truth
    assert (doc["n"], doc["labelled"], doc["skipped"]) == (400, 402, 2)
    assert doc["mae"] == pytest.approx(np.abs(errors).mean())
    assert doc["rmse"] == pytest.approx(math.sqrt((errors**2).mean()))
    low, high = scipy.stats.t.interval(0.95, 399, loc=np.abs(errors).mean(), scale=scipy.stats.sem(np.abs(errors)))
    assert doc["mae_ci"] == pytest.approx([low, high])
    low, high = scipy.stats.t.interval(0.95, 399, loc=(errors**2).mean(), scale=scipy.stats.sem(errors**2))
    assert doc["rmse_ci"] == pytest.approx([math.sqrt(low), math.sqrt(high)])
    assert doc["mae_ci"][0] < doc["mae"] < doc["mae_ci"][1]


def test_classification_matches_labels_of_any_json_type() -> None:
    pairs = [("DE", "DE"), ("DE", "FR"), ("1", 1), ("true", True), (1.0, 1), (0.0, False), (1.0, "1"), ("x", 2.5), (None, "DE")]
    doc = window_metrics(pairs, "classification")
    assert (doc["n"], doc["correct"], doc["skipped"], doc["labelled"]) == (8, 6, 1, 9)
    assert doc["accuracy"] == pytest.approx(6 / 8)
    assert doc["accuracy_ci"] == pytest.approx(list(wilson_interval(6, 8)))
    assert window_metrics([], "classification")["accuracy"] is None


# -- rules --------------------------------------------------------------------------------------------
def test_performance_rules_are_checked_against_the_prediction(ref_ws: Workspace) -> None:
    with pytest.raises(UsageError, match="--prediction"):
        create_monitor(ref_ws, "a", "ref@v1", rules=["accuracy<0.9"])
    with pytest.raises(UsageError, match="--task classification"):
        create_monitor(ref_ws, "b", "ref@v1", rules=["accuracy<0.9"], drift={"prediction": "age"})
    with pytest.raises(UsageError, match="judges a regression"):
        create_monitor(ref_ws, "c", "ref@v1", rules=["mae>2"], drift={"prediction": "country"})
    with pytest.raises(UsageError, match="holds text"):
        create_monitor(ref_ws, "c", "ref@v1", drift={"prediction": "country"}, task="regression")
    with pytest.raises(UsageError, match="accuracy threshold"):
        create_monitor(ref_ws, "d", "ref@v1", rules=["accuracy<1.5"], drift={"prediction": "country"})
    made = create_monitor(ref_ws, "e", "ref@v1", rules=["drift", "rmse>3", "mae>2.5"], drift={"prediction": "age"}, min_labels=10)
    assert (made.spec.task, made.spec.min_labels, [r.text for r in made.spec.rules]) == ("regression", 10, ["drift", "rmse>3", "mae>2.5"])
    binary = create_monitor(ref_ws, "f", "ref@v1", rules=["accuracy<0.8"], drift={"prediction": "age"}, task="classification")
    assert binary.spec.task == "classification"


# -- end to end in the service: labels after the window closed, before the event arrived ---------------
def _ingest(ws: Workspace, monitor: Any, batches: list[tuple[str, list[dict]]]) -> None:
    service = MonitorService(ws)
    service.log.start()
    try:
        for batch_id, rows in batches:
            service.log.append(monitor.id, batch_id, pa.Table.from_pylist(rows))
    finally:
        service.log.stop()


def _process(processor: WindowProcessor) -> None:
    while processor.step():
        pass


def test_accuracy_per_window_and_the_rule_fires_once_through_the_webhook(ref_ws: Workspace, receiver: Receiver) -> None:
    receiver.up()
    monitor = create_monitor(ref_ws, "m", "ref@v1", window="500rows", rules=["accuracy<0.9"], webhooks=[receiver.url],
                             drift={"prediction": "country"}, min_labels=100)  # fmt: skip
    rows = make_rows(1500, seed=1)
    _ingest(ref_ws, monitor, [("b0", rows[:500]), ("b1", rows[500:1000])])
    processor = WindowProcessor(ref_ws)
    _process(processor)
    assert [w["performance"] for w in list_windows(ref_ws, monitor)] == [None, None]

    # window 0: 150 labels, all right; window 1: 60 labels so far, 30 wrong (fewer than min_labels: no verdict yet)
    store_labels(ref_ws, monitor, [(rows[i]["event_id"], rows[i]["country"]) for i in range(150)])
    store_labels(ref_ws, monitor, [(rows[i]["event_id"], rows[i]["country"] if i % 2 else "nowhere") for i in range(500, 560)])
    # labels for events of window 2 arrive before the events themselves
    store_labels(ref_ws, monitor, [(rows[i]["event_id"], "nowhere") for i in range(1000, 1200)])
    _process(processor)
    first, second = (w["performance"] for w in list_windows(ref_ws, monitor))
    assert (first["n"], first["correct"], first["accuracy"]) == (150, 150, 1.0)
    assert first["accuracy_ci"] == pytest.approx(list(wilson_interval(150, 150)))
    assert (second["n"], second["accuracy"]) == (60, 0.5)
    assert list_alerts(ref_ws) == []  # 60 < min_labels

    # 90 more labels for window 1: 150 in all, 75 wrong -> accuracy 0.5 breaches accuracy<0.9, once
    store_labels(ref_ws, monitor, [(rows[i]["event_id"], rows[i]["country"] if i % 2 else "nowhere") for i in range(560, 650)])
    _process(processor)
    assert list_windows(ref_ws, monitor)[1]["performance"]["n"] == 150
    alerts = list_alerts(ref_ws)
    assert [(a["window"], a["rule"]) for a in alerts] == [(1, "accuracy<0.9")]
    assert "accuracy 0.5" in alerts[0]["message"] and "95% CI" in alerts[0]["message"]
    # more labels (and a relabel) for the same window: recomputed, but never a second alert
    store_labels(ref_ws, monitor, [(rows[i]["event_id"], "nowhere") for i in range(650, 700)] + [(rows[501]["event_id"], "nowhere")])
    _process(processor)
    assert list_windows(ref_ws, monitor)[1]["performance"]["n"] == 200
    assert list_windows(ref_ws, monitor)[1]["performance"]["correct"] == 74
    assert len(list_alerts(ref_ws)) == 1

    # the events of window 2 arrive now: their early labels are joined as the window closes
    _ingest(ref_ws, monitor, [("b2", rows[1000:1500])])
    _process(processor)
    third = get_window(ref_ws, monitor, 2)["performance"]
    assert (third["n"], third["accuracy"]) == (200, 0.0)
    assert sorted((a["window"], a["rule"]) for a in list_alerts(ref_ws)) == [(1, "accuracy<0.9"), (2, "accuracy<0.9")]

    sender = WebhookSender(ref_ws, base_delay=0.01)
    deadline = time.monotonic() + 30
    while len(receiver.received) < 2:
        assert time.monotonic() < deadline
        sender.step()
        time.sleep(0.02)
    sender.step()
    bodies = sorted((r["body"]["window"], r["body"]["metric"], r["body"]["labelled"]) for r in receiver.received)
    assert bodies == [(1, "accuracy", 150), (2, "accuracy", 200)]
    assert all(d["state"] == "delivered" for d in deliveries(ref_ws))


def test_regression_metrics_per_window_and_mae_rule(ref_ws: Workspace) -> None:
    monitor = create_monitor(ref_ws, "r", "ref@v1", window="500rows", rules=["mae>5"], drift={"prediction": "age"}, min_labels=50)
    rows = make_rows(1000, seed=2)
    _ingest(ref_ws, monitor, [("b0", rows)])
    processor = WindowProcessor(ref_ws)
    _process(processor)
    rng = np.random.default_rng(0)
    noise = {0: 1.0, 1: 8.0}  # window 1's model is much worse
    labels = []
    truth: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
    for i in list(range(0, 100)) + list(range(500, 600)):
        w = i // 500
        label = rows[i]["age"] + float(rng.normal(0, noise[w]))
        labels.append((rows[i]["event_id"], label))
        truth[w].append((rows[i]["age"], label))
    store_labels(ref_ws, monitor, labels)
    _process(processor)
    for w, perf in enumerate(x["performance"] for x in list_windows(ref_ws, monitor)):
        errors = np.array([p - y for p, y in truth[w]])
        assert perf["task"] == "regression" and perf["n"] == 100
        assert perf["mae"] == pytest.approx(np.abs(errors).mean())
        assert perf["rmse"] == pytest.approx(np.sqrt((errors**2).mean()))
    assert [(a["window"], a["rule"]) for a in list_alerts(ref_ws)] == [(1, "mae>5")]


def test_labels_for_a_deleted_monitor_are_refused(ref_ws: Workspace) -> None:
    from assay.monitor import delete_monitor

    monitor = create_monitor(ref_ws, "m", "ref@v1", drift={"prediction": "country"})
    delete_monitor(ref_ws, "m")
    with pytest.raises(NotFoundError, match="deleted"):
        store_labels(ref_ws, monitor, [("e1", "DE")])


def test_time_windows_index_predictions_by_arrival(ref_ws: Workspace) -> None:
    monitor = create_monitor(ref_ws, "t", "ref@v1", window="60s", rules=["accuracy<0.5"], drift={"prediction": "country"}, min_labels=10)
    rows = make_rows(300, seed=4)
    _ingest(ref_ws, monitor, [("b0", rows)])
    processor = WindowProcessor(ref_ws)
    processor.step(now_us=monitor.created_us + 10 * 60_000_000)  # the clock is well past window 0's end: it closes
    assert [w["window"] for w in list_windows(ref_ws, monitor)] == [0]
    store_labels(ref_ws, monitor, [(r["event_id"], "nowhere") for r in rows[:30]])
    processor.step(now_us=monitor.created_us + 10 * 60_000_000)
    assert list_windows(ref_ws, monitor)[0]["performance"]["n"] == 30
    assert [(a["window"], a["rule"]) for a in list_alerts(ref_ws)] == [(0, "accuracy<0.5")]


def test_a_streak_judged_out_of_order_is_one_post_and_names_its_first_window(ref_ws_any: Workspace) -> None:
    # labels of window 1 come before those of window 0: the streak 0-1-2 still has one post, and its alerts name window 0
    ws = ref_ws_any
    monitor = create_monitor(ws, "m", "ref@v1", window="500rows", rules=["accuracy<0.9"], webhooks=["http://127.0.0.1:9/hook"],
                             drift={"prediction": "country"}, min_labels=100, notify="change")  # fmt: skip
    rows = make_rows(1500, seed=1)
    _ingest(ws, monitor, [("b0", rows[:500]), ("b1", rows[500:1000]), ("b2", rows[1000:])])
    processor = WindowProcessor(ws)
    _process(processor)
    for window in (1, 0, 2):
        store_labels(ws, monitor, [(rows[i]["event_id"], "nowhere") for i in range(500 * window, 500 * window + 200)])
        _process(processor)
    alerts = sorted(list_alerts(ws), key=lambda a: a["window"])
    assert [(a["window"], a["streak_start"]) for a in alerts] == [(0, 0), (1, 0), (2, 0)]
    assert sum(a["webhooks"] for a in alerts) == 1 == len(deliveries(ws))


def _labelled(ws: Workspace, rows: list[dict], monitor: Any, processor: WindowProcessor, window: int, labels: range, *, right: bool) -> None:
    """Label events ``labels`` of ``window`` (500 rows each) with the right class or a wrong one, and judge."""
    store_labels(ws, monitor, [(rows[500 * window + i]["event_id"], rows[500 * window + i]["country"] if right else "nowhere") for i in labels])
    _process(processor)


def _streaks(ws: Workspace) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """(window, streak start, webhooks) of each alert; (window, streak start, last window) of each resolution."""
    alerts = sorted((a["window"], a["streak_start"], a["webhooks"]) for a in list_alerts(ws))
    return alerts, sorted((r["window"], r["streak_start"], r["last_window"]) for r in list_resolutions(ws))


def _judged_late(ws: Workspace, receiver: Receiver, *, notify: str = "change") -> tuple[Any, list[dict], WindowProcessor]:
    monitor = create_monitor(ws, "m", "ref@v1", window="500rows", rules=["accuracy<0.9"], webhooks=[receiver.url],
                             drift={"prediction": "country"}, min_labels=100, notify=notify)  # fmt: skip
    rows = make_rows(2000, seed=1)
    _ingest(ws, monitor, [(f"b{w}", rows[500 * w:500 * w + 500]) for w in range(4)])
    processor = WindowProcessor(ws)
    _process(processor)
    return monitor, rows, processor


def _deliver_all(ws: Workspace, receiver: Receiver) -> None:
    if receiver.server is None:
        receiver.up()
    sender = WebhookSender(ws, base_delay=0.01)
    deadline = time.monotonic() + 30
    while not all(d["state"] == "delivered" for d in deliveries(ws)):
        assert time.monotonic() < deadline
        sender.step()
        time.sleep(0.02)


def test_a_pass_judged_late_moves_or_splits_a_streaks_end(ref_ws: Workspace, receiver: Receiver) -> None:
    monitor, rows, processor = _judged_late(ref_ws, receiver)
    _labelled(ref_ws, rows, monitor, processor, 0, range(200), right=False)
    _labelled(ref_ws, rows, monitor, processor, 1, range(50), right=True)  # fewer than min_labels: not judged, no end
    assert _streaks(ref_ws) == ([(0, 0, 1)], [])
    _labelled(ref_ws, rows, monitor, processor, 2, range(200), right=True)
    assert _streaks(ref_ws) == ([(0, 0, 1)], [(2, 0, 0)])
    _labelled(ref_ws, rows, monitor, processor, 1, range(50, 150), right=True)  # window 1 ended it first: the end moves, posted once
    assert _streaks(ref_ws) == ([(0, 0, 1)], [(1, 0, 0)])
    _labelled(ref_ws, rows, monitor, processor, 2, range(200, 250), right=True)  # judged again: still one end
    assert _streaks(ref_ws)[1] == [(1, 0, 0)]
    assert len(deliveries(ref_ws)) == 2


def test_a_pass_judged_inside_a_streak_splits_it_and_both_parts_are_told(ref_ws: Workspace, receiver: Receiver) -> None:
    monitor, rows, processor = _judged_late(ref_ws, receiver)
    _labelled(ref_ws, rows, monitor, processor, 0, range(200), right=False)
    _labelled(ref_ws, rows, monitor, processor, 2, range(200), right=False)  # window 1 not judged yet: one streak
    _labelled(ref_ws, rows, monitor, processor, 3, range(200), right=True)
    assert _streaks(ref_ws) == ([(0, 0, 1), (2, 0, 0)], [(3, 0, 2)])
    _labelled(ref_ws, rows, monitor, processor, 1, range(200), right=True)  # it passed: two streaks, each told and ended
    assert _streaks(ref_ws) == ([(0, 0, 1), (2, 2, 1)], [(1, 0, 0), (3, 2, 2)])
    _deliver_all(ref_ws, receiver)
    posts = sorted((r["body"]["window"], r["body"]["kind"], r["body"]["streak_start"]) for r in receiver.received)
    assert posts == [(0, "alert", 0), (1, "resolved", 0), (2, "alert", 2), (3, "resolved", 2)]


def test_a_window_that_passed_and_then_breaches_withdraws_its_end(ref_ws: Workspace, receiver: Receiver) -> None:
    monitor, rows, processor = _judged_late(ref_ws, receiver)
    _labelled(ref_ws, rows, monitor, processor, 0, range(200), right=False)
    _labelled(ref_ws, rows, monitor, processor, 1, range(100), right=True)
    assert _streaks(ref_ws) == ([(0, 0, 1)], [(1, 0, 0)])
    _deliver_all(ref_ws, receiver)  # the on-call heard it ended
    _labelled(ref_ws, rows, monitor, processor, 1, range(100, 400), right=False)  # accuracy 0.25 on 400 labels now
    assert _streaks(ref_ws) == ([(0, 0, 1), (1, 0, 1)], [])  # the streak goes on; its breach is told again
    _labelled(ref_ws, rows, monitor, processor, 2, range(200), right=True)
    assert _streaks(ref_ws) == ([(0, 0, 1), (1, 0, 1)], [(2, 0, 1)])
    _deliver_all(ref_ws, receiver)
    posts = [(r["body"]["window"], r["body"]["kind"]) for r in receiver.received]
    assert posts == [(0, "alert"), (1, "resolved"), (1, "alert"), (2, "resolved")]


def test_an_end_moved_or_joined_late_says_so_in_its_message(ref_ws: Workspace, receiver: Receiver) -> None:
    # what `monitor show` and the dashboard print (the message) follows the end's window and streak as they change
    monitor, rows, processor = _judged_late(ref_ws, receiver)
    _labelled(ref_ws, rows, monitor, processor, 1, range(200), right=False)
    _labelled(ref_ws, rows, monitor, processor, 3, range(200), right=True)
    assert [r["message"] for r in list_resolutions(ref_ws)] == ["accuracy<0.9 passes in window 3, after breaching in window 1"]
    _labelled(ref_ws, rows, monitor, processor, 0, range(200), right=False)  # a late alert: the streak began in window 0
    assert [r["message"] for r in list_resolutions(ref_ws)] == ["accuracy<0.9 passes in window 3, after breaching in windows 0 to 1"]
    _labelled(ref_ws, rows, monitor, processor, 2, range(200), right=True)  # a late pass: the streak ended in window 2
    ends = list_resolutions(ref_ws)
    assert [(r["window"], r["message"]) for r in ends] == [(2, "accuracy<0.9 passes in window 2, after breaching in windows 0 to 1")]
    body = ref_ws.ledger.query("SELECT body FROM monitor_alerts WHERE id = ?", (ends[0]["id"],))[0][0]
    assert json.loads(body)["message"] == ends[0]["message"]


def test_a_late_alert_after_its_streaks_end_was_posted_is_followed_by_that_end_again(ref_ws: Workspace, receiver: Receiver) -> None:
    # notify=every: the end of streak 2..2 was posted; windows 0 and 1, judged late, breach and join it: each of their
    # posts is followed by the end again, under a new key, so the receiver's last word on the streak is "resolved"
    monitor, rows, processor = _judged_late(ref_ws, receiver, notify="every")
    _labelled(ref_ws, rows, monitor, processor, 2, range(200), right=False)
    _labelled(ref_ws, rows, monitor, processor, 3, range(200), right=True)
    _deliver_all(ref_ws, receiver)
    _labelled(ref_ws, rows, monitor, processor, 0, range(200), right=False)
    _deliver_all(ref_ws, receiver)
    _labelled(ref_ws, rows, monitor, processor, 1, range(200), right=False)
    _deliver_all(ref_ws, receiver)
    posts = [(r["body"]["window"], r["body"]["kind"], r["body"]["streak_start"]) for r in receiver.received]
    assert posts == [(2, "alert", 2), (3, "resolved", 2), (0, "alert", 0), (3, "resolved", 0), (1, "alert", 0), (3, "resolved", 0)]
    ends = [r for r in receiver.received if r["body"]["kind"] == "resolved"]
    assert len({r["key"] for r in ends}) == 3  # a repeated key would be dropped as a copy
    assert [r["body"].get("replaces") for r in ends] == [None, ends[0]["key"], ends[1]["key"]]
    assert _streaks(ref_ws) == ([(0, 0, 1), (1, 0, 1), (2, 0, 1)], [(3, 0, 2)])  # one end, recorded once
    assert [r["id"] for r in list_resolutions(ref_ws)] == [ends[-1]["key"]]
    import datetime as dt

    starts = [dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=w["start_us"]) for w in list_windows(ref_ws, monitor)]
    assert [r["body"]["streak_started_at"] for r in ends] == [starts[2].isoformat(timespec="microseconds")] + [starts[0].isoformat(timespec="microseconds")] * 2


def test_a_late_alert_not_posted_under_change_leaves_the_end_as_the_last_word(ref_ws: Workspace, receiver: Receiver) -> None:
    monitor, rows, processor = _judged_late(ref_ws, receiver)
    _labelled(ref_ws, rows, monitor, processor, 2, range(200), right=False)
    _labelled(ref_ws, rows, monitor, processor, 3, range(200), right=True)
    _deliver_all(ref_ws, receiver)
    _labelled(ref_ws, rows, monitor, processor, 0, range(200), right=False)  # joins the streak that was told: not posted
    _labelled(ref_ws, rows, monitor, processor, 1, range(200), right=False)
    _deliver_all(ref_ws, receiver)
    assert [(r["body"]["window"], r["body"]["kind"]) for r in receiver.received] == [(2, "alert"), (3, "resolved")]
    assert _streaks(ref_ws)[1] == [(3, 0, 2)]


def test_a_pass_that_breaches_after_its_end_was_posted_is_followed_by_the_next_end_again(ref_ws: Workspace, receiver: Receiver) -> None:
    # notify=change: window 1 passed and, with more labels, breaches; its alert is posted (the on-call heard "resolved")
    # and it joins the streak of window 2, whose end was posted already: that end is posted again after it
    monitor, rows, processor = _judged_late(ref_ws, receiver)
    _labelled(ref_ws, rows, monitor, processor, 0, range(200), right=False)
    _labelled(ref_ws, rows, monitor, processor, 1, range(100), right=True)
    _deliver_all(ref_ws, receiver)
    _labelled(ref_ws, rows, monitor, processor, 2, range(200), right=False)
    _labelled(ref_ws, rows, monitor, processor, 3, range(200), right=True)
    _deliver_all(ref_ws, receiver)
    _labelled(ref_ws, rows, monitor, processor, 1, range(100, 400), right=False)
    _deliver_all(ref_ws, receiver)
    posts = [(r["body"]["window"], r["body"]["kind"], r["body"]["streak_start"]) for r in receiver.received]
    assert posts == [(0, "alert", 0), (1, "resolved", 0), (2, "alert", 2), (3, "resolved", 2), (1, "alert", 0), (3, "resolved", 0)]
    assert len({r["key"] for r in receiver.received}) == 6
    assert _streaks(ref_ws)[1] == [(3, 0, 2)]


def test_a_split_whose_later_part_is_told_late_is_followed_by_its_end_again(ref_ws: Workspace, receiver: Receiver) -> None:
    # notify=change: the end of streak 0..2 was posted; window 1 passes late, so window 2's alert is posted now (the
    # first of a streak of its own) and that streak keeps the end already posted: the end is posted again after it
    monitor, rows, processor = _judged_late(ref_ws, receiver)
    _labelled(ref_ws, rows, monitor, processor, 0, range(200), right=False)
    _labelled(ref_ws, rows, monitor, processor, 2, range(200), right=False)
    _labelled(ref_ws, rows, monitor, processor, 3, range(200), right=True)
    _deliver_all(ref_ws, receiver)
    _labelled(ref_ws, rows, monitor, processor, 1, range(200), right=True)
    _deliver_all(ref_ws, receiver)
    posts = [(r["body"]["window"], r["body"]["kind"], r["body"]["streak_start"]) for r in receiver.received]
    assert posts[:2] == [(0, "alert", 0), (3, "resolved", 0)]
    assert sorted(posts[2:4]) == [(1, "resolved", 0), (2, "alert", 2)] and posts[4:] == [(3, "resolved", 2)]
    assert posts[4:] and receiver.received[4]["key"] != receiver.received[1]["key"]
    assert _streaks(ref_ws) == ([(0, 0, 1), (2, 2, 1)], [(1, 0, 0), (3, 2, 2)])


def _six_windows(ws: Workspace, receiver: Receiver) -> tuple[Any, list[dict], WindowProcessor]:
    """A performance rule under notify=every over six windows of 500 events: window 0 breaches, 1 is not
    judged yet, 2 breaches, 3 passes (the end of the streak 0..2), 4 breaches; all posted."""
    monitor = create_monitor(ws, "m", "ref@v1", window="500rows", rules=["accuracy<0.9"], webhooks=[receiver.url],
                             drift={"prediction": "country"}, min_labels=100, notify="every")  # fmt: skip
    rows = make_rows(3000, seed=2)
    _ingest(ws, monitor, [(f"b{w}", rows[500 * w:500 * w + 500]) for w in range(6)])
    processor = WindowProcessor(ws)
    _process(processor)
    for window, right in ((0, False), (2, False), (3, True), (4, False)):
        _labelled(ws, rows, monitor, processor, window, range(200), right=right)
    _deliver_all(ws, receiver)
    return monitor, rows, processor


def test_a_late_alert_before_a_streak_that_goes_on_is_not_followed_by_an_older_end(ref_ws: Workspace, receiver: Receiver) -> None:
    # window 1 breaches late and joins the streak that ended in window 3; the next streak (window 4) goes on:
    # posting that end again would leave the receiver's last word "resolved" while the rule breaches
    monitor, rows, processor = _six_windows(ref_ws, receiver)
    _labelled(ref_ws, rows, monitor, processor, 1, range(200), right=False)
    _deliver_all(ref_ws, receiver)
    posts = [(r["body"]["window"], r["body"]["kind"]) for r in receiver.received]
    assert posts == [(0, "alert"), (2, "alert"), (3, "resolved"), (4, "alert"), (1, "alert")]
    assert _streaks(ref_ws)[1] == [(3, 0, 2)]


def test_a_late_alert_is_followed_by_the_rules_latest_end_when_every_streak_ended(ref_ws: Workspace, receiver: Receiver) -> None:
    # window 5 ends the second streak too: after window 1's late alert the receiver hears that latest end again
    # (not the end of window 1's own streak, which came before the second streak's posts)
    monitor, rows, processor = _six_windows(ref_ws, receiver)
    _labelled(ref_ws, rows, monitor, processor, 5, range(200), right=True)
    _deliver_all(ref_ws, receiver)
    _labelled(ref_ws, rows, monitor, processor, 1, range(200), right=False)
    _deliver_all(ref_ws, receiver)
    posts = [(r["body"]["window"], r["body"]["kind"]) for r in receiver.received]
    assert posts == [(0, "alert"), (2, "alert"), (3, "resolved"), (4, "alert"), (5, "resolved"), (1, "alert"), (5, "resolved")]
    again = receiver.received[-1]
    assert again["body"]["replaces"] == receiver.received[4]["key"] and again["key"] != receiver.received[4]["key"]
    assert (again["body"]["streak_start"], again["body"]["last_window"]) == (4, 4)
    assert _streaks(ref_ws)[1] == [(3, 0, 2), (5, 4, 4)]
