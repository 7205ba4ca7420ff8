"""Work shared out among forked processes, one per core (Linux).

For many small files the interpreter's work per file (open, stat, read, hash, a
manifest) is the cost, not the bytes, and threads take turns holding the
interpreter lock; each forked process has its own. :func:`fork_map` runs one
child per share of the work, each reporting its result through a pipe and its
progress through shared memory. Used by ``data add`` and status's re-hash
(:mod:`assay.data._workers`), ``data checkout`` and the stat walk of a clean
``status`` (:mod:`assay.data._sigwalk`).

Only a process with a single thread forks (:func:`can_fork`): a child has only
the forking thread, and a lock another thread held would stay held in it, so
assay's server and monitor keep their threaded paths. Signals are held while a
child is created (so every child is on the books and reaped), a child closes the
pipes it inherited, never returns into the parent's code (``os._exit``), and can
die with its parent (``PR_SET_PDEATHSIG``): a killed command leaves no process
writing behind it.
"""

from __future__ import annotations

import _thread
import gc
import marshal
import mmap
import os
import selectors
import signal
import struct
import sys

from assay.errors import AssayError

TYPE_CHECKING = False  # typing is not loaded for this: the early status walk uses it (_prefetch.py)
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, TypeVar

    T = TypeVar("T")

__all__ = ["can_fork", "fork_map", "processes_for", "quick_handoffs", "raise_first_failure", "split"]

_COUNTER = struct.Struct("<q")
FORK_MIN_FILES = 2048
FORK_MIN_BYTES = 512 << 20

