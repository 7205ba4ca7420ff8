"""``data add`` (and status's re-hash) in forked processes (see :mod:`assay.data._fork`).

Every child reads and hashes a contiguous share of the files and stores new
chunks in packs of its own (complete and indexed before it reports), then sends
back its manifests; the parent adopts the packs and builds the snapshot as the
threaded path would. A killed add leaves what a killed threaded add leaves: whole
packs no version references (``gc`` removes them) and temp files of dead writers
(removed on the next write).
"""

from __future__ import annotations

import fcntl
import mmap
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from assay.data._chunking import Chunker
from assay.data._fork import fork_map, raise_first_failure, split
from assay.data._scan import FileStat
from assay.data._snapshot import FileManifest

if TYPE_CHECKING:
    from assay.data._packs import PackWriter
    from assay.data._scan import ScanEntry
    from assay.workspace import Workspace

__all__ = ["Claims", "hash_in_processes"]

_READ_AHEAD = 1024  # small files asked for ahead of the one being read


Fresh = list[tuple[str, Any, FileManifest]]


def hash_in_processes(ws: Workspace, entries: list[ScanEntry], writer: PackWriter | None, processes: int,
                      previous: Mapping[str, FileManifest]) -> Fresh:
    """``(rel, stat, manifest)`` of every entry, in order; new chunks stored through ``writer``'s store.
    ``previous``: earlier manifests of big files (see :func:`~assay.data._file_hashing.hash_batch`)."""
    shares = split(entries, processes, lambda e: e.st.st_size)
    claims = None
    if writer is not None:
        writer.target.has(b"")  # the index is loaded before the fork: each child dedups against it
        # ... and against the others: the same bytes in files of two shares are stored once.
        claims = Claims(len(entries) + sum(e.st.st_size for e in entries) // (256 << 10))
    chunk_avg = ws.config.data.chunk_avg
    results = raise_first_failure(fork_map(
        shares, lambda share, report: _hash_share(share, chunk_avg, writer, report, claims, previous),
        total=sum(e.st.st_size for e in entries), desc="hashing" if writer is None else "adding",
    ))
    fresh: Fresh = []
    published: list[str] = []
    chunks = nbytes = 0
    for rows, (child_chunks, child_bytes, child_packs) in results:
        fresh.extend((rel, FileStat(size, mtime_ns, ino, st_mode, ctime_ns), FileManifest(size, mode, tuple(chunk_list), mid))
                     for rel, size, mtime_ns, ino, st_mode, ctime_ns, mode, chunk_list, mid in rows)
        chunks += child_chunks
        nbytes += child_bytes
        published += child_packs
    if writer is not None:
        writer.target.adopt(published)
        writer.adopt(published, chunks, nbytes)
        writer.flush()
    return fresh


def _hash_share(share: list[ScanEntry], chunk_avg: int, writer: PackWriter | None, report: Callable[[int], None],
                claims: Claims | None, previous: Mapping[str, FileManifest],
                ) -> tuple[list[tuple[Any, ...]], tuple[int, int, list[str]]]:
    from assay.data._file_hashing import batches_of, hash_batch

    chunker = Chunker(chunk_avg)
    own = writer.sibling(claims.claim if claims is not None else None) if writer is not None else None
    ahead = _ReadAhead([e.path for e in share if e.st.st_size <= chunker.min_size])
    out: Fresh = []
    done = 0
    try:
        for items in batches_of(share):
            out.extend(hash_batch(items, chunker, own, ahead.take, previous))
            done += sum(e.st.st_size for e in items)
            report(done)
        published = own.flush() if own is not None else []
    except BaseException:
        if own is not None:
            own.abort()
        raise
    # Each manifest's id too (the hash of its encoding): here, beside the reads, not in the parent
    # after them.
    rows = [(rel, st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode, st.st_ctime_ns, m.mode, m.chunks, m.id)
            for rel, st, m in out]
    stats = (own.chunks_written, own.bytes_written, published) if own is not None else (0, 0, [])
    return rows, stats


class Claims:
    """Which chunks the workers of one add have taken to store: a table in memory shared by
    the forked workers (open addressing, one 32-byte digest per slot, sized before the fork),
    read and written under a lock the workers share (``lockf`` on one temp file: a record
    lock belongs to a process, so forked children exclude each other).

    A chunk is refused only because its very digest is in the table, written there by a
    worker whose claim succeeded and which stores it; if that worker fails, the whole add
    fails. A full table stops refusing (duplicates, never a loss).
    """

    _EMPTY = bytes(32)

    def __init__(self, expected: int) -> None:
        import tempfile

        # At most half full, and at most 256 MiB (only the pages written are ever allocated).
        slots = 1 << min(23, max(10, (2 * expected - 1).bit_length()))
        self._mask = slots - 1
        self._table = mmap.mmap(-1, slots * 32)
        self._lock_file = tempfile.TemporaryFile()

    def claim(self, digest: bytes) -> bool:
        """True if no worker had claimed ``digest``: this one stores it."""
        table = self._table
        i = int.from_bytes(digest[:8], "little") & self._mask
        fd = self._lock_file.fileno()
        fcntl.lockf(fd, fcntl.LOCK_EX)
        try:
            for _ in range(64):
                at = i * 32
                held = table[at:at + 32]
                if held == digest:
                    return False
                if held == self._EMPTY:
                    table[at:at + 32] = digest
                    return True
                i = (i + 1) & self._mask
            return True  # crowded: store it (a possible duplicate, never a loss)
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)


class _ReadAhead:
    """Asks the kernel for the next small files while this one is read, from the same
    thread (a second thread would only contend for the interpreter lock)."""

    def __init__(self, paths: list[str]) -> None:
        from assay.data._file_hashing import advise

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
