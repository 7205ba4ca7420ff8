"""The bytes of packs and their indexes: the layout, and reading it back.

A pack is ``PACK_MAGIC`` followed by chunks, each stored raw or zstd-compressed. Its
index lists, per chunk, the digest, offset, stored and raw sizes, flags and a short
checksum of the stored bytes, and ends in a BLAKE3 checksum of itself; format 1 had no
per-chunk checksums and is still read. Besides encoding and decoding, this is what
verify and repair read of damaged packs: a pack's header, and the entries a damaged
index still holds.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import blake3

from assay.data._snapshot import MAX_CHUNK
from assay.errors import CorruptionError, NotFoundError
from assay.store import ObjectStore

PACK_MAGIC = b"ASSAYPK1"
IDX_MAGIC = b"ASSAYIX2"
IDX_MAGIC_V1 = b"ASSAYIX1"  # no stored-bytes checksums; still read
FLAG_ZSTD = 1
# One index entry: digest, offset, stored size, raw size, flags, and the first CHECK_BYTES
# of the BLAKE3 hash of the stored bytes (57 bytes, little-endian, unpadded; format 1 had
# no checksum: 49 bytes). The struct module, not NumPy: it keeps the data commands'
# start-up and memory small, and "32s" keeps a digest's trailing NUL bytes.
CHECK_BYTES = 8
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
