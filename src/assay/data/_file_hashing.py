"""Reading files to hash (and, for an add, store) them, one batch of files at a time.

A small file is read whole in one read, a big one chunked; either is read again if it changed
while it was read. The batches are for threads (:func:`assay.data._add.add`, `status`) and
forked workers (:mod:`assay.data._workers`) alike.
"""

from __future__ import annotations

import os
import stat as _stat
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from assay.data._chunking import Chunker, FileChangedError, hash_bytes
from assay.data._packs import PackWriter
from assay.data._scan import ScanEntry
from assay.data._snapshot import FileManifest
from assay.errors import InputError

__all__ = ["Prefetcher", "advise", "batches_of", "hash_batch", "same_stat"]

_RETRIES = 3
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def hash_batch(items: list[ScanEntry], chunker: Chunker, writer: PackWriter | None,
               consumed: Callable[[], object],
               previous: Mapping[str, FileManifest] | None = None) -> list[tuple[str, os.stat_result, FileManifest]]:
    """Read, hash and (with ``writer``) store the files of one batch; ``consumed`` is
    called as each small file is taken (it paces the read-ahead). ``previous`` holds what
    the stat cache last knew of big files: their unchanged front is only hashed."""
    out = []
    small: list[tuple[bytes, bytes]] = []
    for entry in items:
        if entry.st.st_size <= chunker.min_size:
            consumed()
            read = _read_small(entry, chunker.min_size)
            if read is not None:
                data, st = read
                chunks: tuple[tuple[bytes, int], ...] = ()
                if data:
                    digest = hash_bytes(data)
                    small.append((digest, data))
                    chunks = ((digest, len(data)),)
                out.append((entry.rel, st, FileManifest(len(data), st.st_mode & 0o777, chunks)))
                continue
        known = previous.get(entry.rel) if previous else None
        manifest, st = _read_file(entry, chunker, writer, known.chunks if known is not None else None)
        out.append((entry.rel, st, manifest))
    if writer is not None and small:
        writer.add_many(small)  # one lock and one write for the whole batch
    return out


class Prefetcher:
    """Asks the kernel to start reading the next small files before a reader needs them.

    Reading 50,000 cold small files one after another waits on the disk for each
    (10 s here); with ``POSIX_FADV_WILLNEED`` issued a couple of thousand files ahead the
    reads overlap in the kernel and one thread reads them all in 2.7 s, about what 8-16
    parallel readers get, without the interpreter-lock contention of 16 threads.
    """

    AHEAD = 2048

    def __init__(self, batches: list[list[ScanEntry]], limit: int) -> None:
        self._paths = [e.path for b in batches for e in b if e.st.st_size <= limit]
        self._room = threading.Semaphore(self.AHEAD)
        self._stopped = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if len(self._paths) > 1 and hasattr(os, "posix_fadvise"):
            self._thread = threading.Thread(target=self._run, name="assay-prefetch", daemon=True)
            self._thread.start()

    def consumed(self) -> None:
        self._room.release()

    def stop(self) -> None:
        self._stopped = True
        self._room.release()  # wake it if it waits for room
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        for path in self._paths:
            self._room.acquire()
            if self._stopped:
                return
            advise(path)


def advise(path: str) -> None:
    """Ask the kernel to start reading a whole file (``POSIX_FADV_WILLNEED``); only a hint."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_CLOEXEC)
    except OSError:
        return  # the reader will meet the same error and report it
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    except (OSError, AttributeError):
        pass
    finally:
        os.close(fd)


def batches_of(entries: list[ScanEntry], *, max_files: int = 64, max_bytes: int = 4 << 20) -> list[list[ScanEntry]]:
    """Group small files so that one task reads many (a future per file costs more than the read)."""
    out: list[list[ScanEntry]] = []
    current: list[ScanEntry] = []
    size = 0
    for entry in entries:
        if current and (len(current) >= max_files or size + entry.st.st_size > max_bytes):
            out.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry.st.st_size
    if current:
        out.append(current)
    return out


def _read_small(entry: ScanEntry, limit: int) -> tuple[bytes, os.stat_result] | None:
    """A whole small file in one read, with its stat; None when it is no longer small.

    Few syscalls per file (open, fstat, read, fstat, close): for 50,000 small files
    the per-file overhead, not the bytes, is the cost. The file's stat before and
    after the read must agree, else it is read again.
    """
    for _ in range(_RETRIES):
        try:
            fd = os.open(entry.path, os.O_RDONLY | _O_CLOEXEC)
        except FileNotFoundError:
            raise FileChangedError(f"{entry.rel} disappeared while it was being read", hint="rerun when writers are done") from None
        except PermissionError:
            raise InputError(f"cannot read {entry.rel}: permission denied", hint="fix its permissions or leave it out") from None
        try:
            before = os.fstat(fd)
            if not _stat.S_ISREG(before.st_mode):
                raise InputError(f"{entry.rel} is not a regular file")
            if before.st_size > limit:
                return None
            parts = []
            want = before.st_size + 1  # one byte more than expected: growth shows as a longer read
            while want > 0:
                piece = os.read(fd, want)
                if not piece:
                    break
                parts.append(piece)
                want -= len(piece)
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            after = os.fstat(fd)
        finally:
            os.close(fd)
        if same_stat(before, after) and len(data) == after.st_size:
            return data, after
    raise FileChangedError(
        f"{entry.rel} kept changing while it was read ({_RETRIES} tries)",
        hint="stop the process writing it, then add again",
    )


def same_stat(before: os.stat_result, after: os.stat_result) -> bool:
    """Whether a file kept its size, mtime and ctime between two stats (an edit that puts the
    mtime back still moves the ctime)."""
    return (before.st_size, before.st_mtime_ns, before.st_ctime_ns) == (after.st_size, after.st_mtime_ns,
                                                                         after.st_ctime_ns)


def _read_file(entry: ScanEntry, chunker: Chunker, writer: PackWriter | None,
               previous: tuple[tuple[bytes, int], ...] | None = None) -> tuple[FileManifest, os.stat_result]:
    """Chunk one file; retried if the file changes while it is read."""
    for _ in range(_RETRIES):
        try:
            before = os.stat(entry.path)
        except FileNotFoundError:
            raise FileChangedError(f"{entry.rel} disappeared while it was being read", hint="rerun when writers are done") from None
        chunks: list[tuple[bytes, int]] = []
        for digest, data in chunker.chunks(Path(entry.path), previous=previous):
            if writer is not None:
                writer.add(digest, data)
            chunks.append((digest, len(data)))
        after = os.stat(entry.path)
        size = sum(n for _, n in chunks)
        if same_stat(before, after) and size == after.st_size:
            return FileManifest(size, after.st_mode & 0o777, tuple(chunks)), after
    raise FileChangedError(
        f"{entry.rel} kept changing while it was read ({_RETRIES} tries)",
        hint="stop the process writing it, then add again",
    )
