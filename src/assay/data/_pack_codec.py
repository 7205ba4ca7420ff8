"""Per-thread zstd codecs and read buffers for packs.

Each thread keeps its own zstd compressor and decompressor (neither may be shared
between threads) and its own read and output buffers, reused from chunk to chunk, so
a transfer's threads do not allocate a buffer per chunk.
"""

from __future__ import annotations

import threading

# One read covers neighbouring chunks up to this many bytes: large enough for sequential
# reads, small enough that a few transfer threads stay within DVC's memory.
_RUN_BYTES = 4 << 20

_buffers = threading.local()


def _buffer(size: int) -> memoryview:
    """This thread's read buffer, at least ``size`` bytes."""
    buf = getattr(_buffers, "buf", None)
    if buf is None or len(buf) < size:
        buf = _buffers.buf = bytearray(max(size, _RUN_BYTES))  # once: a run or a chunk fits
    return memoryview(buf)[:size]


_zstd_local = threading.local()


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
