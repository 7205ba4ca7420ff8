"""Chunks packed into large immutable files, each with an index.

One object per chunk would mean one file (or one S3 PUT) per small input file;
packing turns 50,000 small writes into a handful of large sequential ones. A pack
``packs/<id>.pack`` is written first and its index ``packs/<id>.idx`` last, so an
index always describes a complete pack; a pack without an index is debris from an
interrupted write that gc removes. The same code serves the workspace store and
every remote, so push and pull are one transfer in two directions.

Each index entry keeps a short BLAKE3 checksum of the chunk's stored bytes (as git's
pack index keeps a CRC of each packed object): a push copies a compressed chunk
after checking those bytes, without decompressing and re-hashing it. Whatever comes
*from* a remote is still checked against its content digest: a remote's index is
not trusted to vouch for its own packs.

This module holds :class:`PackStore`, the chunk view of a store: its indexes loaded
and merged, chunks read and checked, and the loaded index kept in step with other
processes. The byte layout is in :mod:`assay.data._pack_format`, new packs are written
by :mod:`assay.data._pack_writer`, and the per-thread zstd codecs and read buffers are
in :mod:`assay.data._pack_codec`; the names other modules use are imported from here.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path

import blake3

from assay.data._chunking import hash_bytes
from assay.data._pack_codec import _RUN_BYTES, _buffer, _decompress, _decompress_into
from assay.data._pack_format import (
    CHECK_BYTES,
    FLAG_ZSTD,
    IDX_ENTRY,
    IDX_ENTRY_V1,
    IDX_MAGIC,
    IDX_MAGIC_V1,
    PACK_MAGIC,
    ChunkLocation,
    IndexEntry,
    bad_pack_header,
    decode_index,
    encode_index,
    newer_header,
    newer_index,
    salvage_index,
    stored_check,
)
from assay.data._pack_writer import PackWriter
from assay.errors import CorruptionError, NotFoundError
from assay.store import LocalStore, ObjectStore

__all__ = ["ChunkLocation", "PackStore", "PackWriter", "workspace_packs"]
# Imported from here by verify, repair, gc, salvage and transfers (and their tests).
__all__ += ["CHECK_BATCH", "CHECK_BYTES", "FLAG_ZSTD", "IDX_ENTRY", "IDX_ENTRY_V1", "IDX_MAGIC", "IDX_MAGIC_V1",
            "PACK_MAGIC", "IndexEntry", "bad_pack_header", "decode_index", "encode_index", "newer_header",
            "newer_index", "salvage_index", "stored_check"]

# Chunks checked per batch where damage is gathered (verify, repair): a batch's errors are folded
# into plain results before the next is read, so an index of junk entries costs no exception
# object per entry. Large enough that splitting a pack's reads at batch ends costs nothing.
CHECK_BATCH = 4096


class PackStore:
    """The chunk view of an object store: which chunks exist, where, and their bytes."""

    def __init__(self, store: ObjectStore, *, cache_dir: Path | None = None) -> None:
        self.store = store
        self._cache_dir = cache_dir
        self._index: dict[bytes, ChunkLocation] | None = None
        self._packs: set[str] = set()
        self._unpacked: set[str] = set()  # indexed packs whose .pack the listing did not show
        self._ends: dict[str, int] = {}  # where each indexed pack's last chunk ends (see truncated())
        self._lock = threading.Lock()
        # One thread reads the pack indexes while the others that need them wait: a checkout's
        # writers all meet the index unloaded, and each reading every index of an object store
        # costs as many round trips over again.
        self._loading = threading.Lock()
        self._fds: dict[str, int] = {}  # open packs of a local store; closed with the object at the latest
        weakref.finalize(self, _close_files, self._fds)
        self._local = isinstance(store, LocalStore)

    # -- index ------------------------------------------------------------------------------
    @property
    def index(self) -> dict[bytes, ChunkLocation]:
        if self._index is None:
            with self._loading:
                if self._index is None:
                    self.refresh()
        assert self._index is not None
        return self._index

    def refresh(self, damaged: list[CorruptionError] | None = None) -> None:
        """(Re)load every pack index in the store. With ``damaged``, an index that cannot be
        read is appended there and its pack left out, instead of raising."""
        index: dict[bytes, ChunkLocation] = {}
        packs: set[str] = set()
        ends: dict[str, int] = {}
        pack_files: set[str] = set()
        for key in self.store.list("packs/"):
            if key.endswith(".pack"):
                pack_files.add(key[len("packs/"):-len(".pack")])
            if not key.endswith(".idx"):
                continue
            pack_id = key[len("packs/"):-len(".idx")]
            try:
                entries = self._load_index(pack_id)
            except CorruptionError as exc:
                if damaged is None:
                    raise
                damaged.append(exc)
                continue
            packs.add(pack_id)
            ends[pack_id] = _end(entries)
            _merge(index, pack_id, entries)
        with self._lock:
            self._index = index
            self._packs = packs
            self._ends = ends
            self._unpacked = packs - pack_files

    def load(self, damaged: list[CorruptionError]) -> None:
        """Load the index now if it is not loaded, leaving out (and appending to ``damaged``)
        each pack index that cannot be read, instead of raising on the first one."""
        if self._index is None:
            with self._loading:
                if self._index is None:
                    self.refresh(damaged)

    def adopt(self, pack_ids: Iterable[str]) -> None:
        """Register packs another process published to this store since the index was loaded."""
        for pack_id in pack_ids:
            self._register(pack_id, self._load_index(pack_id))

    def _load_index(self, pack_id: str) -> list[IndexEntry]:
        key = f"packs/{pack_id}.idx"
        cached: Path | None = None
        if self._cache_dir is not None and not self._local:
            cached = self._cache_dir / f"{pack_id}.idx"
            if cached.is_file():
                data = cached.read_bytes()
                try:
                    return decode_index(data, key)
                except CorruptionError:
                    cached.unlink(missing_ok=True)
        data = self.store.get_bytes(key)
        entries = decode_index(data, key)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            # A temp name of this thread's: another reader of this cache (a thread of this
            # process, another PackStore on it) may be writing the same index.
            tmp = cached.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, cached)
        return entries

    def pack_entries(self, pack_id: str) -> list[IndexEntry]:
        return self._load_index(pack_id)

    def packs(self) -> set[str]:
        self.index  # noqa: B018
        return set(self._packs)

    def unpacked(self) -> set[str]:
        """The packs whose index was loaded but whose ``.pack`` file was not there when the
        indexes were listed (deleted, lost): their chunks are named, not held. From that
        listing, at no cost of its own."""
        self.index  # noqa: B018
        return set(self._unpacked)

    def truncated(self) -> dict[str, int]:
        """The packs whose ``.pack`` file is shorter than their index says (cut off by a crash
        before it was synced, a full disk, an interrupted copy), each with the length of its
        file: the chunks the index places past that are named, not held. One ``stat`` per
        pack of a local store, no byte read. A pack damaged in place (its length unchanged)
        is not told: only reading its chunks shows that (`assay data verify`). An object
        store writes an object whole or not at all: none there."""
        if not self._local:
            return {}
        self.index  # noqa: B018
        with self._lock:
            ends = {p: end for p, end in self._ends.items() if p not in self._unpacked}
        cut = {}
        for pack_id, end in ends.items():
            path = self.store.local_path(f"packs/{pack_id}.pack")
            assert path is not None
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                continue  # gone since the listing: a read of it says so
            if size < end:
                cut[pack_id] = size
        return cut

    def has(self, digest: bytes) -> bool:
        return digest in self.index

    def missing(self, digests: Iterable[bytes]) -> list[bytes]:
        index = self.index
        seen: set[bytes] = set()
        out = []
        for d in digests:
            if d not in index and d not in seen:
                seen.add(d)
                out.append(d)
        return out

    def _register(self, pack_id: str, entries: list[IndexEntry]) -> None:
        with self._lock:
            self._ends[pack_id] = _end(entries)  # before _merge empties them
            _merge(self.index, pack_id, entries)
            self._packs.add(pack_id)

    # -- reading ----------------------------------------------------------------------------
    def read_stored(self, loc: ChunkLocation, *, reuse: bool = False) -> bytes | memoryview:
        """The stored bytes at ``loc``. With ``reuse`` (local stores) they land in this
        thread's buffer and stay valid only until its next ``reuse`` read: a transfer that
        reads a run, writes it and moves on then holds one buffer, not a new one per read
        (which the allocator keeps per thread)."""
        key = f"packs/{loc.pack}.pack"
        if self._local:
            fd = self._fds.get(loc.pack)
            if fd is None:
                path = self.store.local_path(key)
                assert path is not None
                try:
                    opened = os.open(path, os.O_RDONLY)
                except FileNotFoundError:
                    raise CorruptionError(f"pack {key} is missing", key=key) from None
                with self._lock:
                    fd = self._fds.setdefault(loc.pack, opened)
                if fd != opened:
                    os.close(opened)  # another thread opened it first
            if reuse:
                buf = _buffer(loc.stored)
                n = os.preadv(fd, [buf], loc.offset)
                return buf[:n]
            data = os.pread(fd, loc.stored, loc.offset)
        else:
            try:
                data = self.store.get_range(key, loc.offset, loc.stored)
            except NotFoundError:
                raise CorruptionError(f"pack {key} is missing from {self.store.url}", key=key) from None
        return data

    def read_chunk(self, digest: bytes, *, what: str = "", reuse: bool = False) -> bytes | memoryview:
        """The chunk's bytes, hash-checked. A mismatch raises :class:`CorruptionError`.

        With ``reuse`` an uncompressed chunk is returned as a view of this thread's read
        buffer, valid until the thread's next ``reuse`` read (see :meth:`read_stored`)."""
        loc = self.index.get(digest)
        if loc is None:
            raise CorruptionError(f"chunk {digest.hex()} is missing{_for(what)}", key=digest.hex())
        return self.decode(digest, loc, self.read_stored(loc, reuse=reuse), what=what, reuse=reuse)

    def decode(self, digest: bytes, loc: ChunkLocation, stored: bytes | memoryview, *, what: str = "",
               reuse: bool = False) -> bytes | memoryview:
        """The verified raw bytes of a stored chunk; with ``reuse`` a compressed chunk is
        decompressed into this thread's second buffer (valid until its next ``reuse`` decode)."""
        key = f"packs/{loc.pack}.pack"
        if len(stored) != loc.stored:  # a short read: the pack ends before the chunk does
            raise CorruptionError(f"pack {key} is truncated: chunk {digest.hex()} is cut off{_for(what)}",
                                  key=digest.hex())
        try:
            if not loc.flags & FLAG_ZSTD:
                raw = stored
            elif reuse:
                raw = _decompress_into(stored, loc.raw)
            else:
                raw = _decompress(stored, loc.raw)
        except Exception:
            raise CorruptionError(
                f"chunk {digest.hex()} in {key} at offset {loc.offset} is damaged (does not decompress){_for(what)}",
                key=digest.hex(),
            ) from None
        if len(raw) != loc.raw or hash_bytes(raw) != digest:
            raise CorruptionError(
                f"chunk {digest.hex()} in {key} at offset {loc.offset} is damaged (hash mismatch){_for(what)}",
                key=digest.hex(),
            )
        return raw

    def check_stored(self, digest: bytes, loc: ChunkLocation, stored: bytes | memoryview, *, what: str = "") -> None:
        """Check a chunk's stored bytes against this store's own index: their checksum
        where the index has one, else the full :meth:`decode`. Only for a store whose
        index is trusted (the workspace's, when pushing); never for one being pulled from."""
        if not loc.check:
            self.decode(digest, loc, stored, what=what, reuse=True)
        elif len(stored) != loc.stored or (
                hash_bytes(stored) != digest if not loc.flags & FLAG_ZSTD  # stored raw: the chunk's own digest, in full
                else blake3.blake3(stored).digest(length=CHECK_BYTES) != loc.check):
            raise CorruptionError(
                f"chunk {digest.hex()} in packs/{loc.pack}.pack at offset {loc.offset} is damaged "
                f"(stored bytes do not match their checksum){_for(what)}",
                key=digest.hex(),
            )

    def read_many(
        self, digests: list[bytes], *, gap: int = 1 << 20, errors: list[tuple[bytes, CorruptionError]] | None = None,
        stored: bool = False, reuse: bool = False, by_check: bool = False, strict: bool = False,
    ) -> Iterator[tuple[bytes, bytes | memoryview]]:
        """Yield ``(digest, raw)`` for ``digests``, reading neighbouring chunks in one request.

        Chunks come grouped by pack, not in the order given. With ``errors`` a damaged
        chunk is appended there instead of raised; with ``stored`` the yielded bytes are
        the stored (maybe compressed) form, still verified: with ``by_check`` against the
        index's checksum of them (:meth:`check_stored`), else by decoding; ``strict`` checks
        both (what verify does, so that a push never finds damage verify missed). With
        ``reuse`` each yielded value is valid only until the next one is asked for (one
        read buffer per thread).
        """
        index = self.index
        by_pack: dict[str, list[tuple[bytes, ChunkLocation]]] = {}
        for d in digests:
            loc = index.get(d)
            if loc is None:
                exc = CorruptionError(f"chunk {d.hex()} is missing from {self.store.url}", key=d.hex())
                if errors is None:
                    raise exc
                errors.append((d, exc))
                continue
            by_pack.setdefault(loc.pack, []).append((d, loc))
        for pack_id, items in by_pack.items():
            yield from self.read_pack(pack_id, items, gap=gap, errors=errors, stored=stored, reuse=reuse,
                                      by_check=by_check, strict=strict)

    def read_pack(
        self, pack_id: str, items: list[tuple[bytes, ChunkLocation]], *, gap: int = 1 << 20,
        errors: list[tuple[bytes, CorruptionError]] | None = None, stored: bool = False, reuse: bool = False,
        by_check: bool = False, strict: bool = False,
    ) -> Iterator[tuple[bytes, bytes | memoryview]]:
        """:meth:`read_many` for chunks at given locations in one pack, whichever copy the
        index points to (repair reads every copy)."""
        items = sorted(items, key=lambda item: item[1].offset)
        run: list[tuple[bytes, ChunkLocation]] = []
        for item in items:
            if run and (item[1].offset - (run[-1][1].offset + run[-1][1].stored) > gap
                        or item[1].offset + item[1].stored - run[0][1].offset > _RUN_BYTES):
                yield from self._read_run(pack_id, run, errors, stored, reuse, by_check, strict)
                run = []
            run.append(item)
        if run:
            yield from self._read_run(pack_id, run, errors, stored, reuse, by_check, strict)

    def _read_run(
        self, pack_id: str, run: list[tuple[bytes, ChunkLocation]],
        errors: list[tuple[bytes, CorruptionError]] | None, stored: bool, reuse: bool = False,
        by_check: bool = False, strict: bool = False,
    ) -> Iterator[tuple[bytes, bytes | memoryview]]:
        start = run[0][1].offset
        end = run[-1][1].offset + run[-1][1].stored
        try:
            blob = self.read_stored(ChunkLocation(pack_id, start, end - start, end - start, 0), reuse=reuse)
        except CorruptionError as exc:
            if errors is None:
                raise
            errors.extend((d, exc) for d, _ in run)
            return
        view = memoryview(blob)
        for digest, loc in run:
            lo = loc.offset - start
            piece = view[lo:lo + loc.stored]  # a view, not a copy of each chunk
            try:
                if len(piece) != loc.stored:
                    raise CorruptionError(f"pack packs/{pack_id}.pack is truncated: chunk {digest.hex()} is cut off", key=digest.hex())
                if stored and by_check:
                    self.check_stored(digest, loc, piece)
                    raw = piece
                else:
                    raw = self.decode(digest, loc, piece, reuse=reuse)
                    if strict and loc.check and loc.flags & FLAG_ZSTD:  # a raw chunk's check is its digest: just checked
                        self.check_stored(digest, loc, piece)
            except CorruptionError as exc:
                if errors is None:
                    raise
                errors.append((digest, exc))
                continue
            yield digest, (piece if stored else raw)

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()

    def forget_pack(self, pack_id: str) -> None:
        """Drop a (deleted) pack: its open file and the loaded index, reloaded on next use."""
        with self._lock:
            fd = self._fds.pop(pack_id, None)
            if fd is not None:
                os.close(fd)
        self.invalidate()

    def revalidate(self) -> None:
        """Forget the loaded index if the store's packs are no longer the ones it was read
        from: another process's gc or repair retired some, or an add published new ones.
        Run as a workspace's lock is taken (:meth:`Workspace.on_lock`): a workspace object
        kept open across commands (the Python API, a server) would otherwise decide what is
        stored, or where to read it, from an index that names packs gone since, and an
        add would skip chunks that gc had deleted. One listing of ``packs/``."""
        with self._lock:
            if self._index is None:
                return  # read afresh at first use
            known = set(self._packs)
        listed = {key[len("packs/"):-len(".idx")] for key in self.store.list("packs/") if key.endswith(".idx")}
        if listed != known:
            with self._lock:
                for pack_id in [p for p in self._fds if p not in listed]:
                    os.close(self._fds.pop(pack_id))
                self._index = None

    def invalidate(self) -> None:
        """Forget the loaded index; the next lookup re-reads the pack indexes."""
        with self._lock:
            self._index = None


