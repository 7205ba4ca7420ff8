"""Work on many files in forked processes, one per core.

For many small files the interpreter's work per file (open, stat, read, hash, a
manifest) is the cost, not the bytes, and threads take turns holding the
interpreter lock; each process here has its own. The files are cut into
contiguous shares and each forked child works on one, reporting its result
through a pipe and its progress through shared memory.

``data add`` (and status's re-hash): every child reads and hashes its share and
stores new chunks in packs of its own (complete and indexed before it reports),
then sends back its manifests; the parent adopts the packs and builds the
snapshot as the threaded path would. ``data checkout``: every child writes its
share of the files (see :mod:`assay.data._checkout`).

A child dies with its parent (``PR_SET_PDEATHSIG``), so a killed command leaves
no process writing behind it; what it leaves is what a killed threaded run
leaves: whole packs no version references (``gc`` removes them) and temp files
of dead writers (removed on the next write).
"""

from __future__ import annotations

import gc
import mmap
import os
import pickle
import select
import signal
import struct
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from assay.data._chunking import Chunker
from assay.data._snapshot import FileManifest
from assay.errors import AssayError
from assay.progress import bar

if TYPE_CHECKING:
    from assay.data._packs import PackWriter
    from assay.data._scan import ScanEntry
    from assay.workspace import Workspace

__all__ = ["fork_map", "hash_in_processes", "processes_for", "quick_handoffs"]

_COUNTER = struct.Struct("<q")
_READ_AHEAD = 1024  # small files asked for ahead of the one being read
FORK_MIN_FILES = 2048
FORK_MIN_BYTES = 512 << 20

T = TypeVar("T")


def processes_for(count: int, nbytes: int, jobs: int = 0) -> int:
    """How many forked processes should work on ``count`` files of ``nbytes`` (0: none, stay in this one).

    Many files, or a few big ones, are split among processes, one per core. Only from
    a process with a single thread (a fork copies no other thread, and a lock one of
    them held would stay held in the child: a service keeps its threads' path) and
    where fork is the native way (Linux). ``jobs`` 1 asks for no fork.
    """
    if jobs == 1 or not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return 0
    if threading.active_count() != 1:
        return 0
    if count < FORK_MIN_FILES and (count < 2 or nbytes < FORK_MIN_BYTES):
        return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    n = min(jobs or cores, 8, count)
    return n if n > 1 else 0


_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.005


@contextmanager
def quick_handoffs(interval: float = 0.001) -> Iterator[None]:
    """Let threads take turns at the interpreter lock every ``interval`` seconds (default 5 ms).

    A thread that released the lock for a C call (zstd, BLAKE3, a read or a write) waits
    up to the switch interval to get it back from a thread busy in Python or in a C call
    that keeps it (FastCDC); in a pipeline of such threads that wait is most of the run
    (one 500 MB CSV: 3.3 s at 5 ms, 2.1 s at 1 ms). Process-wide while any user is inside.
    """
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            if _switch_saved > interval:
                sys.setswitchinterval(interval)
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


class FileStat(NamedTuple):
    """The part of a file's stat that the stat cache keeps, as a child measured it."""

    st_size: int
    st_mtime_ns: int
    st_ino: int
    st_mode: int


