"""The running monitoring service: event log, window processor, webhook sender, segment archiver.

One service per workspace at a time (an exclusive lock file says so), because the
event log's writer thread is the only writer of batch sequence numbers.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import uuid
from typing import Any

import pyarrow as pa

from assay._wording import noun_for
from assay.errors import ConcurrencyError, InputError, NotFoundError
from assay.monitor._log import Ack, EventLog, read_batch, segments_dir, service_dir
from assay.monitor._monitors import Monitor, finish_deletions, get_monitor
from assay.monitor._schema import (
    UnsupportedMediaType,
    parse_json_body,
    rows_from_arrow,
    rows_from_json,
    to_ipc,
)
from assay.monitor._webhooks import WebhookSender
from assay.monitor._windows import WindowProcessor

__all__ = ["MonitorService"]

log = logging.getLogger("assay.monitor")
MAX_BATCH_ID = 128


class MonitorService:
    """Start with :meth:`start`; :meth:`ingest` validates a batch and returns once it is durable."""

    def __init__(self, ws: Any, *, base_url: str = "", segment_bytes: int = 64 << 20, segment_seconds: float = 30.0,
                 webhook_timeout: float = 5.0, webhook_base_delay: float = 0.5, webhook_max_delay: float = 300.0,
                 background: str = "thread") -> None:  # fmt: skip
        if background not in ("thread", "process"):
            raise ValueError("background must be 'thread' or 'process'")
        self.ws = ws
        self.background = background
        self.log = EventLog(ws, segment_bytes=segment_bytes, segment_seconds=segment_seconds)
        self._sender_kwargs = {"timeout": webhook_timeout, "base_delay": webhook_base_delay, "max_delay": webhook_max_delay}
        self._base_url = base_url
        self.windows: WindowProcessor | None = None
        self.webhooks: WebhookSender | None = None
        self._child: _Background | None = None
        if background == "thread":
            self.windows = WindowProcessor(ws, base_url=base_url)
            self.webhooks = WebhookSender(ws, **self._sender_kwargs)
            self.log.on_commit = self.windows.wake
            self.windows.on_alert = self.webhooks.wake
        else:
            self._child = _Background(ws.root, base_url, self._sender_kwargs)
            self.log.on_commit = self._child.wake
        self._monitors: dict[str, tuple[Monitor, float]] = {}
        self._lock_fd: int | None = None
        self._archiver: threading.Thread | None = None
        self._stop = threading.Event()

    def lock(self) -> MonitorService:
        """Take this workspace's service lock (:meth:`start` takes it if it is not held yet; :meth:`stop` lets it go).

        Raises :class:`~assay.errors.ConcurrencyError` while another service holds it."""
        if self._lock_fd is not None:
            return self
        path = service_dir(self.ws)
        fd = os.open(path / "serve.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConcurrencyError("another `assay serve` is running on this workspace", hint="stop it first, or serve another workspace") from None
        self._lock_fd = fd
        return self

    def start(self) -> MonitorService:
        self.lock()
        _warm_up()
        self.log.start()
        if self._child is not None:
            self._child.start()
        else:
            import scipy.stats  # noqa: F401 - loaded now, not by the first window close (a GIL-held second of imports mid-ingestion)

            assert self.windows is not None and self.webhooks is not None
            self.windows.start()
            self.webhooks.start()
        self._archiver = threading.Thread(target=self._archive_loop, name="assay-archiver", daemon=True)
        self._archiver.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.log.stop()
        if self.windows is not None:
            self.windows.stop()
        if self.webhooks is not None:
            self.webhooks.stop()
        if self._child is not None:
            self._child.stop()
        if self._archiver is not None:
            self._archiver.join(timeout=30)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- ingestion ------------------------------------------------------------------------
    def monitor(self, name: str) -> Monitor:
        cached = self._monitors.get(name)
        if cached and time.monotonic() - cached[1] < 5.0:
            return cached[0]
        monitor = get_monitor(self.ws, name)
        self._monitors[name] = (monitor, time.monotonic())
        return monitor

    def parse(self, monitor: Monitor, body: bytes, content_type: str, batch_id: str | None) -> tuple[str, pa.Table]:
        """Validate a request body into (batch id, canonical table); raises InputError."""
        kind = (content_type or "").split(";")[0].strip().lower()
        if kind in ("application/vnd.apache.arrow.stream", "application/vnd.apache.arrow.file", "application/x-arrow"):
            table = rows_from_arrow(body, monitor.spec.schema)
        elif kind in ("application/json", ""):
            doc = parse_json_body(body)
            extra = sorted(set(doc) - {"rows", "batch_id"})
            if extra:
                raise InputError(f"unknown {noun_for(len(extra), 'field')} {', '.join(extra)} in the body", hint='send {"rows": [...], "batch_id": "..."}')
            if "rows" not in doc:
                raise InputError('the body has no "rows"', hint='send {"rows": [{"column": value, ...}, ...]}')
            if batch_id and doc.get("batch_id") not in (None, "", batch_id):  # which would a retry be matched by? (the header won silently)
                raise InputError(f"the Idempotency-Key header {batch_id!r} and the body's batch_id {doc['batch_id']!r} differ", hint="send one of them, or the same id in both")
            batch_id = batch_id or doc.get("batch_id")
            table = rows_from_json(doc["rows"], monitor.spec.schema)
        else:
            raise UnsupportedMediaType(f"unsupported content type {content_type!r}", hint="send application/json or application/vnd.apache.arrow.stream")
        return check_batch_id(batch_id), table

    def forget(self, name: str) -> None:
        """Drop the cached monitor ``name`` (deleted, or deleted and created again)."""
        self._monitors.pop(name, None)

    def wake(self) -> None:
        """Ask the window processor for a pass now (labels arrived, say) instead of at its next tick."""
        if self._child is not None:
            self._child.wake()
        elif self.windows is not None:
            self.windows.wake()

    def ingest(self, name: str, body: bytes, content_type: str = "application/json", batch_id: str | None = None) -> Ack:
        """Validate a batch for monitor ``name`` and return once it is durable; NotFoundError once it is deleted."""
        for attempt in (0, 1):
            monitor = self.monitor(name)
            bid, table = self.parse(monitor, body, content_type, batch_id)
            try:
                return self.log.append(monitor.id, bid, table)
            except NotFoundError:
                self.forget(name)  # the cached monitor was deleted: look the name up again (it may have been created anew)
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- archiving closed segments into Parquet in the object store ----------------------------
    def _archive_loop(self) -> None:
        try:  # a monitor deletion cut short by a crash is finished first: its segments may then go at once
            finish_deletions(self.ws)
        except Exception:
            log.exception("finishing an interrupted monitor deletion failed; `assay monitor delete` finishes it too")
        # segments left by an earlier run (closed by the crash or the stop) roll up too
        pending = sorted(p.name for p in segments_dir(self.ws).glob("*.seg") if p.name != self.log.segment)
        while not self._stop.wait(1.0):
            if self._child is not None and not self._child.alive() and not self._stop.is_set():
                log.error("the window/webhook process died; starting it again")
                self._child.start()
            while not self.log.closed_segments.empty():
                pending.append(self.log.closed_segments.get())
            for segment in list(pending):
                try:
                    if self.archive_segment(segment):
                        pending.remove(segment)
                except Exception:  # keep the segment; retry next pass
                    log.exception("archiving segment %s failed", segment)

    def archive_segment(self, segment: str) -> bool:
        """Roll a closed segment into one Parquet object per monitor, once every batch in it is in a closed window."""
        import pyarrow.parquet as pq

        ws = self.ws
        rows = ws.ledger.query(
            "SELECT b.monitor, b.seq, b.first_event, b.n_rows, b.received_us, b.seg_offset, b.seg_length, m.next_window, m.spec, m.created_us "
            "FROM monitor_batches b JOIN monitors m ON m.id = b.monitor WHERE b.segment = ? ORDER BY b.monitor, b.seq", (segment,),
        )  # fmt: skip
        import json as _json

        for _, _, first, n, received, _, _, next_window, spec, created in rows:
            window = _json.loads(spec)["window"]
            if window["kind"] == "rows" and int(first) + int(n) > int(next_window) * int(window["size"]):
                return False
            if window["kind"] == "time" and int(received) >= int(created) + int(next_window) * int(window["size"]) * 1_000_000:
                return False
        by_monitor: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_monitor.setdefault(row[0], []).append(row)
        keys: dict[str, str] = {}
        for monitor_id, items in by_monitor.items():
            tables = []
            for _, seq, _, _, _, offset, length, *_ in items:
                table = read_batch(ws, segment, int(offset), int(length))
                tables.append(table.append_column("_seq", pa.array([int(seq)] * table.num_rows, pa.int64())))
            sink = pa.BufferOutputStream()
            pq.write_table(pa.concat_tables(tables), sink, compression="zstd")
            key = f"monitor/{monitor_id}/events/{segment.removesuffix('.seg')}-{uuid.uuid4().hex[:6]}.parquet"
            ws.store.put_bytes(key, sink.getvalue().to_pybytes())
            keys[monitor_id] = key
        orphans = []
        with ws.ledger.transaction() as tx:
            for monitor_id, key in keys.items():
                if not tx.execute("UPDATE monitor_batches SET archive = ?, segment = NULL WHERE monitor = ? AND segment = ? RETURNING seq",
                                  (key, monitor_id, segment)):  # fmt: skip
                    orphans.append(key)  # the monitor was deleted while its roll was written
        for key in orphans:
            ws.store.delete(key)
        try:
            (segments_dir(ws) / segment).unlink()
        except FileNotFoundError:
            pass
        return True


class _Background:
    """The window processor and webhook sender in a child process, off the ingesting process's GIL.

    Sketching every batch costs about as much CPU as parsing it; in one process the two
    contend for the GIL and acknowledgement latency suffers. The child shares nothing
    but the workspace (ledger, segments, store) and exits when its parent goes away.
    """

    def __init__(self, root: Any, base_url: str, sender_kwargs: dict[str, float]) -> None:
        import multiprocessing

        self._ctx = multiprocessing.get_context("spawn")
        self.root = str(root)
        self.base_url = base_url
        self.sender_kwargs = sender_kwargs
        self._wake: Any = None
        self._stop: Any = None
        self._ready: Any = None
        self._proc: Any = None

    def start(self, wait: float = 120.0) -> None:
        """Start the child and wait (up to ``wait`` seconds) until it has imported and opened everything.

        A child still starting up takes a core for about a second; the service announces
        itself only afterwards, so the first batches are not acknowledged late behind it.
        """
        import signal

        # Started with SIGHUP ignored, which the child and multiprocessing's resource tracker (launched with the
        # first Event) keep: a closed terminal hangs up the whole group, and the tracker, dead, was relaunched
        # with a traceback per semaphore while the service stopped; the service stops them itself.
        hangup = getattr(signal, "SIGHUP", None)
        previous = signal.signal(hangup, signal.SIG_IGN) if hangup is not None and threading.current_thread() is threading.main_thread() else None
        try:
            self._wake, self._stop, self._ready = self._ctx.Event(), self._ctx.Event(), self._ctx.Event()
            self._proc = self._ctx.Process(target=_background_main, name="assay-windows",
                                           args=(self.root, self.base_url, self.sender_kwargs, self._stop, self._wake, os.getpid(), self._ready),
                                           daemon=True)  # fmt: skip
            self._proc.start()
        finally:
            if previous is not None:
                signal.signal(hangup, previous)
        deadline = time.monotonic() + wait
        while not self._ready.wait(0.1):
            if not self._proc.is_alive() or time.monotonic() > deadline:
                log.error("the window/webhook process is not ready; the service goes on and restarts it if it died")
                break

    def wake(self) -> None:
        wake = self._wake
        if wake is not None:
            wake.set()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def stop(self) -> None:
        if self._stop is None:
            return
        self._stop.set()
        self._wake.set()
        if self._proc is not None:
            self._proc.join(timeout=30)
            if self._proc.is_alive():
                self._proc.kill()  # it ignores SIGTERM
                self._proc.join(timeout=5)
            self._proc = None
        # Dropped now, their named semaphores are unlinked now: `assay serve` stopped by SIGTERM ends
        # by that signal without running exit handlers, and the resource tracker then warned of
        # "leaked semaphore objects" on stderr.
        self._wake = self._stop = self._ready = None


def _background_main(root: str, base_url: str, sender_kwargs: dict[str, float], stop: Any, wake: Any, parent: int, ready: Any) -> None:
    import signal

    # A Ctrl-C of `assay serve` reaches this child too, and so does a SIGTERM sent to its whole group
    # (systemd's default KillMode, `kill -- -PGID`): the parent stops it (or it ends when the parent
    # is gone). Killed by a SIGTERM, it was restarted by a parent about to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if hasattr(signal, "SIGHUP"):  # a closed terminal hangs up the whole group: the parent stops this child then
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    import scipy.stats  # noqa: F401 - loaded before the service announces itself, not at the first window close

    from assay.workspace import Workspace

    ws = Workspace.open(root)
    processor = WindowProcessor(ws, base_url=base_url)
    sender = WebhookSender(ws, **sender_kwargs).start()
    processor.on_alert = sender.wake
    ready.set()
    try:
        while not stop.is_set() and os.getppid() == parent:
            wake.wait(0.2)
            wake.clear()
            try:
                while not stop.is_set() and processor.step():
                    pass
            except Exception:  # keep going; the next pass starts again from the ledger
                log.exception("window processing failed; retrying")
                processor._states.clear()
                time.sleep(1.0)
    finally:
        sender.stop()
        ws.close()


def _warm_up() -> None:
    """Validate and encode a tiny batch once, so that whatever the ingestion path loads on first
    use is loaded before the service announces itself, not while the first batches wait."""
    schema = {"x": "numeric", "c": "categorical"}
    to_ipc(rows_from_json([{"x": 1.0, "c": "a"}, {"x": None, "c": None}], schema))
    rows_from_arrow(to_ipc(pa.table({"x": [1.0], "c": ["a"]})), schema)


def check_batch_id(batch_id: str | None) -> str:
    if batch_id is None or batch_id == "":
        return uuid.uuid4().hex  # no idempotency asked for
    if not isinstance(batch_id, str) or len(batch_id) > MAX_BATCH_ID or not batch_id.isprintable():
        raise InputError(f"the batch id must be a printable string of at most {MAX_BATCH_ID} characters")
    return batch_id
