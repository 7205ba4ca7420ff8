"""Failed sign-ins per client address, with exponential back-off.

A client address may fail ``free`` times (a mistyped password, a stale token) without
delay; each failure after that shuts the address out for ``base * 2**k`` seconds, up to
``cap``. Failures are forgotten after ``forget`` seconds without one. During a lock-out
the server answers 429 with ``Retry-After`` and checks no credential, so guessing gets
no faster by sending more — except that a token this server has seen valid recently is
still checked: a legitimate client behind the same address keeps working, and learning
that a known-valid token is valid tells a guesser nothing. Only failures count, never
successes, so one valid credential cannot be used to reset the count between guesses.

The address is the peer's, or, behind a reverse proxy on this host, the one it puts in
X-Forwarded-For (uvicorn trusts that header from 127.0.0.1 only).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["Throttle"]


class Throttle:
    """Per-address failure counter; :meth:`retry_after` says how long an address must still wait."""

    def __init__(self, *, free: int = 5, base: float = 1.0, cap: float = 300.0, forget: float = 900.0, max_clients: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.free, self.base, self.cap, self.forget, self.max_clients = free, base, cap, forget, max_clients
        self.clock = clock
        self._state: dict[str, list[float]] = {}  # address -> [failures, last failure, blocked until]
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Whole seconds ``client`` must still wait before its next attempt is checked (0: go ahead)."""
        with self._lock:
            state = self._state.get(client)
            if state is None:
                return 0
            wait = state[2] - self.clock()
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, client: str) -> int:
        """Record a failed attempt from ``client``; the seconds it is now shut out for (0 within the free attempts)."""
        now = self.clock()
        with self._lock:
            state = self._state.get(client)
            if state is None or now - state[1] > self.forget:
                if len(self._state) >= self.max_clients:
                    self._prune(now)
                state = self._state[client] = [0.0, now, 0.0]
            state[0] += 1
            state[1] = now
            over = int(state[0]) - self.free
            if over <= 0:
                return 0
            delay = min(self.cap, self.base * 2 ** min(over - 1, 40))
            state[2] = max(state[2], now + delay)
            return math.ceil(delay)

    def _prune(self, now: float) -> None:
        for client in [c for c, s in self._state.items() if now - s[1] > self.forget and s[2] <= now]:
            del self._state[client]
        if len(self._state) >= self.max_clients:  # still full: keep the most recent half
            recent = sorted(self._state.items(), key=lambda item: item[1][1])[len(self._state) // 2:]
            self._state = dict(recent)
