"""A background thread that runs ``step()`` passes on a tick, or sooner when woken."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

__all__ = ["TickWorker"]

log = logging.getLogger("assay.monitor")


class TickWorker:
    """Base of the service's workers: ``step()`` returns truthy while there is more to do."""

    thread_name = "assay-worker"
    tick: float = 0.5

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> Any:
        raise NotImplementedError

    def join_timeout(self) -> float:
        return 60.0

    def on_error(self) -> None:
        """Called after a failed pass (already logged); the next tick retries."""

    def start(self) -> Any:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.join_timeout())
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.tick)
            self._wake.clear()
            try:
                while not self._stop.is_set() and self.step():
                    pass
            except Exception:  # keep the service up: the work stays in the ledger and the next tick retries
                log.exception("%s pass failed; retrying", self.thread_name)
                self.on_error()
                time.sleep(1.0)
