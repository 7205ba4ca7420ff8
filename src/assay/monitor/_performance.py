"""The model's performance per window, from ground-truth labels that arrive after the events.

When a monitor names its prediction column, the window processor indexes every event's
prediction by event id (``monitor_predictions``) as it sketches the batch. Labels are
resolved to their window by that index when they arrive (or, when they arrive before
the event was processed, when it is), and the window is marked stale; the processor
then recomputes the window's metrics from the joined pairs, stores them and judges the
performance rules (``accuracy<X``, ``mae>X``, ``rmse>X``) once ``min_labels`` labelled
events are in: each (window, rule) alerts at most once, through the same webhook path, and a
window that passes a rule resolves the streak it breached in (see :mod:`assay.monitor._alerts`).

Every writer here first takes the monitor's row lock (``lock_monitor``): label writes,
prediction indexing and deletion of the monitor are serialized per monitor, so a label
is never left unresolved by a race and nothing is written for a deleted monitor.

Intervals (95%): Wilson's score interval for accuracy (well behaved near 0 and 1 and for
small n, unlike the normal approximation); Student's t interval for the mean absolute
error; for RMSE, the t interval of the mean squared error, square-rooted at both ends.
"""

from __future__ import annotations

import json
import math
from statistics import NormalDist
from typing import Any

from assay.errors import InputError, NotFoundError

__all__ = ["mean_interval", "store_labels", "wilson_interval", "window_metrics"]

CONFIDENCE = 0.95
#: an event id's length at most, in characters (an event's, and the label that names it)
MAX_EVENT_ID = 200
PAGE = 20_000  # labelled pairs read per query: memory stays bounded for any window size
LABELS_PER_TX = 5_000  # a transaction of this many labels holds the ledger's write lock for tens of milliseconds


