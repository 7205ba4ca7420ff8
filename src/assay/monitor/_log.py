"""The durable event log: segment files for the payload, the ledger for what was acknowledged.

One writer thread drains a queue of batches (group commit): it appends each new
batch to the open segment file as ``magic | length | crc32 | Arrow IPC``, fsyncs
once for the group, then commits one ledger transaction that indexes every batch
(monitor, batch id, sequence, first event ordinal, offset). Only then are the
callers told — so an acknowledged batch is on disk twice over, and the ledger's
primary key (monitor, batch id) makes a retried batch a no-op. Bytes written but
never indexed (a crash between fsync and commit) are never referenced again;
the client retries and the batch is written afresh.
"""

from __future__ import annotations

import concurrent.futures
import os
import queue
import struct
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from assay._wording import counted
from assay.config import fsync_dir
from assay.errors import AssayError, CorruptionError, InputError, NotFoundError

__all__ = ["Ack", "EventLog", "read_batch"]

MAGIC = b"ASEG"
HEADER = struct.Struct(">4sQI")


@dataclass
class Ack:
    batch_id: str
    seq: int
    first_event: int
    rows: int
    duplicate: bool

    def to_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "seq": self.seq, "first_event": self.first_event, "accepted": self.rows, "duplicate": self.duplicate}


@dataclass
class _Pending:
    monitor_id: str
    batch_id: str
    payload: bytes
    rows: int
    future: concurrent.futures.Future


