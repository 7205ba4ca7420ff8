"""Deliver alerts, and the ends of their streaks, to webhooks: retried with exponential back-off
until the receiver says 2xx.

Each (alert, url) pair is one row in ``webhook_deliveries`` (unique), created in the
same transaction as the alert, so a delivery is never lost to a crash. A streak's end
is a ``monitor_alerts`` row of kind ``resolved`` (see :mod:`assay.monitor._alerts`),
delivered the same way; the body posted says which kind it is. A url gets the posts of
one rule in the order of their windows: a post waits while one of an earlier window is
still pending there (in a back-off after an outage), so a streak's end never reaches
the on-call after the next streak's first alert, nor before its own. A post the
receiver refuses outright (HTTP 4xx but 408 and 429, or a redirect, which is not followed:
urllib turned a redirected POST into a GET without the alert, and its 200 counted as
delivered) holds none back, as it may never be taken, nor one tried HOLD_ATTEMPTS times (about 45 minutes of failures): a receiver
that fails one post for good must not keep the next alerts from the on-call for ever.
Delivery is
at-least-once over the network: a receiver that answered 2xx too late for us to see
gets the alert again, with the same ``Idempotency-Key`` (the alert id) to drop it by.
"""

from __future__ import annotations

import logging
import random
import time
import urllib.error
import urllib.request
from typing import Any

from assay.monitor._worker import TickWorker

__all__ = ["WebhookSender", "backoff_seconds"]

log = logging.getLogger("assay.monitor")

# Posts of a rule wait behind an earlier window's post to their url until it has been tried this
# often: with the default back-off (0.5 s doubling, capped at 300 s), about 45 minutes.
HOLD_ATTEMPTS = 20


def backoff_seconds(attempts: int, *, base: float = 0.5, cap: float = 300.0, rng: random.Random | None = None) -> float:
    """Full-jitter exponential back-off: uniform in [d/2, d] with d = min(cap, base * 2**attempts)."""
    delay = min(cap, base * (2 ** min(attempts, 30)))
    return delay * (0.5 + 0.5 * (rng or random).random())


class WebhookSender(TickWorker):
    """Sends due deliveries. Call :meth:`step` or run the thread with :meth:`start`."""

    thread_name = "assay-webhooks"

    def __init__(self, ws: Any, *, timeout: float = 5.0, base_delay: float = 0.5, max_delay: float = 300.0, tick: float = 0.5) -> None:
        self.ws = ws
        self.timeout = timeout
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.tick = tick
        super().__init__()

    def join_timeout(self) -> float:
        return self.timeout + 5  # a delivery in flight may take up to the request timeout

    def step(self) -> int:
        """Attempt every delivery that is due; return how many were attempted."""
        now_us = time.time_ns() // 1000
        # a post waits while one of its rule for an earlier window is pending to that url (in a back-off after an
        # outage), unless the receiver refused that one outright or it failed HOLD_ATTEMPTS times: an on-call must
        # not hear "resolved" before the alert it resolves, nor after the next streak's first alert
        due = self.ws.ledger.query(
            "SELECT d.id, d.url, d.attempts, a.id, a.body FROM webhook_deliveries d JOIN monitor_alerts a ON a.id = d.alert_id "
            "WHERE d.state = 'pending' AND d.next_attempt_us <= ? AND NOT EXISTS ("
            "SELECT 1 FROM webhook_deliveries e JOIN monitor_alerts b ON b.id = e.alert_id WHERE e.url = d.url AND e.state = 'pending' "
            "AND b.monitor = a.monitor AND b.rule = a.rule AND b.window_idx < a.window_idx AND e.attempts < ? "
            "AND (e.last_error IS NULL OR substr(e.last_error, 1, 6) NOT IN ('HTTP 3', 'HTTP 4') OR e.last_error IN ('HTTP 408', 'HTTP 429'))) "
            "ORDER BY d.next_attempt_us LIMIT 20", (now_us, HOLD_ATTEMPTS),
        )  # fmt: skip
        for delivery_id, url, attempts, alert_id, body in due:
            if self._stop.is_set():
                break
            error = self._post(url, body.encode("utf-8"), alert_id, delivery_id, int(attempts) + 1)
            if error is None:
                self.ws.ledger.execute(
                    "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL WHERE id = ?",
                    (_utcnow(), delivery_id),
                )
            else:
                delay = backoff_seconds(int(attempts), base=self.base_delay, cap=self.max_delay)
                self.ws.ledger.execute(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_us = ?, last_error = ? WHERE id = ?",
                    (time.time_ns() // 1000 + int(delay * 1e6), error[:500], delivery_id),
                )
                log.warning("webhook %s failed (attempt %d): %s; next in %.1fs", url, int(attempts) + 1, error, delay)
        return len(due)

    def _post(self, url: str, body: bytes, alert_id: str, delivery_id: str, attempt: int) -> str | None:
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "assay-webhook/1", "Idempotency-Key": alert_id,
            "X-Assay-Alert": alert_id, "X-Assay-Delivery": delivery_id, "X-Assay-Attempt": str(attempt),
        })  # fmt: skip
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:  # http(s) only, checked at monitor creation
                response.read(65536)
                return None if 200 <= response.status < 300 else f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                return f"HTTP {exc.code}: a redirect to {exc.headers.get('Location')!r}, not followed (give the webhook its final URL)"
            return f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects come back as HTTPError: urllib follows a 301, 302 or 303 to a POST with a GET that
    drops the alert, and the page it reaches answers 200, which looked like a delivery."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _utcnow() -> str:
    from assay.ledger import utcnow

    return utcnow()


def deliveries(ws: Any, alert_id: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT id, alert_id, url, state, attempts, last_error, delivered_at FROM webhook_deliveries"
    params: tuple[Any, ...] = ()
    if alert_id:
        sql += " WHERE alert_id = ?"
        params = (alert_id,)
    rows = ws.ledger.query(sql + " ORDER BY id", params)
    return [{"id": r[0], "alert_id": r[1], "url": r[2], "state": r[3], "attempts": int(r[4]), "last_error": r[5], "delivered_at": r[6]} for r in rows]


