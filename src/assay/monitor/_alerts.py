"""Recording an alert: its row, its webhook deliveries and its lineage edge, in the caller's
transaction, so that an alert and its deliveries are written together or not at all.

A rule that also breached in the window before continues that window's *streak*: each alert
names the first window of its streak (``streak_start``). Windows that were never recorded (time
windows without an event: kept only under a ``rows<N`` rule, and then only the last
``EMPTY_BACKFILL`` after an idle spell) neither break nor extend a streak. Performance rules are
judged when labels come, so a window may be judged after the one that follows it: its alert then
joins that window's streak, which takes its start.

A monitor that notifies on every breach (``notify="every"``, the default) posts each alert to its
webhooks; one that notifies on changes (``notify="change"``) posts one alert per streak, the first
one recorded, so a lasting drift or a traffic stop is one message, not one per window. Every
alert is recorded either way.
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
    before = _neighbour(tx, monitor.id, rule, index, later=False)
    after = _neighbour(tx, monitor.id, rule, index, later=True)  # recorded first: judged out of order
    start = streak_start(before[1], before[0]) if before else index
    notified = monitor.spec.notify == "every" or (start == index and after is None)  # a later window's alert told of this streak
    body = {**body, "alert_id": alert_id, "streak_start": start, "notified": notified and bool(monitor.spec.webhooks)}
    tx.execute("INSERT INTO monitor_alerts (id, monitor, window_idx, rule, message, created_at, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
               (alert_id, monitor.id, index, rule, message, now, json.dumps(body, default=str)))  # fmt: skip
    if notified:
        for url in monitor.spec.webhooks:
            tx.execute("INSERT INTO webhook_deliveries (id, alert_id, url, state, attempts, next_attempt_us) VALUES (?, ?, ?, 'pending', 0, ?)",
                       (uuid.uuid4().hex, alert_id, url, time.time_ns() // 1000))  # fmt: skip
    if after:
        _move_start(tx, monitor.id, rule, after[0], start)
    add_edges(tx, [(monitor.node, f"alert:{alert_id}", "raised")])
    return alert_id


def _neighbour(tx: Any, monitor_id: str, rule: str, index: int, *, later: bool) -> tuple[int, str] | None:
    """The alert of ``rule`` nearest to window ``index`` before it (or after it), as (window, body), when no
    recorded window lies between the two: a window that was not recorded had no events to judge."""
    found = tx.execute(f"SELECT window_idx, body FROM monitor_alerts WHERE monitor = ? AND rule = ? AND window_idx {'>' if later else '<'} ? "
                       f"ORDER BY window_idx {'ASC' if later else 'DESC'} LIMIT 1", (monitor_id, rule, index))  # fmt: skip
    if not found:
        return None
    other = int(found[0][0])
    lo, hi = sorted((index, other))
    if tx.execute("SELECT 1 FROM monitor_windows WHERE monitor = ? AND window_idx > ? AND window_idx < ? LIMIT 1", (monitor_id, lo, hi)):
        return None
    return other, found[0][1]


def _move_start(tx: Any, monitor_id: str, rule: str, first: int, start: int) -> None:
    """The streak that began in window ``first`` now begins in window ``start``: its alerts say so."""
    rows = tx.execute("SELECT id, window_idx, body FROM monitor_alerts WHERE monitor = ? AND rule = ? AND window_idx >= ? ORDER BY window_idx",
                      (monitor_id, rule, first))  # fmt: skip
    for alert_id, window, body in rows:
        if streak_start(body, int(window)) != first:
            break  # the next streak
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        tx.execute("UPDATE monitor_alerts SET body = ? WHERE id = ?", (json.dumps({**(doc if isinstance(doc, dict) else {}), "streak_start": start}, default=str), alert_id))


def streak_start(body: str, window: int) -> int:
    """The first window of the streak that the alert recorded as ``body`` for ``window`` belongs to
    (an alert recorded before streaks were kept: its own window)."""
    try:
        start = json.loads(body).get("streak_start")
    except (ValueError, AttributeError):
        return window
    return int(start) if isinstance(start, int) and 0 <= start <= window else window
