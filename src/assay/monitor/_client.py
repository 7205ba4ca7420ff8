"""A small Python client: ``Client(url, token, monitor="churn").log(rows)``.

Rows are buffered and sent in batches by a background thread; the buffer is bounded
(``log`` blocks, or raises with ``block=False``, when it is full). Each batch carries a
batch id, so a retry after a timeout or a server restart is stored once. Only the
standard library is used, so the client needs no extra.

Rows the service refuses (a wrong column or type, a bad token, no such monitor) cannot
be retried; they are counted, and :meth:`flush` (so also :meth:`close` and the end of a
``with`` block) raises naming how many and why, rather than losing them silently.
"""

from __future__ import annotations

import json
import math
import queue
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, Self

from assay._wording import counted
from assay.errors import AssayError, InputError

__all__ = ["BufferFull", "Client"]


class BufferFull(AssayError):
    """The client's local buffer is full: the server is slower than the producer, or down."""


class Client:
    """Send rows to monitor ``monitor`` on the service at ``url`` with ``token`` (scope ingest).

    Example::

        with Client("http://127.0.0.1:8765/monitors/churn", token) as client:  # or Client(url, token, monitor="churn")
            client.log({"age": 41, "country": "DE"})
    """

    def __init__(self, url: str, token: str, *, monitor: str | None = None, batch_size: int = 500, flush_interval: float = 1.0,
                 max_buffer: int = 100_000, timeout: float = 30.0, max_retry_delay: float = 30.0) -> None:  # fmt: skip
        url = url.rstrip("/")
        if monitor is None:  # Client("http://127.0.0.1:8765/monitors/churn", token) names the monitor in the URL
            match = re.search(r"^(.*?)(?:/api/v1)?/monitors/([^/]+)$", url)
            if not match:
                raise InputError(f"no monitor named in {url!r}", hint="pass monitor=NAME, or a URL ending in /monitors/NAME")
            url, monitor = match.group(1), match.group(2)
        self.url = url
        self.token = token
        self.monitor = monitor
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.max_retry_delay = max_retry_delay
        self.max_buffer = max_buffer
        self._rows: queue.Queue[dict[str, Any]] = queue.Queue()
        self._inflight = 0
        self._lock = threading.Condition()
        self._closed = False
        self.sent_rows = 0  # acknowledged by the service
        self.refused_rows = 0  # refused by it, or given up on; raised by the next flush
        self.last_error: str | None = None
        self._unreported = 0
        self._refusal: str | None = None
        self._thread = threading.Thread(target=self._run, name="assay-client", daemon=True)
        self._thread.start()

    # -- public -------------------------------------------------------------------------------
    def log(self, rows: dict[str, Any] | list[dict[str, Any]], *, block: bool = True, timeout: float | None = None) -> None:
        """Queue one row or a list of rows; returns at once unless the buffer is full."""
        if self._closed:
            raise AssayError("the client is closed")
        batch = [rows] if isinstance(rows, dict) else list(rows)
        for row in batch:
            if not isinstance(row, dict):
                raise InputError(f"a row must be a dict, not {type(row).__name__}")
        deadline = None if timeout is None else time.monotonic() + timeout
        for row in batch:
            with self._lock:  # the bound counts every row not yet acknowledged, queued or in a batch being sent
                while self._inflight >= self.max_buffer:
                    left = None if deadline is None else deadline - time.monotonic()
                    if not block or (left is not None and left <= 0):
                        raise BufferFull(f"the client buffer holds {self._inflight:,} unacknowledged rows", hint="slow down, or check that the service is up")
                    self._lock.wait(0.1 if left is None else min(left, 0.1))
                self._inflight += 1
            self._rows.put(row)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until the service has answered for every queued row.

        Raises :class:`~assay.errors.InputError` when it refused some since the last flush (they are not stored)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._inflight:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise AssayError(f"{counted(self._inflight, 'row')} not acknowledged yet", hint=f"last error: {self.last_error}")
                self._lock.wait(0.1 if left is None else min(left, 0.1))
            unreported, refusal = self._unreported, self._refusal
            self._unreported, self._refusal = 0, None
        if unreported:
            raise InputError(f"{counted(unreported, 'row')} not stored: {refusal}",
                             hint="fix those rows and log them again; client.sent_rows counts the rows stored")  # fmt: skip

    def close(self, timeout: float | None = 60.0) -> None:
        try:
            self.flush(timeout)
        finally:
            self._closed = True
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # an exception already on its way out is the one to see
            self.close()
        except AssayError:
            pass

    def send(self, rows: list[dict[str, Any]], *, batch_id: str | None = None) -> dict[str, Any]:
        """Send one batch now (no buffering), retrying until acknowledged; returns the ack."""
        body = _json_body({"rows": rows, "batch_id": batch_id or uuid.uuid4().hex})
        attempt = 0
        while True:
            try:
                return self._post(body)
            except _Retry as exc:
                self.last_error = str(exc)
                if self._closed and attempt > 3:
                    raise AssayError(f"giving up on a batch: {exc}") from None
                time.sleep(max(min(self.max_retry_delay, 0.2 * 2**attempt), exc.retry_after))  # a 429 says how long to wait
                attempt += 1

    def send_labels(self, labels: dict[str, Any] | list[tuple[str, Any]], *, attempts: int = 5) -> int:
        """Send ground truth now, by event id (``{"e17": "churned", ...}``); returns how many the service stored.

        The labels are joined to the events that carried those ``event_id`` values; with the monitor's
        prediction column they give each window its accuracy (or MAE and RMSE). Sending the same labels
        again is harmless. Sent in requests of at most 100,000 labels, each retried on a network error or 5xx.
        """
        items = list(labels.items()) if isinstance(labels, dict) else list(labels)
        stored = 0
        for at in range(0, len(items), 100_000):
            body = json.dumps({"labels": [{"event_id": e, "label": v} for e, v in items[at:at + 100_000]]}).encode()
            for attempt in range(attempts):
                try:
                    stored += int(self._request("labels", body)["stored"])
                    break
                except _Retry as exc:
                    self.last_error = str(exc)
                    if attempt == attempts - 1:
                        raise AssayError(f"giving up on labels: {exc}", hint="check that the service is up") from None
                    time.sleep(max(min(self.max_retry_delay, 0.2 * 2**attempt), exc.retry_after))
        return stored

    # -- background -------------------------------------------------------------------------------
    def _run(self) -> None:
        while not (self._closed and self._rows.empty()):
            batch: list[dict[str, Any]] = []
            deadline = time.monotonic() + self.flush_interval
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._rows.get(timeout=max(0.0, min(0.05, deadline - time.monotonic()))))
                except queue.Empty:
                    if time.monotonic() >= deadline or self._closed:
                        break
            if not batch:
                continue
            refusal = None
            try:
                self.send(batch)
            except AssayError as exc:  # refused (retrying cannot help), or given up on at close
                refusal = self.last_error = exc.message
            except Exception as exc:  # noqa: BLE001 - reported by flush: a dead thread left flush waiting on rows it would never answer for
                refusal = self.last_error = f"{type(exc).__name__}: {exc}"
            with self._lock:
                if refusal is None:
                    self.sent_rows += len(batch)
                else:
                    self.refused_rows += len(batch)
                    self._unreported += len(batch)
                    self._refusal = self._refusal or refusal  # the first cause, as a batch's error names its first problem
                self._inflight -= len(batch)
                self._lock.notify_all()

    def _post(self, body: bytes) -> dict[str, Any]:
        return self._request("events", body)

    def _request(self, what: str, body: bytes) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.url}/api/v1/monitors/{self.monitor}/{what}", data=body, method="POST",
                                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # the caller's service URL
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:2000].decode("utf-8", "replace")
            try:  # the service's error document: say its message and hint, not the raw JSON
                doc = json.loads(detail)
                detail = f"{doc['message']}" + (f" (hint: {doc['hint']})" if doc.get("hint") else "")
            except (ValueError, TypeError, KeyError):
                pass
            if exc.code in (400, 401, 403, 404, 413, 415, 422):
                raise InputError(f"the service refused the {'batch' if what == 'events' else what} (HTTP {exc.code}): {detail}") from None
            wait = exc.headers.get("Retry-After", "") if exc.headers else ""
            raise _Retry(f"HTTP {exc.code}: {detail}", float(wait) if wait.isdigit() else 0.0) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise _Retry(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None


def _json_body(doc: dict[str, Any]) -> bytes:
    """``doc`` as JSON; NaN (pandas' missing value) becomes null, which the service also counts as missing,
    and a NumPy scalar (``np.int64``, ``np.float32``, ``np.bool_``) its Python value."""
    try:
        return json.dumps(doc, allow_nan=False, default=_numpy_value).encode()
    except (ValueError, TypeError):
        pass
    rows = []
    for i, row in enumerate(doc["rows"]):
        clean = dict(row)
        for key, value in row.items():
            value = clean[key] = _numpy_value(value) if _is_numpy(value) else value
            if isinstance(value, float) and not math.isfinite(value):
                if math.isnan(value):
                    clean[key] = None
                else:
                    raise InputError(f"column {key!r}, row {i}: {value} cannot be sent as JSON",
                                     hint="send null for a missing value, or send the batch as an Arrow IPC stream, which carries infinities")  # fmt: skip
            elif value is not None and not isinstance(value, (str, int, float)):
                raise InputError(f"column {key!r}, row {i}: a {type(value).__name__} cannot be sent as JSON", hint="send numbers, strings or None")
        rows.append(clean)
    return json.dumps({**doc, "rows": rows}, allow_nan=False).encode()


def _is_numpy(value: Any) -> bool:
    return type(value).__module__ == "numpy" and hasattr(value, "item")


def _numpy_value(value: Any) -> Any:
    """A NumPy scalar's Python value (json's ``default``): rows built from arrays hold them, and
    json.dumps raised TypeError on them, which killed the sending thread."""
    if _is_numpy(value):
        return value.item()
    raise TypeError(f"a {type(value).__name__} cannot be sent as JSON")


class _Retry(Exception):
    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
