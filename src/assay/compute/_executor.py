"""Where batch work runs: in this process, a local process pool, or a Ray cluster.

The pillars fan work out through this small interface (``map``): drift counts the
sketches of a table's partitions and merges them; checks judge robustness batches.
``fn`` and each task must be picklable (a module-level function and plain data).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from assay.errors import UsageError
from assay.extras import import_optional

__all__ = ["LocalExecutor", "RayExecutor", "get_executor"]


class LocalExecutor:
    """Runs tasks in a pool of ``workers`` processes (inline when there is one task or one worker).

    The pool starts on the first ``map`` that needs it and is reused by later calls (drift
    maps a table's partitions several times: edges, reference counts, current counts), so
    the workers' interpreter start-up and imports are paid once. ``close()`` (or leaving a
    ``with`` block) stops it; an executor that is dropped or left open at exit stops it too.
    """

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self._pool: Any = None
        self._finalizer: Any = None

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> list[Any]:
        if self.workers <= 1 or len(tasks) <= 1:
            return [fn(task) for task in tasks]
        pool = self._pool or self._start()
        return list(pool.map(fn, tasks))

    def _start(self) -> Any:
        import concurrent.futures
        import multiprocessing
        import weakref

        # spawn, not fork: Arrow and BLAS keep threads that a fork would copy mid-lock
        context = multiprocessing.get_context("spawn")
        self._pool = concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=context)
        self._finalizer = weakref.finalize(self, self._pool.shutdown, wait=True, cancel_futures=True)
        return self._pool

    def close(self) -> None:
        """Stop the worker processes (a later ``map`` starts new ones)."""
        if self._finalizer is not None:
            self._finalizer()
        self._pool = self._finalizer = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RayExecutor:
    """Runs tasks as Ray tasks on the cluster at ``address`` (``auto``, ``ray://…``) or a local instance."""

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> list[Any]:
        ray = import_optional("ray", "ray")
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if self.address:
                kwargs["address"] = self.address
            elif self.num_cpus:
                kwargs["num_cpus"] = self.num_cpus
            # Ray logs a notice that token authentication is on (the secure default) on every start;
            # drop that one record, keep its warning that authentication is off
            logging.getLogger("ray._private.authentication.authentication_token_setup").addFilter(_drop_token_notice)
            ray.init(**kwargs)
        remote = ray.remote(fn)
        refs = [remote.remote(task) for task in tasks]
        try:
            return list(ray.get(refs))
        except Exception:
            # the first error ends the map; collect the rest, or Ray prints each other task that
            # failed as an "Unhandled error" traceback on stderr when its result is dropped
            for ref in refs:
                ray.cancel(ref)
            for ref in refs:
                try:
                    ray.get(ref)
                except Exception:  # noqa: BLE001, S112 - the first error is the one raised
                    continue
            raise


def _drop_token_notice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Token authentication is enabled for this Ray cluster")


def get_executor(name: str | None, *, workers: int | None = None, address: str | None = None) -> LocalExecutor | RayExecutor:
    """``local`` (default) or ``ray``."""
    if name in (None, "local"):
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(address, num_cpus=workers)
    raise UsageError(f"unknown executor {name!r}", hint="use 'local' or 'ray'")