def can_fork() -> bool:
    """Whether this process may fork workers: Linux, and a single thread (Python's or not)."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    threading = sys.modules.get("threading")  # not loaded: no thread of Python's was started
    if threading is not None and threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1  # threads Python did not start count too
    except OSError:
        return False


def processes_for(count: int, nbytes: int, jobs: int = 0) -> int:
    """How many forked processes should work on ``count`` files of ``nbytes`` (0: none, stay in this one).

    Many files, or a few big ones, are split among processes, one per core. Only from
    a process with a single thread (a fork copies no other thread, and a lock one of
    them held would stay held in the child: a service keeps its threads' path) and
    where fork is the native way (Linux). ``jobs`` 1 asks for no fork.
    """
    if jobs == 1 or not can_fork():
        return 0
    if count < FORK_MIN_FILES and (count < 2 or nbytes < FORK_MIN_BYTES):
        return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    n = min(jobs or cores, 8, count)
    return n if n > 1 else 0


class quick_handoffs:  # noqa: N801 - used as a function: ``with quick_handoffs(): ...``
    """Let threads take turns at the interpreter lock every ``interval`` seconds (default 5 ms).

    A thread that released the lock for a C call (zstd, BLAKE3, a read or a write) waits
    up to the switch interval to get it back from a thread busy in Python or in a C call
    that keeps it (FastCDC); in a pipeline of such threads that wait is most of the run
    (one 500 MB CSV: 3.3 s at 5 ms, 2.1 s at 1 ms). Process-wide while any user is inside.
    """

    _lock = _thread.allocate_lock()
    _users = 0
    _saved = 0.005

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval

    def __enter__(self) -> None:
        cls = quick_handoffs
        with cls._lock:
            if cls._users == 0:
                cls._saved = sys.getswitchinterval()
                if cls._saved > self.interval:
                    sys.setswitchinterval(self.interval)
            cls._users += 1

    def __exit__(self, *exc: object) -> None:
        cls = quick_handoffs
        with cls._lock:
            cls._users -= 1
            if cls._users == 0:
                sys.setswitchinterval(cls._saved)


def split(items: Sequence[T], n: int, size: Callable[[T], int]) -> list[list[T]]:
    """``n`` contiguous shares of about equal work (an item's bytes plus a fixed cost per
    item: neighbours stay together, so a child reads or writes folders whole)."""
    per_item = 32 << 10
    total = sum(size(i) for i in items) + per_item * len(items)
    shares: list[list[T]] = [[] for _ in range(n)]
    done = 0
    k = 0
    for item in items:
        shares[k].append(item)
        done += size(item) + per_item
        if k < n - 1 and done >= total * (k + 1) / n:
            k += 1
    return [s for s in shares if s]


def fork_map(shares: Sequence[T], work: Callable[[T, Callable[[int], None]], Any], *, total: int = 0,
             desc: str = "", stop_on_error: bool = True, die_with_parent: bool = True, unit: str = "B") -> list[tuple[bool, Any]]:
    """``work(share, report)`` in one forked child per share: ``(True, result)`` or
    ``(False, exception)`` per share, in order. ``report(n)`` tells the parent's
    progress bar (shown only for work with a ``desc``) that the child has done ``n`` in all (bytes,
    or the ``unit`` given). With ``stop_on_error`` the
    first failure kills the other children (their outcome is then the failure's);
    without, each runs to its end (so that each can clean up after itself). With
    ``die_with_parent`` the kernel kills a child whose parent dies (a few ms of ctypes
    per child: short walks skip it). A fork that fails (no memory, no processes) raises
    :class:`OSError` after the children already made are stopped.
    """
    counters = mmap.mmap(-1, _COUNTER.size * len(shares))  # shared: each child's bytes done
    parent = os.getpid()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # a child must not inherit (and later repeat) buffered output
        except (OSError, ValueError):
            pass
    children: list[_Child] = []
    try:
        for slot, share in enumerate(shares):
            rfd, wfd = os.pipe()
            # Signals wait until the child is on the books (so it is always reaped) and, in
            # the child, until it is inside the code that ends in os._exit.
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
            try:
                pid = os.fork()
                if pid == 0:  # pragma: no cover - runs in the child, which reports through the pipe
                    try:
                        inherited = [rfd, *(c.fd for c in children if c.fd is not None)]
                        _child(work, share, wfd, inherited, counters, slot, parent, mask, die_with_parent)
                    finally:
                        os._exit(3)
                children.append(_Child(pid, rfd))
            except OSError:
                os.close(rfd)
                raise
            finally:
                os.close(wfd)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        from assay.progress import bar

        with bar(total=total, desc=desc, unit=unit, show=bool(desc)) as progress:  # (a walk has no bar to show)
            _gather(children, counters, progress, stop_on_error)
    except BaseException:
        for child in children:
            child.kill()
        raise
    finally:
        for child in children:
            child.reap()
    reported = [c.payload[1] for c in children if c.payload is not None and not c.payload[0]]
    outcomes = []
    for child in children:
        if child.payload is not None:
            outcomes.append(child.payload)
        elif reported and stop_on_error:
            outcomes.append((False, reported[0]))  # stopped because of that failure
        else:
            outcomes.append((False, child.died()))
    return outcomes


def raise_first_failure(outcomes: list[tuple[bool, Any]]) -> list[Any]:
    """The results, or the first failure raised (a reported error before a child that died)."""
    failures = [r for ok, r in outcomes if not ok]
    if failures:
        reported = [f for f in failures if not getattr(f, "_assay_worker_died", False)]
        raise (reported or failures)[0]
    return [r for _, r in outcomes]


class _Child:
    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd: int | None = fd
        self.data = bytearray()
        self.payload: tuple[bool, Any] | None = None
        self.status: int | None = None

    def read(self) -> bool:
        """Take what the pipe has; False at its end."""
        assert self.fd is not None
        piece = os.read(self.fd, 1 << 20)
        if piece:
            self.data += piece
            return True
        os.close(self.fd)
        self.fd = None
        try:
            self.payload = _decode(bytes(self.data)) if self.data else None
        except Exception:
            self.payload = None  # cut short: the child died while reporting
        self.data = bytearray()
        return False

    @property
    def failed(self) -> bool:
        return self.payload is None or not self.payload[0]

    def kill(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def reap(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.status is None:
            self.status = os.waitpid(self.pid, 0)[1]

    def died(self) -> AssayError:
        code = os.waitstatus_to_exitcode(self.status) if self.status is not None else None
        why = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        exc = AssayError(f"a worker process died without a result ({why})",
                         hint="rerun; if it happens again, run with --jobs 1 and report it")
        exc._assay_worker_died = True  # type: ignore[attr-defined]
        return exc


def _gather(children: list[_Child], counters: mmap.mmap, progress: Any, stop_on_error: bool) -> None:
    open_fds = {c.fd: c for c in children}
    shown = 0
    # A selector (epoll here), not select(): a process embedding assay may hold over 1,024
    # files, and select() refuses a descriptor numbered past that.
    with selectors.DefaultSelector() as selector:
        for fd in open_fds:
            selector.register(fd, selectors.EVENT_READ)
        while open_fds:
            for key, _ in selector.select(0.2):
                child = open_fds[key.fd]
                if not child.read():
                    selector.unregister(key.fd)
                    del open_fds[key.fd]
                    if child.failed and stop_on_error:
                        for other in open_fds.values():
                            other.kill()  # one share failed: the others' work is moot
            done = sum(_COUNTER.unpack_from(counters, i * _COUNTER.size)[0] for i in range(len(children)))
            if done > shown:
                progress.update(done - shown)
                shown = done


# --------------------------------------------------------------------------- in the child


def _child(work: Callable[[Any, Callable[[int], None]], Any], share: Any, fd: int, inherited: list[int],
           counters: mmap.mmap, slot: int, parent: int, mask: set[signal.Signals],
           die_with_parent: bool) -> None:  # pragma: no cover - runs in the child
    code = 3
    try:
        try:
            # Short-lived, and a collection could run finalizers of the parent's objects
            # (flush its files) or walk its whole heap.
            gc.disable()
            for other in inherited:
                os.close(other)  # the parent's ends of this and earlier children's pipes
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            if die_with_parent:
                _die_with(parent)

            def report(done: int) -> None:
                _COUNTER.pack_into(counters, slot * _COUNTER.size, done)

            payload: tuple[bool, Any] = (True, work(share, report))
            code = 0
        except BaseException as exc:  # noqa: BLE001 - every failure is reported to the parent
            payload = (False, exc)
        try:
            data = _encode(payload)
        except Exception:
            data = _encode((False, AssayError(f"{type(payload[1]).__name__}: {payload[1]}")))
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os._exit(code)


def _die_with(parent: int) -> None:  # pragma: no cover - runs in the child
    """Have the kernel kill this process when the parent dies (Linux), and check it has not already."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _encode(payload: tuple[bool, Any]) -> bytes:
    """A result for the pipe: marshal where it can (plain data: no pickle to load), else pickle."""
    try:
        return b"M" + marshal.dumps(payload)
    except ValueError:  # an object marshal does not know
        import pickle

        return b"P" + pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)


def _decode(data: bytes) -> tuple[bool, Any]:
    if data[:1] == b"M":
        return marshal.loads(data[1:])  # type: ignore[no-any-return]
    import pickle

    return pickle.loads(data[1:])  # type: ignore[no-any-return]
