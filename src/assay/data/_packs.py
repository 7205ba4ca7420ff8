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
"""

from __future__ import annotations

import os
import struct
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import blake3

from assay.data._chunking import hash_bytes
from assay.data._snapshot import MAX_CHUNK
from assay.errors import CorruptionError, NotFoundError
from assay.store import LocalStore, ObjectStore

__all__ = ["ChunkLocation", "PackStore", "PackWriter", "workspace_packs"]

PACK_MAGIC = b"ASSAYPK1"
IDX_MAGIC = b"ASSAYIX2"
IDX_MAGIC_V1 = b"ASSAYIX1"  # no stored-bytes checksums; still read
FLAG_ZSTD = 1
_ASYNC_MIN = 256 << 10
_PROBE = 64 << 10
# One read covers neighbouring chunks up to this many bytes: large enough for sequential
# reads, small enough that a few transfer threads stay within DVC's memory.
_RUN_BYTES = 4 << 20
# One index entry: digest, offset, stored size, raw size, flags, and the first CHECK_BYTES
# of the BLAKE3 hash of the stored bytes (57 bytes, little-endian, unpadded; format 1 had
# no checksum: 49 bytes). The struct module, not NumPy: it keeps the data commands'
# start-up and memory small, and "32s" keeps a digest's trailing NUL bytes.
CHECK_BYTES = 8
# Chunks checked per batch where damage is gathered (verify, repair): a batch's errors are folded
# into plain results before the next is read, so an index of junk entries costs no exception
# object per entry. Large enough that splitting a pack's reads at batch ends costs nothing.
CHECK_BATCH = 4096
_MAX_STORED = MAX_CHUNK + (MAX_CHUNK >> 7) + (1 << 16)  # a chunk compressed, at worst (zstd's bound)
IDX_ENTRY = struct.Struct(f"<32sQIIB{CHECK_BYTES}s")
IDX_ENTRY_V1 = struct.Struct("<32sQIIB")
IndexEntry = tuple[bytes, int, int, int, int, bytes]


@dataclass(frozen=True, slots=True)
class ChunkLocation:
    pack: str
    offset: int
    stored: int
    raw: int
    flags: int
    check: bytes = b""  # BLAKE3 of the stored bytes, first CHECK_BYTES; b"" where the index predates it


def stored_check(digest: bytes, stored: bytes | memoryview, flags: int) -> bytes:
    """The index's checksum of a chunk's stored bytes. Stored raw, those bytes are the
    chunk, whose digest is their BLAKE3 hash already; compressed, they are hashed."""
    if not flags & FLAG_ZSTD:
        return digest[:CHECK_BYTES]
    return blake3.blake3(stored).digest(length=CHECK_BYTES)


def encode_index(entries: list[IndexEntry], fmt: int = 2) -> bytes:
    """An index in format 2, or in format 1 (no checksums) for stores older assays share."""
    if fmt == 1:
        pack1 = IDX_ENTRY_V1.pack
        body = IDX_MAGIC_V1 + struct.pack("<Q", len(entries)) + b"".join(pack1(*e[:5]) for e in entries)
    else:
        pack = IDX_ENTRY.pack
        body = IDX_MAGIC + struct.pack("<Q", len(entries)) + b"".join(pack(*e) for e in entries)
    return body + blake3.blake3(body).digest()


def bad_pack_header(store: ObjectStore, pack_id: str) -> str | None:
    """What is wrong with the header of pack ``pack_id`` (None: nothing, or no such pack,
    which its chunks' checks report). Readers go by the index's offsets and never look at
    it, so only a check that reads it finds a header that is damaged."""
    key = f"packs/{pack_id}.pack"
    try:
        head = store.get_range(key, 0, len(PACK_MAGIC))
    except NotFoundError:
        return None
    if head == PACK_MAGIC:
        return None
    return f"damaged (bad header: it starts {head!r}, not {PACK_MAGIC!r})"


def newer_header(data: bytes) -> bool:
    """Whether ``data`` starts with an index header naming a format after this assay's."""
    return data[:7] == IDX_MAGIC[:7] and data[7:8].isdigit() and data[7:8] > IDX_MAGIC[7:8]


def newer_index(data: bytes) -> bool:
    """Whether ``data`` is an index in a format newer than this assay knows: such a header,
    and a whole checksum (a flipped bit in a known header is damage, not a new format)."""
    return newer_header(data) and len(data) >= 40 and blake3.blake3(data[:-32]).digest() == data[-32:]


def decode_index(data: bytes, key: str) -> list[IndexEntry]:
    """The entries of a pack index, format 2 or 1 (whose entries get an empty checksum)."""
    magic = data[:8]
    if magic not in (IDX_MAGIC, IDX_MAGIC_V1):
        if newer_index(data):
            raise CorruptionError(f"pack index {key} has format {magic[7:]!r}, which this assay cannot read: "
                                  "it was written by a newer assay; upgrade assay to use this store", key=key)
        raise CorruptionError(f"pack index {key} is damaged (bad header)", key=key)
    if len(data) < len(IDX_MAGIC) + 8 + 32:
        raise CorruptionError(f"pack index {key} is damaged (truncated)", key=key)
    body, digest = memoryview(data)[:-32], data[-32:]  # a view: an index may be large
    if blake3.blake3(body).digest() != digest:
        raise CorruptionError(f"pack index {key} is damaged (checksum mismatch)", key=key)
    (count,) = struct.unpack_from("<Q", body, 8)
    layout = IDX_ENTRY if magic == IDX_MAGIC else IDX_ENTRY_V1
    if len(body) - 16 != count * layout.size:
        raise CorruptionError(f"pack index {key} is damaged (entry count)", key=key)
    entries = layout.iter_unpack(body[16:])
    out: list[IndexEntry] = [(*e, b"") for e in entries] if layout is IDX_ENTRY_V1 else list(entries)  # type: ignore[misc]
    # Sizes and offsets no writer makes: a reader would allocate what they claim (an index
    # is re-signed by whoever writes it, so its checksum does not vouch for them).
    if out and (max(e[3] for e in out) > MAX_CHUNK or max(e[2] for e in out) > _MAX_STORED
                or max(e[1] for e in out) >= 1 << 62):
        raise CorruptionError(f"pack index {key} is damaged (an entry's size or offset is out of range)", key=key)
    if len({e[0] for e in out}) != len(out):  # a writer lists a chunk once: which entry would be read?
        raise CorruptionError(f"pack index {key} is damaged (a chunk is listed twice)", key=key)
    return out


def salvage_index(data: bytes) -> list[IndexEntry]:
    """The entries a damaged index still holds, read without its checksum and entry count:
    every whole entry after a known header. Nothing here is trusted; each chunk must
    still be read and checked against its digest (see :mod:`assay.data._repair`)."""
    magic = data[:8]
    if magic not in (IDX_MAGIC, IDX_MAGIC_V1):
        return []
    layout = IDX_ENTRY if magic == IDX_MAGIC else IDX_ENTRY_V1
    body = data[16:]
    if len(body) >= 32 and (len(body) - 32) % layout.size == 0:
        body = body[:-32]  # the checksum at the end, where the length says it is there
    whole = len(body) // layout.size * layout.size
    entries = [(*e, b"") if layout is IDX_ENTRY_V1 else e for e in layout.iter_unpack(memoryview(body)[:whole])]
    return [e for e in entries if 0 < e[2] <= _MAX_STORED and 0 < e[3] <= MAX_CHUNK and e[1] < 1 << 62  # type: ignore[misc]
            and e[4] in (0, FLAG_ZSTD)]


class PackStore:
    """The chunk view of an object store: which chunks exist, where, and their bytes."""

    def __init__(self, store: ObjectStore, *, cache_dir: Path | None = None) -> None:
        self.store = store
        self._cache_dir = cache_dir
        self._index: dict[bytes, ChunkLocation] | None = None
        self._packs: set[str] = set()
        self._lock = threading.Lock()
        self._fds: dict[str, int] = {}
        self._local = isinstance(store, LocalStore)

    # -- index ------------------------------------------------------------------------------
    @property
    def index(self) -> dict[bytes, ChunkLocation]:
        if self._index is None:
            self.refresh()
        assert self._index is not None
        return self._index

    def refresh(self, damaged: list[CorruptionError] | None = None) -> None:
        """(Re)load every pack index in the store. With ``damaged``, an index that cannot be
        read is appended there and its pack left out, instead of raising."""
        index: dict[bytes, ChunkLocation] = {}
        packs: set[str] = set()
        for key in self.store.list("packs/"):
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
            _merge(index, pack_id, entries)
        with self._lock:
            self._index = index
            self._packs = packs

    def load(self, damaged: list[CorruptionError]) -> None:
        """Load the index now if it is not loaded, leaving out (and appending to ``damaged``)
        each pack index that cannot be read, instead of raising on the first one."""
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
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, cached)
        return entries

    def pack_entries(self, pack_id: str) -> list[IndexEntry]:
        return self._load_index(pack_id)

    def packs(self) -> set[str]:
        self.index  # noqa: B018
        return set(self._packs)

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


