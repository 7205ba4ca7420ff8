"""Windows: merge each ingested batch into the open window's sketches; judge and record closed windows.

Row windows cover events ``[k*N, (k+1)*N)`` by arrival order (a batch that straddles a
boundary is split). Time windows cover ``[created + k*T, created + (k+1)*T)`` of server
arrival time and close once the clock has passed their end by a grace period.
Only the index of the next window to close is persisted, in the same transaction that
stores the closed window, its alerts and the ends of the streaks it passes; after a
restart the open window is rebuilt from its own batches (never from older history), so
windows and alerts resume where they stopped, and the unique (monitor, window, rule)
key keeps each alert single.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from assay.errors import AssayError
from assay.monitor._compare import SketchJudge, empty_sketches
from assay.monitor._log import read_batch
from assay.monitor._monitors import Monitor, list_monitors, load_reference
from assay.monitor._performance import (
    index_predictions,
    judge_window,
    lock_monitor,
    stale_windows,
)
from assay.monitor._worker import TickWorker

__all__ = ["WindowProcessor"]

log = logging.getLogger("assay.monitor")
GRACE_US = 1_000_000
RETRY_UNUSABLE_S = 60  # a monitor whose set-up failed is tried again after this long
EMPTY_BACKFILL = 1000


@dataclass
class _Open:
    index: int
    sketches: dict[str, Any]
    rows: int = 0
    first_us: int = 0
    last_us: int = 0
    start_event: int = -1
    end_event: int = -1


@dataclass
class _State:
    monitor: Monitor
    judge: SketchJudge
    reference: Any
    last_seq: int
    next_window: int
    open: dict[int, _Open] = field(default_factory=dict)


def read_any(ws: Any, segment: str | None, offset: int | None, length: int | None, archive: str | None, seq: int) -> pa.Table:
    if segment is not None:
        return read_batch(ws, segment, int(offset or 0), int(length or 0))
    import pyarrow.parquet as pq

    table = pq.read_table(pa.py_buffer(ws.store.get_bytes(archive)))  # type: ignore[arg-type]
    mask = pa.compute.equal(table.column("_seq"), seq)
    return table.filter(mask).drop_columns(["_seq"])


class WindowProcessor(TickWorker):
    """Reads acknowledged batches in order and closes windows. Call :meth:`step` or run the thread."""

    thread_name = "assay-windows"

    def __init__(self, ws: Any, *, base_url: str = "", tick: float = 0.2) -> None:
        self.ws = ws
        self.base_url = base_url.rstrip("/")
        self.tick = tick
        self._states: dict[str, _State] = {}
        # monitors whose set-up failed (a stored spec this version refuses, a reference it cannot
        # read): when, so that each is tried again a minute later, not on every pass
        self._unusable: dict[str, float] = {}
        self.on_alert: Any = None
        self.errors = 0
        super().__init__()

    def on_error(self) -> None:
        self.errors += 1
        self._states.clear()  # rebuilt from the ledger on the next pass

    # -- one pass -----------------------------------------------------------------------------
    def step(self, *, now_us: int | None = None) -> bool:
        """Process what is pending for every monitor; True when there may be more."""
        more = False
        monitors = list_monitors(self.ws)
        for gone in set(self._states) - {m.id for m in monitors}:  # deleted monitors
            del self._states[gone]
        for monitor in monitors:
            state = self._states.get(monitor.id) or self._usable(monitor)
            if state is None:
                continue  # the others go on: one monitor that cannot be set up held up every one after it
            more |= self._advance(state, now_us)
            if monitor.spec.prediction:
                for index in stale_windows(self.ws, monitor, state.next_window):  # labels arrived for closed windows
                    self._judge_performance(state, index)
        return more

    def _judge_performance(self, state: _State, index: int) -> None:
        if judge_window(self.ws, state.monitor, index, base_url=self.base_url) and self.on_alert is not None:
            self.on_alert()

    def _usable(self, monitor: Monitor) -> _State | None:
        """The monitor's state, set up now; None (said in the log once a minute) where it cannot be."""
        failed = self._unusable.get(monitor.id)
        if failed is not None and time.monotonic() - failed < RETRY_UNUSABLE_S:
            return None
        try:
            state = self._init(monitor)
        except AssayError as exc:
            self._unusable[monitor.id] = time.monotonic()
            log.error("monitor %r cannot be processed, its windows wait: %s (tried again in %d s)", monitor.name, exc, RETRY_UNUSABLE_S)
            return None
        self._unusable.pop(monitor.id, None)
        return state

    def _init(self, monitor: Monitor) -> _State:
        reference = load_reference(self.ws, monitor)
        judge = SketchJudge(reference, monitor.spec.columns, monitor.spec.drift)
        win = monitor.spec.window
        if win.kind == "rows":
            rows = self.ws.ledger.query("SELECT MIN(seq) FROM monitor_batches WHERE monitor = ? AND first_event + n_rows > ?",
                                        (monitor.id, monitor.next_window * win.size))  # fmt: skip
        else:
            start_us = monitor.created_us + monitor.next_window * win.size * 1_000_000
            rows = self.ws.ledger.query("SELECT MIN(seq) FROM monitor_batches WHERE monitor = ? AND received_us >= ?", (monitor.id, start_us))
        first = rows[0][0]
        last_seq = int(first) - 1 if first is not None else monitor.batches - 1
        state = _State(monitor, judge, reference, last_seq, monitor.next_window)
        self._states[monitor.id] = state
        return state

    def _advance(self, state: _State, now_us: int | None) -> bool:
        monitor = state.monitor
        win = monitor.spec.window
        batches = self.ws.ledger.query(
            "SELECT seq, first_event, n_rows, received_us, segment, seg_offset, seg_length, archive FROM monitor_batches "
            "WHERE monitor = ? AND seq > ? ORDER BY seq LIMIT 64", (monitor.id, state.last_seq),
        )  # fmt: skip
        for seq, first, n, received, segment, offset, length, archive in batches:
            table = read_any(self.ws, segment, offset, length, archive, int(seq))
            first, n, received = int(first), int(n), int(received)
            if win.kind == "rows":
                pos = first
                while pos < first + n:
                    index = pos // win.size
                    end = min(first + n, (index + 1) * win.size)
                    if index >= state.next_window:
                        self._add(state, index, table.slice(pos - first, end - pos), received, pos, end)
                        if self._rows_full(state, index):
                            self._close(state, index)
                    pos = end
            else:
                index = (received - monitor.created_us) // (win.size * 1_000_000)
                for older in sorted(i for i in state.open if i < index):
                    self._close_in_time(state, older)
                if index >= state.next_window:
                    self._add(state, index, table, received, first, first + n)
            state.last_seq = int(seq)
        if win.kind == "time" and len(batches) < 64:
            now = now_us if now_us is not None else time.time_ns() // 1000
            for index in sorted(state.open):
                end_us = monitor.created_us + (index + 1) * win.size * 1_000_000
                if now >= end_us + GRACE_US:
                    self._close_in_time(state, index)
            if any(rule.kind == "rows" for rule in monitor.spec.rules):
                # windows that ended without one event are recorded empty, so `rows<N` alerts on a traffic stop;
                # after a long idle spell only the last EMPTY_BACKFILL of them are recorded
                ended = (now - GRACE_US - monitor.created_us) // (win.size * 1_000_000)  # windows [0, ended) are over
                index = max(state.next_window, ended - EMPTY_BACKFILL)
                while index < ended and index not in state.open:
                    self._close(state, index)
                    index += 1
        return len(batches) == 64

    def _close_in_time(self, state: _State, index: int) -> None:
        """Close time window ``index``, after the windows before it that ended without one event
        (recorded empty under a ``rows<N`` rule, at most the last EMPTY_BACKFILL): a processor
        catching up (after a restart, or behind) records a traffic stop as one running live does."""
        if any(rule.kind == "rows" for rule in state.monitor.spec.rules):
            for empty in range(max(state.next_window, index - EMPTY_BACKFILL), index):
                if empty not in state.open:
                    self._close(state, empty)
        self._close(state, index)

    def _add(self, state: _State, index: int, table: pa.Table, received_us: int, start_event: int, end_event: int) -> None:
        window = state.open.get(index)
        if window is None:
            window = state.open[index] = _Open(index, empty_sketches(state.reference, state.monitor.spec.columns), first_us=received_us,
                                               start_event=start_event)  # fmt: skip
        state.judge.add(window.sketches, table)
        prediction = state.monitor.spec.prediction
        if prediction:
            index_predictions(self.ws, state.monitor, index, table.column("event_id").to_pylist(), table.column(prediction).to_pylist())
        window.rows += table.num_rows
        window.last_us = received_us
        window.end_event = end_event

    def _rows_full(self, state: _State, index: int) -> bool:
        return state.open[index].rows >= state.monitor.spec.window.size

    def _close(self, state: _State, index: int) -> None:
        from assay.ledger import IntegrityConflict, utcnow
        from assay.monitor._alerts import record_alert, record_pass

        window = state.open.pop(index, None) or _Open(index, {})
        monitor = state.monitor
        label = f"{monitor.name} window {index}"
        if window.rows:
            report = state.judge.judge(window.rows, window.sketches, label)
            drift, share, drifted = bool(report.drift), float(report.share_drifted), list(report.drifted_columns)
            columns = {c.name: {"test": c.test, "statistic": c.statistic, "p_value": c.p_value, "p_adjusted": c.p_adjusted,
                                "effect": c.effect, "effect_name": c.effect_name, "threshold": c.threshold, "drifted": bool(c.drifted),
                                "not_judged": c.not_judged}
                       for c in report.columns}  # fmt: skip
            report_doc = report.to_dict(charts=True)
        else:  # a time window without a single event: nothing to judge, but a rows<N rule should hear of it
            drift, share, drifted, columns = False, 0.0, [], {}
            report_doc = {"drift": False, "columns": [], "findings": [{"kind": "empty", "message": "no events arrived in this window"}]}
        summary = {"window": index, "rows": window.rows, "drift": drift, "share": share, "drifted": drifted, "columns": columns}
        if monitor.spec.window.kind == "time":
            start_us = monitor.created_us + index * monitor.spec.window.size * 1_000_000
            end_us = start_us + monitor.spec.window.size * 1_000_000
        else:
            start_us, end_us = window.first_us, window.last_us
        report_key = f"monitor/{monitor.id}/windows/{index:012d}.json"
        self.ws.store.put_bytes(report_key, json.dumps(report_doc, default=str).encode())
        gone = False
        alerts, passed = [], []
        for rule in monitor.spec.rules:
            message = rule.breached(summary)
            if message:
                alerts.append((rule.text, message))
            elif not rule.on_labels and (window.rows or rule.kind == "rows"):  # a drift rule cannot judge an empty window
                passed.append(rule.text)
        resolved = False
        now = utcnow()
        try:
            with self.ws.ledger.transaction() as tx:
                if not lock_monitor(tx, monitor.id):
                    gone = True  # deleted meanwhile: record nothing
                    return
                if tx.execute("SELECT 1 FROM monitor_windows WHERE monitor = ? AND window_idx = ?", (monitor.id, index)):
                    return  # closed before a restart; the ledger is the truth
                tx.execute(
                    "INSERT INTO monitor_windows (monitor, window_idx, start_event, end_event, start_us, end_us, n_rows, closed_at, drift, share, summary, report_key) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (monitor.id, index, window.start_event, window.end_event, start_us, end_us, window.rows, now, int(drift),
                     share, json.dumps(summary, default=str), report_key),
                )  # fmt: skip
                tx.execute("UPDATE monitors SET next_window = ? WHERE id = ? AND next_window <= ?", (index + 1, monitor.id, index + 1))
                for rule_text, message in alerts:
                    body = {"monitor": monitor.name, "window": index, "rule": rule_text, "message": message,
                            "created_at": now, "drifted": summary["drifted"], "share": summary["share"], "rows": window.rows,
                            "reference": monitor.reference,
                            "url": f"{self.base_url}/monitors/{monitor.name}/windows/{index}" if self.base_url else None}  # fmt: skip
                    record_alert(tx, monitor, index, rule_text, message, body, now, base_url=self.base_url)
                for rule_text in passed:
                    resolved |= record_pass(tx, monitor, index, rule_text, now, base_url=self.base_url)
        except IntegrityConflict:
            log.warning("window %s of %s was recorded concurrently", index, monitor.name)
        finally:
            if gone:
                self.ws.store.delete(report_key)
        state.next_window = max(state.next_window, index + 1)
        monitor.next_window = state.next_window
        if (alerts or resolved) and self.on_alert is not None:
            self.on_alert()
        if monitor.spec.prediction:  # labels that came before the window closed
            self._judge_performance(state, index)
