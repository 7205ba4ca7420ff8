"""Recording an alert: its row, its webhook deliveries and its lineage edge, in the caller's
transaction, so that an alert and its deliveries are written together or not at all.

A rule that also breached in the window before continues that window's *streak*: each alert
names the first window of its streak (``streak_start``). A monitor that notifies on every
breach (``notify="every"``, the default) posts each alert to its webhooks; one that notifies on
changes (``notify="change"``) posts only the first alert of a streak, so a lasting drift or a
traffic stop is one message, not one per window. Every alert is recorded either way.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

__all__ = ["record_alert", "streak_start"]


def record_alert(tx: Any, monitor: Any, index: int, rule: str, message: str, body: dict[str, Any], now: str) -> str:
    """Record an alert of ``rule`` for window ``index`` of ``monitor`` with ``body`` (completed here:
    its id and streak), and its deliveries to the monitor's webhooks as its notify setting says; its id."""
    from assay.lineage._graph import add_edges

    alert_id = uuid.uuid4().hex
    before = tx.execute("SELECT body FROM monitor_alerts WHERE monitor = ? AND window_idx = ? AND rule = ?", (monitor.id, index - 1, rule))
    start = streak_start(before[0][0], index - 1) if before else index
    notified = monitor.spec.notify == "every" or start == index
    body = {**body, "alert_id": alert_id, "streak_start": start, "notified": notified and bool(monitor.spec.webhooks)}
    tx.execute("INSERT INTO monitor_alerts (id, monitor, window_idx, rule, message, created_at, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
               (alert_id, monitor.id, index, rule, message, now, json.dumps(body, default=str)))  # fmt: skip
    if notified:
        for url in monitor.spec.webhooks:
            tx.execute("INSERT INTO webhook_deliveries (id, alert_id, url, state, attempts, next_attempt_us) VALUES (?, ?, ?, 'pending', 0, ?)",
                       (uuid.uuid4().hex, alert_id, url, time.time_ns() // 1000))  # fmt: skip
    add_edges(tx, [(monitor.node, f"alert:{alert_id}", "raised")])
    return alert_id


def streak_start(body: str, window: int) -> int:
    """The first window of the streak that the alert recorded as ``body`` for ``window`` belongs to
    (an alert recorded before streaks were kept: its own window)."""
    try:
        start = json.loads(body).get("streak_start")
    except (ValueError, AttributeError):
        return window
    return int(start) if isinstance(start, int) and 0 <= start <= window else window
