"""Reading and hashing files in forked processes, one per core.

For many small files the interpreter's work per file (open, stat, read, hash, a
manifest) is the cost, not the bytes, and threads take turns holding the
interpreter lock; each process here has its own. The files are cut into
contiguous shares; every child reads and hashes its share and stores new chunks
in packs of its own (complete and indexed before it reports), then sends back
its manifests through a pipe. The parent adopts the children's packs and builds
the snapshot as the threaded path would.

A child dies with its parent (``PR_SET_PDEATHSIG``), so a killed ``data add``
leaves no process writing behind it; what it leaves is what a killed threaded
add leaves: whole packs no version references (``gc`` removes them) and temp
files of dead writers (removed on the next write).
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
from typing import Any, NamedTuple

from assay.data._add import _batches, advise, hash_batch
from assay.data._chunking import Chunker
from assay.data._packs import PackWriter
from assay.data._scan import ScanEntry
from assay.data._snapshot import FileManifest
from assay.errors import AssayError
from assay.progress import bar
from assay.workspace import Workspace

__all__ = ["hash_in_processes"]

_COUNTER = struct.Struct("<q")
_READ_AHEAD = 1024  # small files asked for ahead of the one being read


class FileStat(NamedTuple):
    """The part of a file's stat that the stat cache keeps, as a child measured it."""

    st_size: int
    st_mtime_ns: int
    st_ino: int
    st_mode: int


Fresh = list[tuple[str, Any, FileManifest]]


def hash_in_processes(ws: Workspace, entries: list[ScanEntry], writer: PackWriter | None, processes: int) -> Fresh:
    """``(rel, stat, manifest)`` of every entry, in order; new chunks stored through ``writer``'s store."""
    shares = _split(entries, processes)
    if writer is not None:
        writer.target.has(b"")  # the index is loaded before the fork: each child dedups against it
    counters = mmap.mmap(-1, _COUNTER.size * len(shares))  # shared: each child's bytes done, for progress
    parent = os.getpid()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # a child must not inherit (and later repeat) buffered output
    children: list[_Child] = []
    try:
        for slot, share in enumerate(shares):
            rfd, wfd = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child, which reports through the pipe
                os.close(rfd)
                _child(ws, share, writer, wfd, counters, slot, parent)
            os.close(wfd)
            children.append(_Child(pid, rfd))
        desc = "hashing" if writer is None else "adding"
        with bar(total=sum(e.st.st_size for e in entries), desc=desc, unit="B") as progress:
            _gather(children, counters, progress)
    except BaseException:
        for child in children:
            child.kill()
        raise
    finally:
        for child in children:
            child.reap()
    reported = [c.payload[1] for c in children if c.payload is not None and c.payload[0] == "error"]
    if reported:
        raise reported[0]  # what went wrong, rather than the children stopped because of it
    fresh: Fresh = []
    published: list[str] = []
    chunks = nbytes = 0
    for child in children:
        rows, (child_chunks, child_bytes, child_packs) = child.result()
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


def _split(entries: list[ScanEntry], n: int) -> list[list[ScanEntry]]:
    """``n`` contiguous shares of about equal work (a file's bytes plus a fixed cost per file:
    neighbours stay together, so each child reads folders whole and packs them together)."""
    per_file = 32 << 10
    total = sum(e.st.st_size for e in entries) + per_file * len(entries)
    shares: list[list[ScanEntry]] = [[] for _ in range(n)]
    done = 0
    k = 0
    for entry in entries:
        shares[k].append(entry)
        done += entry.st.st_size + per_file
        if k < n - 1 and done >= total * (k + 1) / n:
            k += 1
    return [s for s in shares if s]


class _Child:
    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd: int | None = fd
        self.data = bytearray()
        self.payload: tuple[Any, ...] | None = None
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
        return self.payload is None or self.payload[0] == "error"

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

    def result(self) -> tuple[list[tuple[Any, ...]], tuple[int, int, list[str]]]:
        if self.payload is None:
            code = os.waitstatus_to_exitcode(self.status) if self.status is not None else None
            why = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
            raise AssayError(f"a worker process reading files died without a result ({why})",
                             hint="rerun; if it happens again, run with --jobs 1 and report it")
        _, rows, stats = self.payload
        return rows, stats


def _gather(children: list[_Child], counters: mmap.mmap, progress: Any) -> None:
    open_fds = {c.fd: c for c in children}
    shown = 0
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [], 0.2)
        for fd in ready:
            child = open_fds[fd]
            if not child.read():
                del open_fds[fd]
                if child.failed:
                    for other in open_fds.values():
                        other.kill()  # one share failed: the add fails, the others' work is moot
        done = sum(_COUNTER.unpack_from(counters, i * _COUNTER.size)[0] for i in range(len(children)))
        if done > shown:
            progress.update(done - shown)
            shown = done


# --------------------------------------------------------------------------- in the child


def _child(ws: Workspace, share: list[ScanEntry], writer: PackWriter | None, fd: int, counters: mmap.mmap,
           slot: int, parent: int) -> None:  # pragma: no cover - runs in the child
    code = 3
    try:
        try:
            _die_with(parent)
            gc.disable()  # short-lived, and the collector would only walk the parent's heap
            payload: tuple[Any, ...] = ("ok", *_work(ws, share, writer, counters, slot))
            code = 0
        except BaseException as exc:  # noqa: BLE001 - every failure is reported to the parent
            payload = ("error", exc)
        try:
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            data = pickle.dumps(("error", AssayError(f"{type(payload[1]).__name__}: {payload[1]}")))
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


def _work(ws: Workspace, share: list[ScanEntry], writer: PackWriter | None, counters: mmap.mmap,
          slot: int) -> tuple[list[tuple[Any, ...]], tuple[int, int, list[str]]]:  # pragma: no cover - child
    chunker = Chunker(ws.config.data.chunk_avg)
    own = writer.sibling() if writer is not None else None
    ahead = _ReadAhead([e.path for e in share if e.st.st_size <= chunker.min_size])
    out: Fresh = []
    done = 0
    try:
        for items in _batches(share):
            out.extend(hash_batch(items, chunker, own, ahead.take))
            done += sum(e.st.st_size for e in items)
            _COUNTER.pack_into(counters, slot * _COUNTER.size, done)
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
        self._paths = paths
        self._taken = 0
        self._asked = 0

    def take(self) -> None:
        self._taken += 1
        limit = min(len(self._paths), self._taken + _READ_AHEAD)
        while self._asked < limit:
            advise(self._paths[self._asked])
            self._asked += 1