_buffers = threading.local()


def _buffer(size: int) -> memoryview:
    """This thread's read buffer, at least ``size`` bytes."""
    buf = getattr(_buffers, "buf", None)
    if buf is None or len(buf) < size:
        buf = _buffers.buf = bytearray(max(size, _RUN_BYTES))  # once: a run or a chunk fits
    return memoryview(buf)[:size]


def _for(what: str) -> str:
    return f" (needed by {what})" if what else ""


_zstd_local = threading.local()

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


def _decompress(data: bytes, raw_size: int) -> bytes:
    import zstandard

    d = getattr(_zstd_local, "d", None)
    if d is None:
        d = _zstd_local.d = zstandard.ZstdDecompressor()
    if zstandard.frame_content_size(data) > raw_size:  # zstd would allocate what the frame claims
        raise ValueError("the frame claims more bytes than the chunk holds")
    return d.decompress(data, max_output_size=raw_size)


def _decompress_into(data: bytes | memoryview, raw_size: int) -> memoryview:
    """Decompress into this thread's output buffer: no new object per chunk, which the
    allocator would otherwise keep around per thread."""
    import zstandard

    d = getattr(_zstd_local, "d", None)
    if d is None:
        d = _zstd_local.d = zstandard.ZstdDecompressor()
    out = getattr(_buffers, "out", None)
    if out is None or len(out) < raw_size + 1:
        out = _buffers.out = bytearray(max(raw_size + 1, _RUN_BYTES + 1))
    view = memoryview(out)
    n = 0
    with d.stream_reader(data) as reader:
        while n <= raw_size:  # one byte more than expected: a longer frame is damage
            k = reader.readinto(view[n:raw_size + 1])
            if not k:
                break
            n += k
    return view[:n]


