"""Finding chunks in a pack whose index lost them: a pack is its chunks back to back, so the
stretches its salvaged index does not cover are read for the chunks a version needs, by
their content (repair, :mod:`assay.data._repair`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import blake3

from assay.data._chunking import hash_bytes
from assay.data._packs import FLAG_ZSTD, PACK_MAGIC, ChunkLocation
from assay.errors import NotFoundError
from assay.store import ObjectStore

__all__ = ["Found", "chunk_at", "found_in_gaps"]


class Found(NamedTuple):
    digest: bytes
    location: ChunkLocation


def found_in_gaps(store: ObjectStore, pack_id: str, known: Any, wanted: set[bytes],
                   sizes: dict[bytes, int]) -> list[Found]:
    """Chunks among ``wanted`` in the stretches of a pack that its (salvaged) index does not
    cover. A pack is its chunks back to back, each stored raw or as one zstd frame, so each
    stretch is read from its start: a zstd frame is decoded and hashed; raw bytes are hashed
    at the size of each wanted chunk. A stretch is followed while its chunks are found."""
    if not wanted:
        return []
    key = f"packs/{pack_id}.pack"
    try:
        end_of_pack = store.size(key)
    except NotFoundError:
        return []
    by_size: dict[int, set[bytes]] = {}
    for digest in wanted:
        by_size.setdefault(sizes[digest], set()).add(digest)
    lengths = sorted(by_size)
    found: list[Found] = []
    for start, end in _gaps(sorted(known, key=lambda loc: loc.offset), end_of_pack):
        data = store.get_range(key, start, end - start)
        at = 0
        while at < len(data):
            hit = chunk_at(memoryview(data)[at:], lengths, by_size)
            if hit is None:
                break
            digest, stored, raw, flags = hit
            found.append(Found(digest, ChunkLocation(pack_id, start + at, stored, raw, flags)))
            by_size[raw].discard(digest)
            at += stored
    return found


def _gaps(known: list[ChunkLocation], end_of_pack: int) -> list[tuple[int, int]]:
    gaps, at = [], len(PACK_MAGIC)
    for loc in known:
        if loc.offset > at:
            gaps.append((at, loc.offset))
        at = max(at, loc.offset + loc.stored)
    if end_of_pack > at:
        gaps.append((at, end_of_pack))
    return gaps


_ZSTD_FRAME = b"\x28\xb5\x2f\xfd"


def chunk_at(data: memoryview, lengths: list[int],
              by_size: dict[int, set[bytes]]) -> tuple[bytes, int, int, int] | None:
    """``(digest, stored size, raw size, flags)`` of the wanted chunk starting at ``data[0]``.

    Every reading is tried: the bytes as one zstd frame (decoded only if the size its header
    declares is wanted), and raw at every wanted size. None when no reading, or more than
    one, gives a wanted chunk: a short chunk may be the front of a longer one, or two
    chunks may make up a third, and a wrong cut would put a later chunk's bytes in doubt.
    """
    readings: set[tuple[bytes, int, int, int]] = set()
    if bytes(data[:4]) == _ZSTD_FRAME:
        import zstandard

        try:
            declared = zstandard.get_frame_parameters(bytes(data[:18])).content_size
        except zstandard.ZstdError:
            declared = 0
        if declared in by_size:  # a size not wanted (or not declared) is not decoded at all
            decoder = zstandard.ZstdDecompressor().decompressobj()
            window = bytes(data[:declared + (64 << 10)])  # a chunk is stored as zstd only if that is smaller
            try:
                raw = decoder.decompress(window)
            except zstandard.ZstdError:
                raw = b""
            if decoder.eof and len(raw) == declared and hash_bytes(raw) in by_size[declared]:
                readings.add((hash_bytes(raw), len(window) - len(decoder.unused_data), declared, FLAG_ZSTD))
    hasher = blake3.blake3()
    done = 0
    for n in lengths:
        if n > len(data):
            break
        hasher.update(data[done:n])
        done = n
        digest = hasher.digest()
        if digest in by_size[n]:
            readings.add((digest, n, n, 0))
    return readings.pop() if len(readings) == 1 else None