def service_dir(ws: Any) -> Path:
    """``.assay/monitor/``: segments, the session secret and the service lock; never for version control."""
    path = ws.dir / "monitor"
    path.mkdir(parents=True, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# written by assay serve: event segments, the dashboard's session secret, the lock\n*\n", encoding="utf-8")
    return path


def segments_dir(ws: Any) -> Path:
    path = service_dir(ws) / "segments"
    path.mkdir(exist_ok=True)
    return path


def read_batch(ws: Any, segment: str, offset: int, length: int) -> pa.Table:
    """Read one indexed batch back from its segment file, checking its CRC."""
    with open(segments_dir(ws) / segment, "rb") as handle:
        handle.seek(offset)
        raw = handle.read(length)
    magic, size, crc = HEADER.unpack_from(raw)
    payload = raw[HEADER.size:]
    if magic != MAGIC or size != len(payload) or zlib.crc32(payload) != crc:
        raise CorruptionError(f"segment {segment} is damaged at offset {offset}", key=segment)
    return pa.ipc.open_stream(pa.py_buffer(payload)).read_all()


class EventLog:
    """Append batches durably; :meth:`append` returns once the batch is fsynced and committed."""

    def __init__(self, ws: Any, *, segment_bytes: int = 64 << 20, segment_seconds: float = 30.0, max_group: int = 256) -> None:
        self.ws = ws
        self.segment_bytes = segment_bytes
        self.segment_seconds = segment_seconds
        self.max_group = max_group
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self.segment: str | None = None
        self._segment_size = 0
        self._segment_opened = 0.0
        self._counters: dict[str, list[int]] = {}  # monitor id -> [batches, events]
        self._last_us = 0
        self.closed_segments: queue.Queue[str] = queue.Queue()
        self.on_commit: Any = None  # called after each group commit (wakes the window processor)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> EventLog:
        self._open_segment()
        self._thread = threading.Thread(target=self._run, name="assay-event-log", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _open_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            if self.segment:
                self.closed_segments.put(self.segment)
        folder = segments_dir(self.ws)
        self.segment = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.seg"
        self._fd = os.open(folder / self.segment, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fsync_dir(folder)
        self._segment_size = 0
        self._segment_opened = time.monotonic()

    # -- appending ------------------------------------------------------------------------
    def append(self, monitor_id: str, batch_id: str, table: pa.Table, *, timeout: float = 60.0) -> Ack:
        return self.submit(monitor_id, batch_id, table).result(timeout=timeout)

    def submit(self, monitor_id: str, batch_id: str, table: pa.Table) -> concurrent.futures.Future:
        """Queue a batch; the future resolves to an :class:`Ack` once durable (or to the error)."""
        from assay.monitor._schema import to_ipc

        future: concurrent.futures.Future = concurrent.futures.Future()
        if self._thread is None:
            future.set_exception(AssayError("the event log is not running"))
            return future
        self._queue.put(_Pending(monitor_id, batch_id, to_ipc(table), table.num_rows, future))
        return future

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            stop = False
            while len(group) < self.max_group:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                group.append(more)
            try:
                results = self._write_group(group)
            except BaseException as exc:  # noqa: BLE001 - every waiting caller must hear about it
                for pending in group:
                    if not pending.future.done():
                        pending.future.set_exception(exc if isinstance(exc, Exception) else AssayError(str(exc)))
            else:
                for pending, ack in zip(group, results):
                    if isinstance(ack, Exception):
                        pending.future.set_exception(ack)
                    else:
                        pending.future.set_result(ack)
                if self.on_commit is not None:
                    self.on_commit()
            if stop:
                return
            if self._segment_size >= self.segment_bytes or (self._segment_size and time.monotonic() - self._segment_opened > self.segment_seconds):
                self._open_segment()

    def _counter(self, tx: Any, monitor_id: str) -> list[int]:
        if monitor_id not in self._counters:
            rows = tx.execute("SELECT batches, events FROM monitors WHERE id = ?", (monitor_id,))
            if not rows:
                raise AssayError(f"monitor {monitor_id} vanished")
            self._counters[monitor_id] = [int(rows[0][0]), int(rows[0][1])]
        return self._counters[monitor_id]

    def _write_group(self, group: list[_Pending]) -> list[Ack | Exception]:
        from assay.monitor._performance import lock_monitor

        ledger = self.ws.ledger
        results: list[Ack | Exception | None] = [None] * len(group)
        # which batches are retries of acknowledged ones (or repeated within this group)
        known: dict[tuple[str, str], Ack] = {}
        by_monitor: dict[str, list[str]] = {}
        for p in group:
            by_monitor.setdefault(p.monitor_id, []).append(p.batch_id)
        for monitor_id, ids in by_monitor.items():
            unique = sorted(set(ids))
            for start in range(0, len(unique), 500):
                chunk = unique[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for bid, seq, first, n in ledger.query(
                    f"SELECT batch_id, seq, first_event, n_rows FROM monitor_batches WHERE monitor = ? AND batch_id IN ({marks})", (monitor_id, *chunk)
                ):
                    known[(monitor_id, bid)] = Ack(bid, int(seq), int(first), int(n), True)
        fresh: list[tuple[int, _Pending, int, int]] = []  # index, pending, offset, length
        blob = bytearray()
        seen: set[tuple[str, str]] = set()
        for i, p in enumerate(group):
            key = (p.monitor_id, p.batch_id)
            if key in known or key in seen:
                continue
            seen.add(key)
            record = HEADER.pack(MAGIC, len(p.payload), zlib.crc32(p.payload)) + p.payload
            fresh.append((i, p, self._segment_size + len(blob), len(record)))
            blob += record
        if fresh:
            assert self._fd is not None
            view = memoryview(blob)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
            self._segment_size += len(blob)
            now_us = max(time.time_ns() // 1000, self._last_us)
            staged: dict[str, list[int]] = {}
            with ledger.transaction() as tx:
                # the monitor's row lock first: a monitor deleted meanwhile refuses its batches (their bytes stay
                # unreferenced in the segment, as after a crash)
                gone = {m for m in sorted({p.monitor_id for _, p, _, _ in fresh}) if not lock_monitor(tx, m)}  # one order: no deadlock
                for monitor_id in gone:
                    self._counters.pop(monitor_id, None)
                rows = []
                for i, p, offset, length in fresh:
                    if p.monitor_id in gone:
                        results[i] = NotFoundError("the monitor was deleted", hint="create it again, or send the events to another monitor")
                        continue
                    counter = staged.setdefault(p.monitor_id, list(self._counter(tx, p.monitor_id)))
                    seq, first = counter[0], counter[1]
                    counter[0] += 1
                    counter[1] += p.rows
                    rows.append((p.monitor_id, p.batch_id, seq, first, p.rows, now_us, self.segment, offset, length))
                    results[i] = Ack(p.batch_id, seq, first, p.rows, False)
                tx.executemany(
                    "INSERT INTO monitor_batches (monitor, batch_id, seq, first_event, n_rows, received_us, segment, seg_offset, seg_length) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows,
                )  # fmt: skip
                for monitor_id, (batches, events) in staged.items():
                    tx.execute("UPDATE monitors SET batches = ?, events = ? WHERE id = ?", (batches, events, monitor_id))
            self._counters.update(staged)
            self._last_us = now_us
        for i, p in enumerate(group):
            if results[i] is None:
                key = (p.monitor_id, p.batch_id)
                if key in known:
                    results[i] = known[key]
                else:  # repeated inside this group: the first copy's ack (marked as a duplicate), or its error
                    first = next(r for j, r in enumerate(results) if r is not None and group[j].monitor_id == p.monitor_id and group[j].batch_id == p.batch_id)
                    results[i] = first if isinstance(first, Exception) else Ack(first.batch_id, first.seq, first.first_event, first.rows, True)
                ack = results[i]
                if isinstance(ack, Ack) and ack.rows != p.rows:
                    # a retry sends the same rows: another count under a used id is another batch, which the
                    # duplicate answer (200, "accepted" the first count) dropped without a word
                    results[i] = InputError(f"the batch id {p.batch_id!r} was used for a batch of {counted(ack.rows, 'row', grouped=True)}; this one has {p.rows:,}",
                                            hint="give each batch its own id (Idempotency-Key); send the same rows again only to retry")  # fmt: skip
        return [r for r in results if r is not None]
