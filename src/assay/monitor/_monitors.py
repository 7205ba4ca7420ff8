"""Monitors in the ledger: create one from a dataset version, list them, read their windows and alerts."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from assay._wording import noun_for
from assay.errors import InputError, NotFoundError, UsageError
from assay.monitor._spec import (
    MonitorSpec,
    Rule,
    WindowSpec,
    check_name,
    check_notify,
    check_performance,
    check_webhook,
    distinct_rules,
    parse_rule,
    parse_window,
)

__all__ = ["Monitor", "breaching_rules", "create_monitor", "delete_monitor", "finish_deletions", "get_monitor", "get_window", "list_alerts",
           "list_monitors", "list_resolutions", "list_windows", "load_reference", "window_labels"]

_COLUMNS = "id, name, reference, version_id, spec, profile_key, created_at, created_us, next_window, events, batches"


@dataclass
class Monitor:
    """A monitor as stored: its spec, reference version and counters."""

    id: str
    name: str
    reference: str
    version_id: str
    spec: MonitorSpec
    profile_key: str
    created_at: str
    created_us: int
    next_window: int = 0
    events: int = 0
    batches: int = 0

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Monitor:
        return cls(row[0], row[1], row[2], row[3], MonitorSpec.from_dict(json.loads(row[4])), row[5], row[6],
                   int(row[7]), int(row[8]), int(row[9]), int(row[10]))  # fmt: skip

    @property
    def node(self) -> str:
        return f"monitor:{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "reference": self.reference, "version_id": self.version_id,
            "created_at": self.created_at, "events": self.events, "batches": self.batches,
            "windows_closed": self.next_window, **self.spec.to_dict(),
        }  # fmt: skip


def create_monitor(ws: Any, name: str, reference: str, *, columns: list[str] | None = None, window: str | WindowSpec = "10000rows",
                   rules: list[str] | None = None, webhooks: list[str] | None = None, drift: dict[str, Any] | None = None,
                   task: str | None = None, min_labels: int = 50, notify: str = "every") -> Monitor:  # fmt: skip
    """Create monitor ``name`` watching ``columns`` of dataset version ``reference`` (``NAME@REF``).

    The reference profile (mergeable sketches) is built once, here, and kept in the
    object store; every closed window is compared with it. With ``drift={"prediction": COLUMN}``
    the labels sent later are joined to each window's predictions: accuracy (``task="classification"``,
    the default for a text column) or MAE and RMSE (``"regression"``, the default for a numeric one)
    per window, judged by rules such as ``accuracy<0.9`` once ``min_labels`` labels arrived.
    Each breaching window raises an alert; ``notify="change"`` posts to the ``webhooks`` only the
    first alert of a rule's streak of breaching windows (the default, ``"every"``, posts each).

    Example::

        create_monitor(ws, "churn", "customers@v2", window="5000rows", rules=["drift"], webhooks=["http://127.0.0.1:9000/hook"])
    """
    from assay import data as data_pillar
    from assay.drift import DriftDetector, DriftSpec
    from assay.ledger import IntegrityConflict, utcnow
    from assay.lineage._graph import add_edges

    check_name(name)
    if ws.ledger.query("SELECT 1 FROM monitors WHERE name = ?", (name,)):
        raise UsageError(f"a monitor named {name!r} exists already", hint="pick another name")
    win = window if isinstance(window, WindowSpec) else parse_window(window)
    hooks = list(dict.fromkeys(check_webhook(u) for u in (webhooks or [])))  # a delivery is unique per alert and URL
    check_notify(notify)
    version = data_pillar.resolve(ws, reference)
    drift_doc = {k: v for k, v in (drift or {}).items() if k not in ("columns", "method", "multivariate")}
    try:
        spec_for_fit = DriftSpec(**{**drift_doc, "columns": tuple(columns) if columns else None, "method": "binned", "multivariate": False})
    except TypeError as exc:
        raise UsageError(f"invalid drift settings: {exc}") from None
    detector = DriftDetector(spec_for_fit, workspace=ws).fit(version.ref)
    profile = detector.profile_
    kinds = {n: ("categorical" if k == "null" else k) for n, k in detector.kinds_.items()}
    unsupported = [n for n, k in kinds.items() if k == "unsupported"]
    if columns and unsupported:
        raise InputError(f"{noun_for(len(unsupported), 'column')} {', '.join(unsupported)} {'has' if len(unsupported) == 1 else 'have'} a type drift cannot judge", hint="watch numeric or text columns")
    names = [n for n in kinds if n not in unsupported]
    if not names:
        raise InputError(f"{version.ref} has no column a monitor can watch")
    schema = {n: kinds[n] for n in names}
    parsed = distinct_rules([parse_rule(r, names) for r in (rules or ["drift"])])
    task = check_performance(schema, drift_doc.get("prediction"), task, parsed, min_labels)
    spec = MonitorSpec(columns=names, schema=schema, window=win, rules=parsed, webhooks=hooks, drift=drift_doc, task=task, min_labels=min_labels,
                       notify=notify)
    monitor_id = uuid.uuid4().hex
    key = f"monitor/{monitor_id}/reference.json"
    profile.label = version.ref
    ws.store.put_bytes(key, json.dumps(profile.to_dict(), separators=(",", ":")).encode())
    now_us = time.time_ns() // 1000
    try:
        with ws.ledger.transaction() as tx:
            tx.execute(
                f"INSERT INTO monitors ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0)",
                (monitor_id, name, version.ref, version.id, json.dumps(spec.to_dict()), key, utcnow(), now_us),
            )
            add_edges(tx, [(version.node, f"monitor:{monitor_id}", "monitored_by")])
    except IntegrityConflict:
        raise UsageError(f"a monitor named {name!r} exists already", hint="pick another name") from None
    return get_monitor(ws, name)


def get_monitor(ws: Any, name: str) -> Monitor:
    rows = ws.ledger.query(f"SELECT {_COLUMNS} FROM monitors WHERE name = ?", (name,)) if not str(name).startswith(".") else []
    if not rows:
        raise NotFoundError(f"no monitor named {name!r}", hint="list them with `assay monitor list`")
    return Monitor.from_row(rows[0])


def list_monitors(ws: Any) -> list[Monitor]:
    return [Monitor.from_row(r) for r in ws.ledger.query(f"SELECT {_COLUMNS} FROM monitors WHERE substr(name, 1, 1) <> '.' ORDER BY name")]


def load_reference(ws: Any, monitor: Monitor) -> Any:
    from assay.drift import Profile

    return Profile.from_dict(json.loads(ws.store.get_bytes(monitor.profile_key)))


def _window_doc(row: tuple[Any, ...]) -> dict[str, Any]:
    summary = json.loads(row[10])
    return {
        "window": int(row[1]), "start_event": int(row[2]), "end_event": int(row[3]), "start_us": int(row[4]), "end_us": int(row[5]),
        "rows": int(row[6]), "closed_at": row[7], "drift": bool(row[8]), "share": float(row[9]),
        "drifted": summary.get("drifted", []), "columns": summary.get("columns", {}), "report_key": row[11],
    }  # fmt: skip


_WCOLS = "monitor, window_idx, start_event, end_event, start_us, end_us, n_rows, closed_at, drift, share, summary, report_key"


def list_windows(ws: Any, monitor: Monitor, *, limit: int = 500, before: int | None = None) -> list[dict[str, Any]]:
    """Closed windows, oldest first (the last ``limit``, or the last ``limit`` before window ``before``: pages back
    through a long history); ``performance`` holds the metrics from labels, when any arrived."""
    from assay.monitor._performance import performance_of

    if before is None:
        rows = ws.ledger.query(f"SELECT {_WCOLS} FROM monitor_windows WHERE monitor = ? ORDER BY window_idx DESC LIMIT ?", (monitor.id, int(limit)))
    else:
        before = max(-(1 << 63), min(int(before), (1 << 63) - 1))  # (a URL's number past 64 bits would overflow the ledger)
        rows = ws.ledger.query(f"SELECT {_WCOLS} FROM monitor_windows WHERE monitor = ? AND window_idx < ? ORDER BY window_idx DESC LIMIT ?",
                               (monitor.id, before, int(limit)))  # fmt: skip
    docs = [_window_doc(r) for r in reversed(rows)]
    found = performance_of(ws, monitor, [d["window"] for d in docs]) if monitor.spec.prediction else {}
    for doc in docs:
        doc["performance"] = found.get(doc["window"])
    return docs


def get_window(ws: Any, monitor: Monitor, index: int) -> dict[str, Any]:
    # an index past a 64-bit integer (windows/99999999999999999999 from a URL) names no window; the ledger would overflow on it
    in_range = -(1 << 63) <= int(index) < 1 << 63
    rows = ws.ledger.query(f"SELECT {_WCOLS} FROM monitor_windows WHERE monitor = ? AND window_idx = ?", (monitor.id, int(index))) if in_range else []
    if not rows:
        raise NotFoundError(f"monitor {monitor.name!r} has no closed window {index}")
    from assay.monitor._performance import performance_of

    doc = _window_doc(rows[0])
    doc["performance"] = performance_of(ws, monitor, [doc["window"]]).get(doc["window"]) if monitor.spec.prediction else None
    doc["report"] = json.loads(ws.store.get_bytes(doc["report_key"]))
    return doc


def list_alerts(ws: Any, monitor: Monitor | None = None, *, limit: int = 200) -> list[dict[str, Any]]:
    """Alerts, newest first, with the state of their webhook deliveries and the first window of
    their streak (``streak_start``: the rule breached in every window it judged from it to this one) and when
    that window began (``streak_started_at``, UTC ISO 8601, or None; see :func:`assay.monitor._alerts.streak_started_at`).
    The ends of streaks are listed by :func:`list_resolutions`."""
    return _list_rows(ws, monitor, "alert", limit)


def breaching_rules(ws: Any, monitor: Monitor) -> list[dict[str, Any]]:
    """The rules of ``monitor`` breaching now: those whose record of the latest window they judged
    is an alert, not the end of a streak; each with the ``streak_start`` window and the ``window``
    of that alert, in the order of the monitor's rules. (A window's drift verdict says nothing of
    its row-count or accuracy rules: this does.)"""
    from assay.monitor._alerts import streak_start

    rows = ws.ledger.query(
        "SELECT a.rule, a.kind, a.window_idx, a.body FROM monitor_alerts a WHERE a.monitor = ? AND a.window_idx = "
        "(SELECT MAX(b.window_idx) FROM monitor_alerts b WHERE b.monitor = a.monitor AND b.rule = a.rule) "
        "ORDER BY a.created_at", (monitor.id,))  # fmt: skip
    latest = {r[0]: r for r in rows}  # (a record made again for a window comes later: it is the one that counts)
    order = {r.text: i for i, r in enumerate(monitor.spec.rules)}
    return [{"rule": rule, "window": int(r[2]), "streak_start": streak_start(r[3], int(r[2]))}
            for rule, r in sorted(latest.items(), key=lambda kv: order.get(kv[0], len(order))) if r[1] == "alert"]


def _list_rows(ws: Any, monitor: Monitor | None, kind: str, limit: int) -> list[dict[str, Any]]:
    sql = ("SELECT a.id, m.name, a.window_idx, a.rule, a.message, a.created_at, "
           "(SELECT COUNT(*) FROM webhook_deliveries d WHERE d.alert_id = a.id AND d.state = 'delivered'), "
           "(SELECT COUNT(*) FROM webhook_deliveries d WHERE d.alert_id = a.id), a.body, a.monitor "
           "FROM monitor_alerts a JOIN monitors m ON m.id = a.monitor WHERE a.kind = ?")  # fmt: skip
    params: tuple[Any, ...] = (kind,)
    if monitor is not None:
        sql += " AND a.monitor = ?"
        params = (kind, monitor.id)
    from assay.monitor._alerts import streak_start

    sql += " ORDER BY a.created_at DESC, a.window_idx DESC LIMIT ?"
    rows = ws.ledger.query(sql, (*params, int(limit)))
    starts = [(r[9], streak_start(r[8], int(r[2]))) for r in rows]
    started = _streaks_started_at(ws, monitor, starts)
    return [{"id": r[0], "monitor": r[1], "window": int(r[2]), "rule": r[3], "message": r[4], "created_at": r[5],
             "webhooks_delivered": int(r[6]), "webhooks": int(r[7]), "streak_start": start[1], "streak_started_at": started.get(start)}
            | ({"last_window": _last_window(r[8], int(r[2]))} if kind == "resolved" else {}) for r, start in zip(rows, starts)]  # fmt: skip


def _streaks_started_at(ws: Any, monitor: Monitor | None, starts: list[tuple[str, int]]) -> dict[tuple[str, int], str | None]:
    """When each (monitor id, window) in ``starts`` began (see :func:`assay.monitor._alerts.window_started_at`):
    a few queries for the lot, not one per row."""
    from assay.monitor._alerts import window_started_at

    ids = sorted({m for m, _ in starts})
    if monitor is not None:
        monitors = {monitor.id: monitor}
    else:
        monitors = {}
        for at in range(0, len(ids), 500):
            chunk = ids[at:at + 500]
            for row in ws.ledger.query(f"SELECT {_COLUMNS} FROM monitors WHERE id IN ({','.join('?' * len(chunk))})", tuple(chunk)):
                found = Monitor.from_row(row)
                monitors[found.id] = found
    recorded: dict[tuple[str, int], int] = {}
    for monitor_id in ids:
        windows = sorted({w for m, w in starts if m == monitor_id})
        for at in range(0, len(windows), 500):
            chunk = windows[at:at + 500]
            for window, start_us in ws.ledger.query(f"SELECT window_idx, start_us FROM monitor_windows WHERE monitor = ? AND window_idx IN "
                                                    f"({','.join('?' * len(chunk))})", (monitor_id, *chunk)):  # fmt: skip
                recorded[(monitor_id, int(window))] = int(start_us)
    return {key: window_started_at(monitors[key[0]], key[1], recorded.get(key)) if key[0] in monitors else None for key in set(starts)}


def list_resolutions(ws: Any, monitor: Monitor | None = None, *, limit: int = 200) -> list[dict[str, Any]]:
    """The ends of streaks, newest first: each names its rule, the window that passed it (``window``), the streak's
    first and last breaching windows (``streak_start``, ``last_window``), when the first began (``streak_started_at``)
    and the state of its webhook deliveries."""
    return _list_rows(ws, monitor, "resolved", limit)


def _last_window(body: str, window: int) -> int:
    try:
        last = json.loads(body).get("last_window")
    except (ValueError, AttributeError):
        return window
    return int(last) if isinstance(last, int) else window


def rules_of(monitor: Monitor) -> list[Rule]:
    return monitor.spec.rules


def window_labels(ws: Any, monitor: Monitor, index: int) -> dict[str, Any]:
    """Join the ground-truth labels received so far with the events of closed window ``index`` (by event id).

    Reads only that window's own batches. When the monitor's drift settings name a
    ``prediction`` column, the share of labelled events whose prediction equals the label
    is reported too.
    """
    from assay.monitor._windows import read_any

    window = get_window(ws, monitor, index)
    start, end = window["start_event"], window["end_event"]
    batches = ws.ledger.query(
        "SELECT seq, first_event, n_rows, segment, seg_offset, seg_length, archive FROM monitor_batches "
        "WHERE monitor = ? AND first_event < ? AND first_event + n_rows > ? ORDER BY seq", (monitor.id, end, start),
    )  # fmt: skip
    prediction = monitor.spec.drift.get("prediction")
    ids: list[str] = []
    predictions: list[Any] = []
    for seq, first, n, segment, offset, length, archive in batches:
        table = read_any(ws, segment, offset, length, archive, int(seq))
        lo, hi = max(start, int(first)) - int(first), min(end, int(first) + int(n)) - int(first)
        part = table.slice(lo, hi - lo)
        ids.extend(part.column("event_id").to_pylist())
        if prediction:
            predictions.extend(part.column(prediction).to_pylist())
    wanted = [i for i in ids if i is not None]
    labels: dict[str, Any] = {}
    for at in range(0, len(wanted), 500):
        chunk = wanted[at:at + 500]
        marks = ",".join("?" * len(chunk))
        for event_id, label in ws.ledger.query(f"SELECT event_id, label FROM monitor_labels WHERE monitor = ? AND event_id IN ({marks})", (monitor.id, *chunk)):
            labels[event_id] = json.loads(label)
    counts: dict[str, int] = {}
    for value in labels.values():
        counts[str(value)] = counts.get(str(value), 0) + 1
    doc: dict[str, Any] = {"window": index, "events": len(ids), "with_event_id": len(wanted), "labelled": len(labels), "labels": counts}
    if prediction:
        pairs = [(p, labels[i]) for i, p in zip(ids, predictions) if i in labels and p is not None]
        same = sum(1 for p, y in pairs if (str(p) == str(y)) or (isinstance(y, (int, float)) and not isinstance(y, bool) and float(y) == p))
        doc["prediction"] = prediction
        doc["agreement"] = same / len(pairs) if pairs else None
        doc["performance"] = window["performance"]
    return doc


def delete_monitor(ws: Any, name: str, *, dry_run: bool = False) -> dict[str, Any]:
    """Delete monitor ``name`` with everything it holds: windows, alerts and their webhook deliveries (pending ones are
    never sent), labels, its events (batch index, Parquet rolls, reference profile and window reports in the object
    store) and its lineage edges. Returns what was (or, with ``dry_run``, would be) deleted.

    Safe while ``assay serve`` runs: the first transaction marks the monitor deleted (its name is free at once, and
    every writer, which takes the monitor's row lock first, refuses it from then on: ingestion gets a not-found
    error, the window processor records nothing more); its rows then go in transactions of ``DELETE_CHUNK``, so a
    large monitor never holds up the other monitors' ingestion for long. A deletion cut short by a crash is finished
    by the next one. Its bytes inside segment files shared with other monitors go when those roll into Parquet.
    """
    from assay.monitor._performance import lock_monitor

    monitor = get_monitor(ws, name)
    counted = {
        "events": monitor.events,
        "windows": "SELECT COUNT(*) FROM monitor_windows WHERE monitor = ?",
        "alerts": "SELECT COUNT(*) FROM monitor_alerts WHERE monitor = ? AND kind = 'alert'",
        "labels": "SELECT COUNT(*) FROM monitor_labels WHERE monitor = ?",
        "pending_deliveries": "SELECT COUNT(*) FROM webhook_deliveries d JOIN monitor_alerts a ON a.id = d.alert_id WHERE a.monitor = ? AND d.state = 'pending'",
    }  # fmt: skip
    doc: dict[str, Any] = {"monitor": monitor.name, "id": monitor.id, "deleted": False}
    for key, sql in counted.items():
        doc[key] = sql if isinstance(sql, int) else int(ws.ledger.query(sql, (monitor.id,))[0][0])
    if dry_run:
        return doc
    with ws.ledger.transaction() as tx:
        if not lock_monitor(tx, monitor.id):
            raise NotFoundError(f"no monitor named {name!r}", hint="it was deleted meanwhile")
        tx.execute("UPDATE monitors SET name = ? WHERE id = ?", (f"{_DELETING}{monitor.id}", monitor.id))
        tx.execute("DELETE FROM webhook_deliveries WHERE alert_id IN (SELECT id FROM monitor_alerts WHERE monitor = ?)", (monitor.id,))
        tx.execute("DELETE FROM edges WHERE src = ? OR dst = ?", (monitor.node, monitor.node))
    removed = _finish_deletion(ws, monitor.id)
    finish_deletions(ws)  # any cut short earlier
    return {**doc, "deleted": True, **removed}


_DELETING = ".deleting."  # the name of a monitor being deleted: no user name starts with "."
DELETE_CHUNK = 10_000
_CHILDREN = (("monitor_predictions", "event_id"), ("monitor_labels", "event_id"), ("monitor_performance", "window_idx"),
             ("monitor_alerts", "id"), ("monitor_windows", "window_idx"), ("monitor_batches", "batch_id"))  # fmt: skip


def finish_deletions(ws: Any) -> int:
    """Finish deleting monitors whose deletion was cut short (a crash between its transactions); how many."""
    pending = [r[0] for r in ws.ledger.query("SELECT id FROM monitors WHERE name LIKE ?", (f"{_DELETING}%",))]
    for monitor_id in pending:
        _finish_deletion(ws, monitor_id)
    return len(pending)


def _finish_deletion(ws: Any, monitor_id: str) -> dict[str, int]:
    from assay.monitor._log import segments_dir, service_dir

    segments = {r[0] for r in ws.ledger.query("SELECT DISTINCT segment FROM monitor_batches WHERE monitor = ? AND segment IS NOT NULL", (monitor_id,))}
    with ws.ledger.transaction() as tx:  # done in the marking transaction already, unless that is all a crash left
        tx.execute("DELETE FROM webhook_deliveries WHERE alert_id IN (SELECT id FROM monitor_alerts WHERE monitor = ?)", (monitor_id,))
        tx.execute("DELETE FROM edges WHERE src = ? OR dst = ?", (f"monitor:{monitor_id}",) * 2)
    for table, key in _CHILDREN:
        while True:
            with ws.ledger.transaction() as tx:
                gone = tx.execute(f"DELETE FROM {table} WHERE monitor = ? AND {key} IN (SELECT {key} FROM {table} WHERE monitor = ? LIMIT ?) "
                                  f"RETURNING {key}", (monitor_id, monitor_id, DELETE_CHUNK))  # fmt: skip
            if len(gone) < DELETE_CHUNK:
                break
    ws.ledger.execute("DELETE FROM monitors WHERE id = ?", (monitor_id,))
    objects = list(ws.store.list(f"monitor/{monitor_id}/"))
    for key in objects:
        ws.store.delete(key)
    # segment files that held only this monitor's batches: removed now when no service runs (a running one's
    # archiver removes them itself, and may still be appending to its open segment)
    import fcntl
    import os

    removed = 0
    fd = os.open(service_dir(ws) / "serve.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pass
    else:
        for segment in sorted(segments):
            if not ws.ledger.query("SELECT 1 FROM monitor_batches WHERE segment = ? LIMIT 1", (segment,)):
                try:
                    (segments_dir(ws) / segment).unlink()
                    removed += 1
                except FileNotFoundError:
                    pass
    finally:
        os.close(fd)
    return {"objects_removed": len(objects), "segments_removed": removed}