def _compressor(level: int):  # type: ignore[no-untyped-def]
    import zstandard

    c = getattr(_zstd_local, "c", None)
    if c is None or getattr(_zstd_local, "level", None) != level:
        c = _zstd_local.c = zstandard.ZstdCompressor(level=level)
        _zstd_local.level = level
    return c


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
            if self._offset >= self.pack_size:
                full = self._detach()
            else:
                self._kick()
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
            if self._offset >= self.pack_size:
                full = self._detach()
            else:
                self._kick()
        if full is not None:
            self._hand_over(full)
        return True

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
            fh.close()  # type: ignore[attr-defined]
            path.unlink(missing_ok=True)
            return
        try:
            self._publish(*full)
        except BaseException:
            self._broken = True
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
            fh.close()  # type: ignore[attr-defined]
            path.unlink(missing_ok=True)
        try:
            self._settle()  # packs already full are published: complete, only unreferenced until gc
        except BaseException:
            pass  # as above: the error that made us abort is the one to report



_OPEN: weakref.WeakKeyDictionary[object, PackStore] = weakref.WeakKeyDictionary()


def workspace_packs(ws: object) -> PackStore:
    """The chunk store of a workspace, opened once per :class:`~assay.workspace.Workspace`."""
    packs = _OPEN.get(ws)
    if packs is None:
        packs = _OPEN[ws] = PackStore(ws.store, cache_dir=ws.cache_dir / "idx")  # type: ignore[attr-defined]
        ws.on_lock(packs.revalidate)  # type: ignore[attr-defined]
    return packs

