"""Writing new packs: chunks appended to temp pack files, published pack then index.

:class:`PackWriter` compresses chunks (on encoder threads for big ones), appends them
to a temp pack, and hands each full pack to a publisher thread that fsyncs it, moves it
into the store and writes its index last, so an index always describes a complete pack.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import blake3

from assay.data._pack_codec import _compressor
from assay.data._pack_format import (
    CHECK_BYTES,
    FLAG_ZSTD,
    PACK_MAGIC,
    IndexEntry,
    encode_index,
    stored_check,
)

if TYPE_CHECKING:
    from assay.data._packs import PackStore

_ASYNC_MIN = 256 << 10
_PROBE = 64 << 10
_WRITEBACK_EVERY = 16 << 20
_sync_file_range = None  # resolved once: libc's sync_file_range, or False where there is none


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes at ``offset`` to disk, without waiting.

    A pack is fsynced before it is published; started early, the disk writes it while
    the rest is still being read and hashed, and the fsync finds little left to do
    (otherwise the whole pack is written at fsync time, with readers waiting). Linux's
    ``sync_file_range(SYNC_FILE_RANGE_WRITE)``; elsewhere nothing (the fsync still
    makes the pack durable).
    """
    global _sync_file_range
    if _sync_file_range is None:
        _sync_file_range = False
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            fn = libc.sync_file_range
            fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
            fn.restype = ctypes.c_int
            _sync_file_range = fn
        except (OSError, AttributeError):
            pass
    if _sync_file_range:
        _sync_file_range(fd, offset, length, 2)  # SYNC_FILE_RANGE_WRITE; a failure is only a lost hint


def _discard(path: Path, fh: object) -> None:
    """Remove a temp pack that will not be published, then close it. Closing writes out what
    the file object still buffers (a write cut short by a full disk leaves a chunk's tail
    there), which fails on the full disk that is often why the pack is dropped: that error is
    not the one to report, and the pack must go all the same."""
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        fh.close()  # type: ignore[attr-defined]


