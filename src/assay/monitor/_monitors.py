"""Monitors in the ledger: create one from a dataset version, list them, read their windows and alerts."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from assay.errors import InputError, NotFoundError, UsageError
from assay.monitor._spec import (
    MonitorSpec,
    Rule,
    WindowSpec,
    check_name,
    check_webhook,
    parse_rule,
    parse_window,
)

__all__ = ["Monitor", "create_monitor", "get_monitor", "get_window", "list_alerts", "list_monitors", "list_windows", "load_reference", "window_labels"]

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
                   rules: list[str] | None = None, webhooks: list[str] | None = None, drift: dict[str, Any] | None = None) -> Monitor:  # fmt: skip
    """Create monitor ``name`` watching ``columns`` of dataset version ``reference`` (``NAME@REF``).

    The reference profile (mergeable sketches) is built once, here, and kept in the
    object store; every closed window is compared with it.

    Example::

        create_monitor(ws, "churn", "customers@v2", window="5000rows", rules=["drift"], webhooks=["http://127.0.0.1:9000/hook"])
    """
    from assay import data as data_pillar
    from assay.drift import DriftDetector, DriftSpec
    from assay.ledger import IntegrityConflict, utcnow
    from assay.lineage import add_edges

    check_name(name)
    if ws.ledger.query("SELECT 1 FROM monitors WHERE name = ?", (name,)):
        raise UsageError(f"a monitor named {name!r} exists already", hint="pick another name")
    win = window if isinstance(window, WindowSpec) else parse_window(window)
    hooks = [check_webhook(u) for u in (webhooks or [])]
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
        raise InputError(f"column(s) {', '.join(unsupported)} have a type drift cannot judge", hint="watch numeric or text columns")
    names = [n for n in kinds if n not in unsupported]
    if not names:
        raise InputError(f"{version.ref} has no column a monitor can watch")
    spec = MonitorSpec(columns=names, schema={n: kinds[n] for n in names}, window=win,
                       rules=[parse_rule(r, names) for r in (rules or ["drift"])], webhooks=hooks, drift=drift_doc)  # fmt: skip
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
    rows = ws.ledger.query(f"SELECT {_COLUMNS} FROM monitors WHERE name = ?", (name,))
    if not rows:
        raise NotFoundError(f"no monitor named {name!r}", hint="list them with `assay monitor list`")
    return Monitor.from_row(rows[0])


def list_monitors(ws: Any) -> list[Monitor]:
    return [Monitor.from_row(r) for r in ws.ledger.query(f"SELECT {_COLUMNS} FROM monitors ORDER BY name")]


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


def list_windows(ws: Any, monitor: Monitor, *, limit: int = 500) -> list[dict[str, Any]]:
    """Closed windows, oldest first (the last ``limit``)."""
    rows = ws.ledger.query(f"SELECT {_WCOLS} FROM monitor_windows WHERE monitor = ? ORDER BY window_idx DESC LIMIT ?", (monitor.id, int(limit)))
    return [_window_doc(r) for r in reversed(rows)]


def get_window(ws: Any, monitor: Monitor, index: int) -> dict[str, Any]:
    rows = ws.ledger.query(f"SELECT {_WCOLS} FROM monitor_windows WHERE monitor = ? AND window_idx = ?", (monitor.id, int(index)))
    if not rows:
        raise NotFoundError(f"monitor {monitor.name!r} has no closed window {index}")
    doc = _window_doc(rows[0])
    doc["report"] = json.loads(ws.store.get_bytes(doc["report_key"]))
    return doc


def list_alerts(ws: Any, monitor: Monitor | None = None, *, limit: int = 200) -> list[dict[str, Any]]:
    """Alerts, newest first, with the state of their webhook deliveries."""
    sql = ("SELECT a.id, m.name, a.window_idx, a.rule, a.message, a.created_at, "
           "(SELECT COUNT(*) FROM webhook_deliveries d WHERE d.alert_id = a.id AND d.state = 'delivered'), "
           "(SELECT COUNT(*) FROM webhook_deliveries d WHERE d.alert_id = a.id) "
           "FROM monitor_alerts a JOIN monitors m ON m.id = a.monitor")  # fmt: skip
    params: tuple[Any, ...] = ()
    if monitor is not None:
        sql += " WHERE a.monitor = ?"
        params = (monitor.id,)
    sql += " ORDER BY a.created_at DESC, a.window_idx DESC LIMIT ?"
    rows = ws.ledger.query(sql, (*params, int(limit)))
    return [{"id": r[0], "monitor": r[1], "window": int(r[2]), "rule": r[3], "message": r[4], "created_at": r[5],
             "webhooks_delivered": int(r[6]), "webhooks": int(r[7])} for r in rows]  # fmt: skip


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
    return doc