def wilson_interval(correct: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a proportion ``correct / n``."""
    if n <= 0:
        raise ValueError("n must be positive")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = correct / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at k = 0 or k = n one end is exactly 0 or 1; floating point would miss it by an ulp
    return (0.0 if correct == 0 else max(0.0, center - half)), (1.0 if correct == n else min(1.0, center + half))


def mean_interval(n: int, total: float, total_sq: float, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student's t interval for a mean, from the count, sum and sum of squares (None below two values)."""
    if n < 2:
        return None
    from scipy.stats import t

    mean = total / n
    var = max(0.0, (total_sq - n * mean * mean) / (n - 1))
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * math.sqrt(var / n)
    return mean - half, mean + half


def _same(prediction: Any, label: Any) -> bool:
    """Does a prediction (a number or a text) name the same class as a label (text, number or boolean)?"""
    if isinstance(label, bool):
        if isinstance(prediction, str):
            return prediction.strip().lower() in (("true", "1") if label else ("false", "0"))
        return float(prediction) == float(label)
    if isinstance(prediction, str) and isinstance(label, str):
        return prediction == label
    try:
        return float(prediction) == float(label)
    except (TypeError, ValueError):
        return False


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class _Tally:
    """Running sums over (prediction, label) pairs, so a window of any size is judged in bounded memory."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.labelled = self.n = self.correct = self.skipped = 0
        self.abs_sum = self.abs_sq = self.sq_sum = self.sq_sq = 0.0

    def add(self, prediction: Any, label: Any) -> None:
        self.labelled += 1
        if prediction is None:
            self.skipped += 1
            return
        if self.task == "classification":
            self.n += 1
            self.correct += _same(prediction, label)
            return
        truth, guess = _number(label), _number(prediction)
        if truth is None or guess is None:
            self.skipped += 1
            return
        error = guess - truth
        self.n += 1
        self.abs_sum += abs(error)
        self.abs_sq += error * error
        self.sq_sum += error * error
        self.sq_sq += error**4

    def metrics(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"task": self.task, "labelled": self.labelled, "n": self.n, "skipped": self.skipped, "confidence": CONFIDENCE}
        if self.task == "classification":
            doc["correct"] = self.correct
            doc["accuracy"] = self.correct / self.n if self.n else None
            doc["accuracy_ci"] = list(wilson_interval(self.correct, self.n)) if self.n else None
            return doc
        if not self.n:
            return {**doc, "mae": None, "mae_ci": None, "rmse": None, "rmse_ci": None}
        mae_ci = mean_interval(self.n, self.abs_sum, self.abs_sq)
        mse_ci = mean_interval(self.n, self.sq_sum, self.sq_sq)
        doc["mae"] = self.abs_sum / self.n
        doc["mae_ci"] = [max(0.0, mae_ci[0]), mae_ci[1]] if mae_ci else None
        doc["rmse"] = math.sqrt(self.sq_sum / self.n)
        doc["rmse_ci"] = [math.sqrt(max(0.0, mse_ci[0])), math.sqrt(mse_ci[1])] if mse_ci else None
        return doc


def window_metrics(pairs: list[tuple[Any, Any]], task: str) -> dict[str, Any]:
    """Performance over (prediction, label) pairs: accuracy with Wilson's interval, or MAE and RMSE with t intervals.

    Pairs without a prediction, and for a regression labels or predictions that are not
    numbers, are counted in ``skipped`` and left out.

    Example::

        window_metrics([("a", "a"), ("b", "a")], "classification")["accuracy"]  # 0.5
    """
    tally = _Tally(task)
    for prediction, label in pairs:
        tally.add(prediction, label)
    return tally.metrics()


# -- ledger ------------------------------------------------------------------------------------------
def lock_monitor(tx: Any, monitor_id: str) -> bool:
    """Take the monitor's row lock for this transaction; False when the monitor is gone (deleted, or being deleted)."""
    return bool(tx.execute("UPDATE monitors SET created_us = created_us WHERE id = ? AND substr(name, 1, 1) <> '.' RETURNING id", (monitor_id,)))


def _chunks(items: list[Any], size: int = 500) -> Any:
    for at in range(0, len(items), size):
        yield items[at:at + size]


def _mark_stale(tx: Any, monitor_id: str, windows: set[int]) -> None:
    from assay.ledger import utcnow

    now = utcnow()
    tx.executemany(
        "INSERT INTO monitor_performance (monitor, window_idx, labelled, metrics, updated_at, stale) VALUES (?, ?, 0, '{}', ?, 1) "
        "ON CONFLICT (monitor, window_idx) DO UPDATE SET stale = monitor_performance.stale + 1", [(monitor_id, w, now) for w in sorted(windows)],
    )  # fmt: skip


def store_labels(ws: Any, monitor: Any, labels: list[tuple[str, Any]]) -> int:
    """Store ground truth by event id (a later label for the same event replaces the earlier one); how many were stored.

    Labels of events whose prediction is already indexed are resolved to their window at
    once and the window is marked for recomputation; the others when their event is processed.
    Stored in transactions of ``LABELS_PER_TX`` so that a large upload never holds up event
    ingestion for long; sending the same labels again is harmless.
    """
    from assay.ledger import utcnow

    latest = {str(event_id): json.dumps(label) for event_id, label in labels}
    now = utcnow()
    for part in _chunks(list(latest), LABELS_PER_TX):
        with ws.ledger.transaction() as tx:
            if not lock_monitor(tx, monitor.id):
                raise NotFoundError(f"no monitor named {monitor.name!r}", hint="it was deleted; list them with `assay monitor list`")
            windows: dict[str, int] = {}
            if monitor.spec.prediction:  # under the monitor's lock: no prediction is indexed in between
                for chunk in _chunks(part):
                    marks = ",".join("?" * len(chunk))
                    rows = tx.execute(f"SELECT event_id, window_idx FROM monitor_predictions WHERE monitor = ? AND event_id IN ({marks})", (monitor.id, *chunk))
                    windows.update((e, int(w)) for e, w in rows)
            tx.executemany(
                "INSERT INTO monitor_labels (monitor, event_id, label, received_at, window_idx) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (monitor, event_id) DO UPDATE SET label = excluded.label, received_at = excluded.received_at, window_idx = excluded.window_idx",
                [(monitor.id, e, latest[e], now, windows.get(e)) for e in part],
            )  # fmt: skip
            _mark_stale(tx, monitor.id, set(windows.values()))
    return len(latest)


def index_predictions(ws: Any, monitor: Any, index: int, event_ids: list[Any], predictions: list[Any]) -> bool:
    """Index the predictions of events in window ``index`` by event id (the first event with an id wins); False when
    the monitor is gone. Labels that arrived before their event are resolved now."""
    rows = [(monitor.id, e, index, None if p is None or (isinstance(p, float) and math.isnan(p)) else json.dumps(p))
            for e, p in zip(event_ids, predictions) if e is not None]  # fmt: skip
    if not rows:
        return True
    with ws.ledger.transaction() as tx:
        if not lock_monitor(tx, monitor.id):
            return False
        tx.executemany("INSERT INTO monitor_predictions (monitor, event_id, window_idx, prediction) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (monitor, event_id) DO NOTHING", rows)  # fmt: skip
        if tx.execute("SELECT 1 FROM monitor_labels WHERE monitor = ? AND window_idx IS NULL LIMIT 1", (monitor.id,)):
            resolved = False
            for chunk in _chunks([r[1] for r in rows]):
                marks = ",".join("?" * len(chunk))
                resolved |= bool(tx.execute(f"UPDATE monitor_labels SET window_idx = ? WHERE monitor = ? AND window_idx IS NULL AND event_id IN ({marks}) "
                                            "RETURNING event_id", (index, monitor.id, *chunk)))  # fmt: skip
            if resolved:
                _mark_stale(tx, monitor.id, {index})
    return True


def stale_windows(ws: Any, monitor: Any, below: int) -> list[int]:
    """Closed windows (index < ``below``) whose labels changed since their metrics were computed."""
    rows = ws.ledger.query("SELECT window_idx FROM monitor_performance WHERE monitor = ? AND stale > 0 AND window_idx < ? ORDER BY window_idx",
                           (monitor.id, int(below)))  # fmt: skip
    return [int(r[0]) for r in rows]


def judge_window(ws: Any, monitor: Any, index: int, *, base_url: str = "") -> int:
    """Recompute window ``index``'s performance from its labelled events, store it, and raise the alerts of
    performance rules it breaches (once each), or resolve the streaks of those it passes; the number of
    alerts raised and resolutions to post."""
    from assay.ledger import IntegrityConflict, utcnow
    from assay.monitor._alerts import record_alert, record_pass

    seen = ws.ledger.query("SELECT stale FROM monitor_performance WHERE monitor = ? AND window_idx = ?", (monitor.id, index))
    seen_stale = int(seen[0][0]) if seen else 0
    tally = _Tally(monitor.spec.task or "classification")
    after = ""
    while True:  # keyset pages over the window's labels
        page = ws.ledger.query(
            "SELECT l.event_id, p.prediction, l.label FROM monitor_labels l JOIN monitor_predictions p ON p.monitor = l.monitor AND p.event_id = l.event_id "
            "WHERE l.monitor = ? AND l.window_idx = ? AND l.event_id > ? ORDER BY l.event_id LIMIT ?", (monitor.id, index, after, PAGE),
        )  # fmt: skip
        for _, prediction, label in page:
            tally.add(None if prediction is None else json.loads(prediction), json.loads(label))
        if len(page) < PAGE:
            break
        after = page[-1][0]
    if not tally.labelled and not seen:
        return 0  # no label for this window yet
    metrics = tally.metrics()
    now = utcnow()
    raised = []
    resolved = 0
    try:
        with ws.ledger.transaction() as tx:
            if not lock_monitor(tx, monitor.id):
                return 0
            tx.execute(
                "INSERT INTO monitor_performance (monitor, window_idx, labelled, metrics, updated_at, stale) VALUES (?, ?, ?, ?, ?, 0) "
                "ON CONFLICT (monitor, window_idx) DO UPDATE SET labelled = excluded.labelled, metrics = excluded.metrics, "
                "updated_at = excluded.updated_at, stale = CASE WHEN monitor_performance.stale > ? THEN monitor_performance.stale - ? ELSE 0 END",
                (monitor.id, index, metrics["labelled"], json.dumps(metrics), now, seen_stale, seen_stale),
            )  # fmt: skip
            if metrics["n"] < monitor.spec.min_labels:
                return 0
            for rule in monitor.spec.rules:
                if not rule.on_labels:
                    continue
                message = rule.breached_by(metrics, index)
                if tx.execute("SELECT 1 FROM monitor_alerts WHERE monitor = ? AND window_idx = ? AND rule = ? AND kind = 'alert'", (monitor.id, index, rule.text)):
                    continue  # an alert stays: a window alerts at most once per rule
                if not message:
                    resolved += record_pass(tx, monitor, index, rule.text, now, base_url=base_url)
                    continue
                body = {"monitor": monitor.name, "window": index, "rule": rule.text, "message": message, "created_at": now,
                        "metric": rule.kind, "value": metrics[rule.kind], "ci": metrics.get(f"{rule.kind}_ci"), "labelled": metrics["n"],
                        "reference": monitor.reference,
                        "url": f"{base_url}/monitors/{monitor.name}/windows/{index}" if base_url else None}  # fmt: skip
                raised.append(record_alert(tx, monitor, index, rule.text, message, body, now, base_url=base_url))
    except IntegrityConflict:  # the same (window, rule) alert was recorded by another writer: it stays single
        return 0
    return len(raised) + resolved


def performance_of(ws: Any, monitor: Any, indexes: list[int]) -> dict[int, dict[str, Any]]:
    """The stored performance of the given windows (those with labels), by window index."""
    out: dict[int, dict[str, Any]] = {}
    if not indexes:
        return out
    lo, hi = min(indexes), max(indexes)
    for index, metrics in ws.ledger.query("SELECT window_idx, metrics FROM monitor_performance WHERE monitor = ? AND window_idx BETWEEN ? AND ?",
                                          (monitor.id, lo, hi)):  # fmt: skip
        doc = json.loads(metrics)
        if doc:
            out[int(index)] = doc
    return out


def check_labels(items: Any) -> list[tuple[str, Any]]:
    """Validate ``[{"event_id": "...", "label": ...}, ...]`` (at most 100000); raise InputError naming the first bad one."""
    if not isinstance(items, list) or not items or len(items) > 100_000:
        raise InputError('"labels" must be a non-empty list of at most 100000 objects', hint='send {"labels": [{"event_id": "...", "label": ...}]}')
    out = []
    for i, item in enumerate(items):
        if (not isinstance(item, dict) or set(item) != {"event_id", "label"} or not isinstance(item["event_id"], str)
                or not isinstance(item["label"], (str, int, float, bool)) or (isinstance(item["label"], float) and not math.isfinite(item["label"]))):  # fmt: skip
            raise InputError(f'label {i} must be {{"event_id": string, "label": string, number or boolean}}')
        if not item["event_id"] or len(item["event_id"]) > MAX_EVENT_ID:
            raise InputError(f"label {i}: the event id must be 1 to {MAX_EVENT_ID} characters")
        out.append((item["event_id"], item["label"]))
    return out
