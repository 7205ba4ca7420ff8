"""Recording alerts and the ends of their streaks, with their webhook deliveries and lineage, in the
caller's transaction (the one that records the window or its performance): a judgement, its alert
or resolution and its deliveries are written together or not at all.

A rule *judges* a window when it can: a drift rule (``drift``, ``share>=X``, ``column:NAME``) a
window that holds events, a ``rows<N`` rule every recorded window, a performance rule a window
once ``min_labels`` labelled events are in. It then *breaches* it (an alert) or *passes* it. A
window the rule could not judge (never recorded: a time window without an event, kept only under
a ``rows<N`` rule, and then only the last ``EMPTY_BACKFILL`` after an idle spell; recorded empty;
too few labels yet) neither breaks nor extends a streak.

A *streak* is a run of alerts of one rule with no passing window between; each alert names the
streak's first window (``streak_start``) and when it began (``streak_started_at``, UTC ISO 8601: a
time window's start, a row-count window's first event's arrival; null when not recorded). The first window that passes after a streak *resolves*
it: a resolution is recorded, a ``monitor_alerts`` row of kind ``resolved`` at that window, whose
body names the streak's first and last breaching windows (``streak_start``, ``last_window``) and
``streak_started_at``.

A monitor that notifies on every breach (``notify="every"``, the default) posts each alert to its
webhooks; one that notifies on changes (``notify="change"``) posts one alert per streak, the first
one recorded, so a lasting drift or a traffic stop is one message, not one per window. Either way
the streak's resolution is posted once when it ends (every streak was posted), through the same
deliveries; every alert is recorded either way. A post's body says which it is (``kind``:
``alert`` or ``resolved``).

Performance rules are judged when labels come, so a window may be judged after the ones around it:
- a late alert joins the streaks on either side (the later one takes the earlier one's start; of
  the two posts ``change`` may then have made, none is withdrawn); the resolution of the streak it
  joins names it as the last breaching window when it is the last;
- a late pass inside a streak splits it: the part before is resolved at that window (a new
  resolution, posted), the part after starts a streak of its own (its first alert is posted then,
  under ``change``, if it was not) and keeps the resolution the whole streak had;
- a late pass between a streak and the window that resolved it takes that resolution over (it is
  moved, not posted again);
- a window that passed and, with more labels, breaches: the resolution it recorded is withdrawn
  (deleted with its deliveries; a post already made stands) and, when it had been posted, the
  window's alert is posted even under ``change``, so the on-call hears that the rule breaches again;
- an alert posted late (each one under ``every``; under ``change`` the two above, while a late alert
  joining a streak that was told is not posted) reaches the receiver after the posts of later
  windows already made: when the rule's latest record is an end (every streak ended), that end
  is recorded again under a new id (the row replaced, as a window holds one row per rule, and
  named in ``replaces``), so it is posted after the alert and the receiver's last word is
  ``resolved``, as the rule stands; when it is an alert (a later streak goes on), the late alert
  leaves the receiver's last word right. A receiver drops a repeated Idempotency-Key as a copy,
  hence the new id.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
import uuid
from typing import Any, Callable, NamedTuple

__all__ = ["record_alert", "record_pass", "streak_start", "streak_started_at", "window_started_at"]

ALERT, RESOLVED = "alert", "resolved"


class _Judged(NamedTuple):
    window: int
    breached: bool
    alert_id: str | None
    body: str


def record_alert(tx: Any, monitor: Any, index: int, rule: str, message: str, body: dict[str, Any], now: str, *, base_url: str = "") -> str:
    """Record an alert of ``rule`` for window ``index`` of ``monitor`` with ``body`` (completed here:
    its kind, id and streak), and its deliveries to the monitor's webhooks as its notify setting says; its id."""
    from assay.lineage._graph import add_edges

    alert_id = uuid.uuid4().hex
    told_resolved = _withdraw_resolution(tx, monitor.id, rule, index)
    before = _judged(tx, monitor, rule, index, later=False)
    after = _judged(tx, monitor, rule, index, later=True)  # judged first: performance rules are judged out of order
    start = streak_start(before.body, before.window) if before and before.breached else index
    joins_later = after is not None and after.breached
    # under "change", a later window's alert told of this streak already
    notified = monitor.spec.notify == "every" or (start == index and not joins_later) or told_resolved
    body = {**body, "kind": ALERT, "alert_id": alert_id, "streak_start": start, "streak_started_at": streak_started_at(tx.execute, monitor, start),
            "notified": notified and bool(monitor.spec.webhooks)}
    tx.execute("INSERT INTO monitor_alerts (id, monitor, window_idx, rule, message, created_at, body, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (alert_id, monitor.id, index, rule, message, now, json.dumps(body, default=str), ALERT))  # fmt: skip
    if notified:
        _deliver(tx, monitor, alert_id)
    latest = _latest_id(tx, monitor.id, rule)  # the rule's latest record (this alert, if its window is the latest)
    if after is not None and after.breached:
        _move_start(tx, monitor, rule, after.window, streak_start(after.body, after.window), start)
    elif after is not None:  # the window that passed after this one ends its streak
        _resolve(tx, monitor, rule, start, index, after.window, now, base_url)
    if notified and latest is not None:
        _post_last_end_again(tx, monitor, rule, index, latest, now, base_url)
    add_edges(tx, [(monitor.node, f"alert:{alert_id}", "raised")])
    return alert_id


def record_pass(tx: Any, monitor: Any, index: int, rule: str, now: str, *, base_url: str = "") -> bool:
    """Record that ``rule`` judged window ``index`` of ``monitor`` and it passed: when the rule breached in
    the window judged before it, the streak ends here and its resolution is recorded. True when a
    resolution to post was recorded."""
    before = _judged(tx, monitor, rule, index, later=False)
    if before is None or not before.breached:
        return False  # no streak ended here (nor, judged out of order, split: the windows around keep their streaks)
    if tx.execute("SELECT 1 FROM monitor_alerts WHERE monitor = ? AND rule = ? AND window_idx = ?", (monitor.id, rule, index)):
        return False  # resolved here already (a performance rule judged again when more labels came), or breached
    start = streak_start(before.body, before.window)
    after = _judged(tx, monitor, rule, index, later=True)
    if after is not None and not after.breached:  # it resolved this streak: this window, judged late, comes first
        found = _resolution_at(tx, monitor.id, rule, after.window)
        if found:
            body = _resolution_body(tx, monitor, rule, start, before.window, index, _doc(found[1]), base_url)
            tx.execute("UPDATE monitor_alerts SET window_idx = ?, body = ?, message = ? WHERE id = ?",
                       (index, json.dumps(body, default=str), body["message"], found[0]))  # fmt: skip
            return False
    elif after is not None:  # a pass inside a streak splits it: the later part is a streak of its own
        latest = _latest_id(tx, monitor.id, rule)
        _move_start(tx, monitor, rule, after.window, start, after.window)
        if monitor.spec.webhooks and after.alert_id and not _was_notified(tx, after.alert_id):
            _deliver(tx, monitor, after.alert_id)
            _mark_notified(tx, after.alert_id)
            if latest is not None:  # the end it keeps may have been posted already: after this alert, post it again
                _post_last_end_again(tx, monitor, rule, after.window, latest, now, base_url)
    return _record_resolution(tx, monitor, rule, start, before.window, index, now, base_url)


def streak_start(body: str, window: int) -> int:
    """The first window of the streak that the alert (or resolution) recorded as ``body`` for ``window``
    belongs to (an alert recorded before streaks were kept: its own window)."""
    try:
        start = json.loads(body).get("streak_start")
    except (ValueError, AttributeError):
        return window
    return int(start) if isinstance(start, int) and 0 <= start <= window else window


def streak_started_at(query: Callable[[str, tuple[Any, ...]], list[Any]], monitor: Any, window: int) -> str | None:
    """When window ``window`` of ``monitor`` (a streak's first) began, as UTC ISO 8601: a time window's start; a
    row-count window's first event's arrival, read from ``monitor_windows`` (None while it is not recorded there).
    ``query`` runs SQL: a transaction's ``execute`` or a ledger's ``query``."""
    found = [] if monitor.spec.window.kind == "time" else \
        query("SELECT start_us FROM monitor_windows WHERE monitor = ? AND window_idx = ?", (monitor.id, window))  # fmt: skip
    return window_started_at(monitor, window, int(found[0][0]) if found else None)


def window_started_at(monitor: Any, window: int, start_us: int | None) -> str | None:
    """:func:`streak_started_at` given the window's ``start_us`` as ``monitor_windows`` holds it (None: not recorded)."""
    if monitor.spec.window.kind == "time":
        start_us = monitor.created_us + window * monitor.spec.window.size * 1_000_000  # as the window processor records it
    if not start_us or start_us <= 0:  # a row-count window not recorded, or closed without a first event (after a restart)
        return None
    return (_dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(microseconds=start_us)).isoformat(timespec="microseconds")


def _judged(tx: Any, monitor: Any, rule: str, index: int, *, later: bool) -> _Judged | None:
    """The window nearest to ``index`` before it (or after it) that ``rule`` judged, and whether it breached it
    (an alert is recorded only for a window its rule judged: one look-up by window, not a search of the alerts)."""
    window = _nearest_judged(tx, monitor, _rule_of(monitor, rule), index, later=later)
    if window is None:
        return None
    alert = tx.execute("SELECT id, body FROM monitor_alerts WHERE monitor = ? AND window_idx = ? AND rule = ? AND kind = ?",
                       (monitor.id, window, rule, ALERT))  # fmt: skip
    return _Judged(window, True, alert[0][0], alert[0][1]) if alert else _Judged(window, False, None, "{}")


def _nearest_judged(tx: Any, monitor: Any, rule: Any, index: int, *, later: bool) -> int | None:
    """The window nearest to ``index``, before it (or after it), that ``rule`` judged."""
    cmp, order = (">", "ASC") if later else ("<", "DESC")
    if rule is None or not rule.on_labels:
        judges = "" if rule is not None and rule.kind == "rows" else " AND n_rows > 0"  # a drift rule judges no empty window
        found = tx.execute(f"SELECT window_idx FROM monitor_windows WHERE monitor = ? AND window_idx {cmp} ?{judges} "
                           f"ORDER BY window_idx {order} LIMIT 1", (monitor.id, index))  # fmt: skip
        return int(found[0][0]) if found else None
    while True:  # a performance rule judges a window once min_labels labelled events are in
        page = tx.execute(f"SELECT window_idx, metrics FROM monitor_performance WHERE monitor = ? AND window_idx {cmp} ? "
                          f"ORDER BY window_idx {order} LIMIT 200", (monitor.id, index))  # fmt: skip
        for window, metrics in page:
            n = _doc(metrics).get("n")
            if isinstance(n, int) and n >= monitor.spec.min_labels:
                return int(window)
        if len(page) < 200:
            return None
        index = int(page[-1][0])


def _rule_of(monitor: Any, text: str) -> Any:
    return next((r for r in monitor.spec.rules if r.text == text), None)


def _deliver(tx: Any, monitor: Any, row_id: str) -> None:
    for url in monitor.spec.webhooks:
        tx.execute("INSERT INTO webhook_deliveries (id, alert_id, url, state, attempts, next_attempt_us) VALUES (?, ?, ?, 'pending', 0, ?) "
                   "ON CONFLICT (alert_id, url) DO NOTHING", (uuid.uuid4().hex, row_id, url, time.time_ns() // 1000))  # fmt: skip


def _was_notified(tx: Any, alert_id: str) -> bool:
    return bool(tx.execute("SELECT 1 FROM webhook_deliveries WHERE alert_id = ? LIMIT 1", (alert_id,)))


def _mark_notified(tx: Any, alert_id: str) -> None:
    found = tx.execute("SELECT body FROM monitor_alerts WHERE id = ?", (alert_id,))
    tx.execute("UPDATE monitor_alerts SET body = ? WHERE id = ?", (json.dumps({**_doc(found[0][0]), "notified": True}, default=str), alert_id))


def _move_start(tx: Any, monitor: Any, rule: str, since: int, old: int, new: int) -> None:
    """The streak that began in window ``old`` (its rows from window ``since`` on) now begins in window ``new``:
    its alerts and its resolution (its message too) say so."""
    if old == new:
        return
    rows = tx.execute("SELECT id, window_idx, body, kind, message FROM monitor_alerts WHERE monitor = ? AND rule = ? AND window_idx >= ? "
                      "ORDER BY window_idx", (monitor.id, rule, since))  # fmt: skip
    started = streak_started_at(tx.execute, monitor, new)
    for row_id, window, body, kind, message in rows:
        if streak_start(body, int(window)) != old:
            break  # the next streak
        doc = {**_doc(body), "streak_start": new, "streak_started_at": started}
        if kind == RESOLVED:
            last = doc.get("last_window")
            doc["message"] = message = _resolution_message(rule, new, last if isinstance(last, int) else int(window), int(window))
        tx.execute("UPDATE monitor_alerts SET body = ?, message = ? WHERE id = ?", (json.dumps(doc, default=str), message, row_id))


def _latest_id(tx: Any, monitor_id: str, rule: str) -> str | None:
    """The id of ``rule``'s record (alert or end) of the latest window: what a receiver should hear last."""
    found = tx.execute("SELECT id FROM monitor_alerts WHERE monitor = ? AND rule = ? ORDER BY window_idx DESC LIMIT 1", (monitor_id, rule))
    return found[0][0] if found else None


def _post_last_end_again(tx: Any, monitor: Any, rule: str, index: int, latest: str, now: str, base_url: str) -> None:
    """An alert of window ``index`` is posted late. Posts reach a url in the order of their windows (see
    :mod:`assay.monitor._webhooks`), so those still pending for later windows follow it; but one already posted
    came before it. When the rule's latest record, ``latest`` (read before this alert changed anything), is an end
    at a later window, record it again under a new id, so that it is posted after this alert and the receiver's
    last word is "resolved", as the rule stands. Done even when no post of it was seen to succeed yet: one may be
    in flight, and an end never posted is only renamed. When the latest record is an alert (a later streak goes
    on), nothing: the receiver's last word, an alert, is right. A receiver drops a repeated Idempotency-Key as a
    copy, hence the new id; the row replaces the old one, as (monitor, window, rule) is unique, and names it
    (``replaces``)."""
    found = tx.execute("SELECT window_idx, body, kind FROM monitor_alerts WHERE id = ? AND rule = ?", (latest, rule))
    if not found or found[0][2] != RESOLVED or int(found[0][0]) <= index or not _was_notified(tx, latest):
        return
    if _latest_id(tx, monitor.id, rule) != latest:
        return  # this alert's streak now ends in a window after it: that end is new, and is posted after the alert
    at, body = int(found[0][0]), found[0][1]
    last = _doc(body).get("last_window")
    if not isinstance(last, int):
        return
    tx.execute("DELETE FROM webhook_deliveries WHERE alert_id = ?", (latest,))
    tx.execute("DELETE FROM monitor_alerts WHERE id = ?", (latest,))
    _record_resolution(tx, monitor, rule, streak_start(body, at), last, at, now, base_url, replaces=latest)


def _resolution_at(tx: Any, monitor_id: str, rule: str, window: int) -> tuple[str, str] | None:
    found = tx.execute("SELECT id, body FROM monitor_alerts WHERE monitor = ? AND rule = ? AND window_idx = ? AND kind = ?",
                       (monitor_id, rule, window, RESOLVED))  # fmt: skip
    return (found[0][0], found[0][1]) if found else None


def _resolve(tx: Any, monitor: Any, rule: str, start: int, last: int, at: int, now: str, base_url: str) -> None:
    """The streak ``start``..``last`` ends in window ``at``: its resolution there says so (recorded when missing)."""
    found = _resolution_at(tx, monitor.id, rule, at)
    if found is None:
        _record_resolution(tx, monitor, rule, start, last, at, now, base_url)
        return
    body = _resolution_body(tx, monitor, rule, start, last, at, _doc(found[1]), base_url)
    tx.execute("UPDATE monitor_alerts SET body = ?, message = ? WHERE id = ?", (json.dumps(body, default=str), body["message"], found[0]))


def _record_resolution(tx: Any, monitor: Any, rule: str, start: int, last: int, at: int, now: str, base_url: str, *, replaces: str | None = None) -> bool:
    row_id = uuid.uuid4().hex
    notified = bool(monitor.spec.webhooks)  # every streak was posted: its first alert (change), or each one (every)
    kept = {"kind": RESOLVED, "resolution_id": row_id, "created_at": now, "notified": notified} | ({"replaces": replaces} if replaces else {})
    body = _resolution_body(tx, monitor, rule, start, last, at, kept, base_url)
    tx.execute("INSERT INTO monitor_alerts (id, monitor, window_idx, rule, message, created_at, body, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (row_id, monitor.id, at, rule, body["message"], now, json.dumps(body, default=str), RESOLVED))  # fmt: skip
    if notified:
        _deliver(tx, monitor, row_id)
    return notified


def _resolution_body(tx: Any, monitor: Any, rule: str, start: int, last: int, at: int, kept: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A resolution's body (its kind, id, time and notified flag kept from ``kept``) for the streak ``start``..``last`` ended in window ``at``."""
    return {"monitor": monitor.name, "window": at, "rule": rule, "message": _resolution_message(rule, start, last, at),
            **{k: v for k, v in kept.items() if k in ("kind", "resolution_id", "created_at", "notified", "replaces")},
            "streak_start": start, "streak_started_at": streak_started_at(tx.execute, monitor, start), "last_window": last, "reference": monitor.reference,
            "url": f"{base_url.rstrip('/')}/monitors/{monitor.name}/windows/{at}" if base_url else None}  # fmt: skip


def _resolution_message(rule: str, start: int, last: int, at: int) -> str:
    breached = f"window {start}" if start == last else f"windows {start} to {last}"
    return f"{rule} passes in window {at}, after breaching in {breached}"


def _withdraw_resolution(tx: Any, monitor_id: str, rule: str, index: int) -> bool:
    """Delete the resolution recorded at window ``index`` (it passed then; it breaches now) with its deliveries;
    True when it had been posted (or was to be)."""
    found = _resolution_at(tx, monitor_id, rule, index)
    if found is None:
        return False
    told = _was_notified(tx, found[0])
    tx.execute("DELETE FROM webhook_deliveries WHERE alert_id = ?", (found[0],))
    tx.execute("DELETE FROM monitor_alerts WHERE id = ?", (found[0],))
    return told


def _doc(body: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}