Fresh = list[tuple[str, Any, FileManifest]]


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
             desc: str = "", stop_on_error: bool = True) -> list[tuple[bool, Any]]:
    """``work(share, report)`` in one forked child per share: ``(True, result)`` or
    ``(False, exception)`` per share, in order. ``report(n)`` tells the parent's
    progress bar that the child has done ``n`` bytes in all. With ``stop_on_error`` the
    first failure kills the other children (their outcome is then the failure's);
    without, each runs to its end (so that each can clean up after itself).
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
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child, which reports through the pipe
                os.close(rfd)
                _child(work, share, wfd, counters, slot, parent)
            os.close(wfd)
            children.append(_Child(pid, rfd))
        with bar(total=total, desc=desc, unit="B") as progress:
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


def hash_in_processes(ws: Workspace, entries: list[ScanEntry], writer: PackWriter | None, processes: int) -> Fresh:
    """``(rel, stat, manifest)`` of every entry, in order; new chunks stored through ``writer``'s store."""
    shares = split(entries, processes, lambda e: e.st.st_size)
    if writer is not None:
        writer.target.has(b"")  # the index is loaded before the fork: each child dedups against it
    chunk_avg = ws.config.data.chunk_avg
    results = raise_first_failure(fork_map(
        shares, lambda share, report: _hash_share(share, chunk_avg, writer, report),
        total=sum(e.st.st_size for e in entries), desc="hashing" if writer is None else "adding",
    ))
    fresh: Fresh = []
    published: list[str] = []
    chunks = nbytes = 0
    for rows, (child_chunks, child_bytes, child_packs) in results:
        fresh.extend((rel, FileStat(size, mtime_ns, ino, st_mode), FileManifest(size, mode, tuple(chunk_list)))
                     for rel, size, mtime_ns, ino, st_mode, mode, chunk_list in rows)
        chunks += child_chunks
        nbytes += child_bytes
        published += child_packs
    if writer is not None:
        writer.target.adopt(published)
        writer.adopt(published, chunks, nbytes)
        writer.flush()
    return fresh


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
            self.payload = pickle.loads(bytes(self.data)) if self.data else None
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
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [], 0.2)
        for fd in ready:
            child = open_fds[fd]
            if not child.read():
                del open_fds[fd]
                if child.failed and stop_on_error:
                    for other in open_fds.values():
                        other.kill()  # one share failed: the others' work is moot
        done = sum(_COUNTER.unpack_from(counters, i * _COUNTER.size)[0] for i in range(len(children)))
        if done > shown:
            progress.update(done - shown)
            shown = done


# --------------------------------------------------------------------------- in the child


def _child(work: Callable[[Any, Callable[[int], None]], Any], share: Any, fd: int, counters: mmap.mmap,
           slot: int, parent: int) -> None:  # pragma: no cover - runs in the child
    code = 3
    try:
        try:
            _die_with(parent)
            gc.disable()  # short-lived, and the collector would only walk the parent's heap

            def report(done: int) -> None:
                _COUNTER.pack_into(counters, slot * _COUNTER.size, done)

            payload: tuple[bool, Any] = (True, work(share, report))
            code = 0
        except BaseException as exc:  # noqa: BLE001 - every failure is reported to the parent
            payload = (False, exc)
        try:
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            data = pickle.dumps((False, AssayError(f"{type(payload[1]).__name__}: {payload[1]}")))
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


def _hash_share(share: list[ScanEntry], chunk_avg: int, writer: PackWriter | None,
                report: Callable[[int], None]) -> tuple[list[tuple[Any, ...]], tuple[int, int, list[str]]]:
    from assay.data._add import _batches, hash_batch

    chunker = Chunker(chunk_avg)
    own = writer.sibling() if writer is not None else None
    ahead = _ReadAhead([e.path for e in share if e.st.st_size <= chunker.min_size])
    out: Fresh = []
    done = 0
    try:
        for items in _batches(share):
            out.extend(hash_batch(items, chunker, own, ahead.take))
            done += sum(e.st.st_size for e in items)
            report(done)
        published = own.flush() if own is not None else []
    except BaseException:
        if own is not None:
            own.abort()
        raise
    rows = [(rel, st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode, m.mode, m.chunks) for rel, st, m in out]
    stats = (own.chunks_written, own.bytes_written, published) if own is not None else (0, 0, [])
    return rows, stats


class _ReadAhead:
    """Asks the kernel for the next small files while this one is read, from the same
    thread (a second thread would only contend for the interpreter lock)."""

    def __init__(self, paths: list[str]) -> None:
        from assay.data._add import advise

        self._advise = advise
        self._paths = paths
        self._taken = 0
        self._asked = 0

    def take(self) -> None:
        self._taken += 1
        limit = min(len(self._paths), self._taken + _READ_AHEAD)
        while self._asked < limit:
            self._advise(self._paths[self._asked])
            self._asked += 1