class PackWriter:
    """Appends new chunks to temp pack files and publishes them to a :class:`PackStore`.

    Thread-safe: many readers may call :meth:`add` at once. Nothing is visible in the
    store until :meth:`flush` (or a pack filling up) publishes pack then index.
    """

    def __init__(self, target: PackStore, tmp_dir: Path, *, compression: str = "zstd", level: int = 1,
                 pack_size: int = 128 << 20, encoders: int = 0, index_format: int = 2) -> None:
        self.target = target
        self.index_format = index_format
        self._encoders = ThreadPoolExecutor(encoders, thread_name_prefix="assay-encode") if encoders and compression == "zstd" else None
        self._inflight = threading.BoundedSemaphore(max(1, encoders) * 2)  # chunks copied and queued: bounded memory
        self._futures: list[Future[bool]] = []
        self.tmp_dir = Path(tmp_dir)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.compression = compression
        self.level = level
        self.pack_size = pack_size
        self._lock = threading.Lock()
        self._pending: set[bytes] = set()
        self._fh = None
        self._path: Path | None = None
        self._entries: list[IndexEntry] = []
        self._offset = 0
        self._kicked = 0  # bytes of the open pack already handed to the kernel's writeback
        # Full packs are fsynced and published by one thread of their own, so the threads
        # reading and hashing never wait for the disk to make a pack durable.
        self._publisher: ThreadPoolExecutor | None = None
        self._publishing: list[Future[None]] = []
        self._broken = False  # a publish failed: the packs queued behind it are dropped
        self._claim: Callable[[bytes], bool] | None = None
        self.published: list[str] = []
        self.bytes_written = 0
        self.chunks_written = 0

    def sibling(self, claim: Callable[[bytes], bool] | None = None) -> PackWriter:
        """A new writer to the same store with the same settings (for a forked worker:
        no encoder threads, the worker processes already use the cores). ``claim(digest)``
        is True where this writer should store a new chunk, False where a sibling does."""
        writer = PackWriter(self.target, self.tmp_dir, compression=self.compression, level=self.level,
                            pack_size=self.pack_size)
        writer._claim = claim
        return writer

    def adopt(self, pack_ids: list[str], chunks: int, nbytes: int) -> None:
        """Count packs that sibling writers in other processes published."""
        self.published.extend(pack_ids)
        self.chunks_written += chunks
        self.bytes_written += nbytes

    def _incompressible(self, raw: bytes | memoryview) -> bool:
        # Probe a slice: random or already-compressed bytes would cost a full
        # compression pass only to be stored raw.
        size = min(_PROBE, len(raw) // 4)
        return len(_compressor(self.level).compress(raw[:size])) > size * 0.95

    def encode(self, raw: bytes | memoryview, *, probed: bool = False) -> tuple[bytes | memoryview, int]:
        if self.compression == "zstd" and len(raw) >= 512:
            if not probed and len(raw) >= 16 << 10 and self._incompressible(raw):
                return raw, 0
            packed = _compressor(self.level).compress(raw)
            if len(packed) < len(raw) * 0.95:  # incompressible data is stored raw
                return packed, FLAG_ZSTD
        return raw, 0

    def wants(self, digest: bytes) -> bool:
        return digest not in self._pending and not self.target.has(digest)

    def _takes(self, digest: bytes) -> bool:
        """Whether to store a chunk this writer has not seen: yes, unless a sibling writer in
        another process has claimed it (asked once per chunk, where a chunk comes in)."""
        return self._claim is None or self._claim(digest)

    def add(self, digest: bytes, raw: bytes | memoryview) -> bool:
        """Store one chunk unless it is already stored; True when it was new (or queued)."""
        if not self.wants(digest) or not self._takes(digest):
            return False
        if self._encoders is not None and len(raw) >= _ASYNC_MIN:
            if self._incompressible(raw):
                # Stored as it is, from this thread: no copy, no hand-over to an encoder.
                return self.add_stored(digest, raw, len(raw), 0, digest[:CHECK_BYTES])
            # A big file is read by one thread; compressing its chunks on other
            # threads (zstd releases the GIL) keeps both cores busy.
            self._inflight.acquire()
            try:
                future = self._encoders.submit(self._encode_and_add, digest, bytes(raw))
            except BaseException:
                self._inflight.release()
                raise
            with self._lock:
                self._futures.append(future)
            return True
        stored, flags = self.encode(raw)
        return self.add_stored(digest, stored, len(raw), flags)  # written at once: no copy needed

    def add_many(self, items: list[tuple[bytes, bytes]]) -> int:
        """Store many small ``(digest, raw)`` chunks with one lock and one write; how many were new."""
        encoded = []
        for digest, raw in items:
            if self.wants(digest) and self._takes(digest):
                stored, flags = self.encode(raw)
                encoded.append((digest, stored, len(raw), flags, stored_check(digest, stored, flags)))
        if not encoded:
            return 0
        full = None
        new = 0
        with self._lock:
            if self._fh is None:
                self._open()
            assert self._fh is not None
            parts = []
            for digest, stored, raw_size, flags, check in encoded:
                if digest in self._pending or self.target.has(digest):
                    continue
                self._pending.add(digest)
                parts.append(stored)
                self._entries.append((digest, self._offset, len(stored), raw_size, flags, check))
                self._offset += len(stored)
                self.bytes_written += len(stored)
                new += 1
            self._fh.write(b"".join(parts))
            self.chunks_written += new
            full = self._full_or_kick()
        if full is not None:
            self._hand_over(full)
        return new

    def _encode_and_add(self, digest: bytes, raw: bytes) -> bool:
        try:
            stored, flags = self.encode(raw, probed=True)
            return self.add_stored(digest, bytes(stored), len(raw), flags)
        finally:
            self._inflight.release()

    def _drain(self) -> None:
        with self._lock:
            futures, self._futures = self._futures, []
        errors = [f.exception() for f in futures]
        for exc in errors:
            if exc is not None:
                raise exc

    def add_stored(self, digest: bytes, stored: bytes | memoryview, raw_size: int, flags: int,
                   check: bytes = b"") -> bool:
        """Store a chunk already in its stored form (used by transfers; the caller verified
        it). ``check`` is the stored bytes' checksum when the caller has it checked already;
        otherwise it is computed here."""
        if not check:
            check = stored_check(digest, stored, flags)
        full = None
        with self._lock:
            if digest in self._pending or self.target.has(digest):
                return False
            self._pending.add(digest)
            if self._fh is None:
                self._open()
            assert self._fh is not None
            self._fh.write(stored)
            self._entries.append((digest, self._offset, len(stored), raw_size, flags, check))
            self._offset += len(stored)
            self.bytes_written += len(stored)
            self.chunks_written += 1
            full = self._full_or_kick()
        if full is not None:
            self._hand_over(full)
        return True

    def _full_or_kick(self) -> tuple[Path, object, list[IndexEntry]] | None:
        """After a write (lock held): the open pack, detached to be handed over, once it is
        full; else None, its writeback started where its unsynced tail is big enough."""
        if self._offset >= self.pack_size:
            return self._detach()
        self._kick()
        return None

    def _kick(self) -> None:
        """Start writeback of the open pack's unsynced tail once it is big enough (lock held)."""
        if self._offset - self._kicked >= _WRITEBACK_EVERY and self._fh is not None:
            self._fh.flush()  # type: ignore[attr-defined]
            _start_writeback(self._fh.fileno(), self._kicked, self._offset - self._kicked)  # type: ignore[attr-defined]
            self._kicked = self._offset

    def _hand_over(self, full: tuple[Path, object, list[IndexEntry]]) -> None:
        with self._lock:
            failed = next((f for f in self._publishing if f.done() and f.exception() is not None), None)
            if self._publisher is None:
                self._publisher = ThreadPoolExecutor(1, thread_name_prefix="assay-publish")
            self._publishing.append(self._publisher.submit(self._publish_in_turn, full))
        if failed is not None:
            raise failed.exception()  # type: ignore[misc]  # e.g. the disk is full: stop reading now

    def _open(self) -> None:
        self._path = self.tmp_dir / f"{os.getpid()}-{os.urandom(6).hex()}.pack"
        self._fh = open(self._path, "wb")
        self._fh.write(PACK_MAGIC)
        self._offset = len(PACK_MAGIC)
        self._kicked = 0
        self._entries = []

    def _detach(self) -> tuple[Path, object, list[IndexEntry]] | None:
        if self._fh is None:
            return None
        out = (self._path, self._fh, self._entries)
        self._fh, self._path, self._entries = None, None, []
        return out  # type: ignore[return-value]

    def _publish_in_turn(self, full: tuple[Path, object, list[IndexEntry]]) -> None:
        """Publish one handed-over pack; after a failure the later ones are dropped, not
        published, so a failed transfer keeps exactly the packs finished before it."""
        path, fh, _ = full
        if self._broken:
            _discard(path, fh)
            return
        try:
            self._publish(*full)
        except BaseException:
            self._broken = True
            _discard(path, fh)  # (moved into the store already where only its index failed)
            raise

    def _publish(self, path: Path, fh: object, entries: list[IndexEntry]) -> None:
        fh.flush()  # type: ignore[attr-defined]
        os.fsync(fh.fileno())  # type: ignore[attr-defined]
        fh.close()  # type: ignore[attr-defined]
        if not entries:
            path.unlink(missing_ok=True)
            return
        arr = list(entries)
        idx = encode_index(arr, self.index_format)
        pack_id = blake3.blake3(idx).hexdigest()[:32]
        self.target.store.put_file(f"packs/{pack_id}.pack", path, move=True)
        path.unlink(missing_ok=True)
        self.target.store.put_bytes(f"packs/{pack_id}.idx", idx)  # last: the pack is now complete
        self.target._register(pack_id, arr)
        self.published.append(pack_id)

    def _settle(self) -> None:
        """Wait for every pack handed to the publisher; raise the first failure."""
        with self._lock:
            futures, self._publishing = self._publishing, []
            publisher, self._publisher = self._publisher, None
        try:
            errors = [f.exception() for f in futures]
        finally:
            if publisher is not None:
                publisher.shutdown(wait=True)
        for exc in errors:
            if exc is not None:
                raise exc

    def flush(self) -> list[str]:
        """Publish everything written so far; returns only when every pack is durable and indexed."""
        self._drain()
        if self._encoders is not None:
            self._encoders.shutdown(wait=True)
            self._encoders = None
        with self._lock:
            full = self._detach()
        if full is not None:
            self._hand_over(full)
        self._settle()
        return self.published

    def abort(self) -> None:
        try:
            self._drain()
        except BaseException:
            pass  # aborting anyway; the error that made us abort is the one to report
        if self._encoders is not None:
            self._encoders.shutdown(wait=True, cancel_futures=True)
            self._encoders = None
        with self._lock:
            full = self._detach()
        if full is not None:
            path, fh, _ = full
            _discard(path, fh)
        try:
            self._settle()  # packs already full are published: complete, only unreferenced until gc
        except BaseException:
            pass  # as above: the error that made us abort is the one to report