def _merge(index: dict[bytes, ChunkLocation], pack_id: str, entries: list[IndexEntry]) -> None:
    """Add a pack's entries to ``index`` (a chunk already there keeps its place), emptying
    ``entries`` on the way: each entry's tuple is freed as its location is made, so a large
    index never stands in memory twice over."""
    entries.reverse()
    pop = entries.pop
    setdefault = index.setdefault
    while entries:
        h, off, stored, raw, flags, check = pop()
        setdefault(h, ChunkLocation(pack_id, off, stored, raw, flags, check))


def _end(entries: list[IndexEntry]) -> int:
    """Where the last chunk of a pack ends, from its index: the length of the whole pack.
    Writers list chunks in the order they append them, so the last entry ends the pack (an
    index listed in another order could at most hide a truncation, never report one)."""
    if not entries:
        return len(PACK_MAGIC)
    _, offset, stored, *_ = entries[-1]
    return offset + stored


def _for(what: str) -> str:
    return f" (needed by {what})" if what else ""


def _close_files(fds: dict[str, int]) -> None:
    """Close a collected :class:`PackStore`'s pack files: a workspace opened for each request or
    command in one long process (a server, a notebook, a test session) would otherwise leave
    its files open until the process ran out of them."""
    for fd in fds.values():
        try:
            os.close(fd)
        except OSError:
            pass
    fds.clear()


_OPEN: weakref.WeakKeyDictionary[object, PackStore] = weakref.WeakKeyDictionary()


def workspace_packs(ws: object) -> PackStore:
    """The chunk store of a workspace, opened once per :class:`~assay.workspace.Workspace`."""
    packs = _OPEN.get(ws)
    if packs is None:
        packs = _OPEN[ws] = PackStore(ws.store, cache_dir=ws.cache_dir / "idx")  # type: ignore[attr-defined]
        ws.on_lock(packs.revalidate)  # type: ignore[attr-defined]
    return packs
