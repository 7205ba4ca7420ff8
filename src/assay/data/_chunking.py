"""Content-defined chunking (FastCDC) and BLAKE3 hashing of files.

FastCDC cuts where the content says, not at fixed offsets, so an insertion in the
middle of a file changes only the chunks around it. Chunks average ~1 MiB (the
paper's "avg + min"), which keeps the chunk index small for terabyte datasets while
an append still stores only the tail.
"""

from __future__ import annotations

import os
import stat as _stat
import threading
from collections.abc import Iterator
from pathlib import Path

import blake3
import pyfastcdc

from assay.errors import InputError

__all__ = ["Chunker", "FileChangedError", "hash_bytes"]

HASH_BYTES = 32


def hash_bytes(data: bytes | memoryview) -> bytes:
    return blake3.blake3(data).digest()


class FileChangedError(InputError):
    """The file changed while it was being read."""


class Chunker:
    """Cuts files into chunks and hashes them.

    ``chunks(path)`` yields ``(digest, data)`` pairs; ``data`` is only valid until
    the next pair is produced.
    """

    def __init__(self, avg_size: int = 1 << 20) -> None:
        self.avg_size = avg_size
        self._local = threading.local()  # a FastCDC object must not be shared between threads
        self.min_size = self._cdc().min_size
        self.max_size = self._cdc().max_size

    def _cdc(self) -> pyfastcdc.FastCDC:
        cdc = getattr(self._local, "cdc", None)
        if cdc is None:
            cdc = self._local.cdc = pyfastcdc.FastCDC(avg_size=self.avg_size, normalized_chunking=1)
        return cdc

    def chunks(self, path: Path, st: os.stat_result | None = None,
               previous: tuple[tuple[bytes, int], ...] | None = None) -> Iterator[tuple[bytes, memoryview]]:
        """With ``previous`` (the chunks of an earlier version of this file, cut with the same
        settings), see :meth:`_cut_after_known`."""
        try:
            with open(path, "rb") as fh:
                st = st or os.fstat(fh.fileno())
                if not _stat.S_ISREG(st.st_mode):
                    raise InputError(f"{path} is not a regular file")
                if st.st_size <= self.min_size:
                    data = memoryview(fh.read())
                    if data:
                        yield hash_bytes(data), data
                    return
                # Read whole buffers rather than mmap: a file truncated under an mmap
                # raises SIGBUS, which would kill the process instead of reporting it.
                if previous:
                    yield from self._cut_after_known(fh, previous)
                else:
                    yield from self._cut_stream(fh)
        except PermissionError:
            raise InputError(f"cannot read {path}: permission denied", hint="fix its permissions or leave it out") from None
        except IsADirectoryError:
            raise InputError(f"{path} is a directory") from None
        except FileNotFoundError:
            raise FileChangedError(f"{path} disappeared while it was being read", hint="rerun when the data is no longer being written") from None

    def _cut_after_known(self, fh: object, previous: tuple[tuple[bytes, int], ...]) -> Iterator[tuple[bytes, memoryview]]:
        """Take the earlier version's chunks as long as the bytes still match them, then cut
        the rest. An append or an edit then costs a hash of the unchanged front (BLAKE3,
        several times FastCDC's speed) instead of cutting it again.

        The result is exactly what cutting the whole file gives. Where FastCDC cuts a chunk
        starting at ``s`` depends on the bytes from ``s`` up to and including the first byte
        after the cut, and on how much of the file is left, capped at the maximum chunk
        size. So an earlier chunk is taken only when it matches, the chunk after it matches
        too (which vouches for that first byte), and at least a maximum chunk's worth of
        file followed its start both then and now. Cutting resumes at the end of the last
        chunk taken. Chunks outside this chunker's size limits mean other settings: then
        the whole file is cut.
        """
        if len(previous) < 2 or any(not self.min_size <= n <= self.max_size for _, n in previous[:-1]):
            yield from self._cut_stream(fh)
            return
        size_now = os.fstat(fh.fileno()).st_size  # type: ignore[attr-defined]
        last_start = min(sum(n for _, n in previous), size_now) - self.max_size  # a taken chunk starts at or before it
        buffers = (memoryview(bytearray(self.max_size)), memoryview(bytearray(self.max_size)))
        pending: tuple[bytes, memoryview] | None = None  # matched; taken once the next one matches too
        pending_start = offset = here = 0  # ``offset``: the end of the chunks taken; ``here``: chunk i's start
        for i, (digest, n) in enumerate(previous):
            data = buffers[i % 2][:n]  # the other buffer holds ``pending``, still to be used
            if fh.readinto(data) != n or hash_bytes(data) != digest:  # type: ignore[attr-defined]
                break
            if pending is not None:
                if pending_start > last_start:
                    break
                yield pending
                offset = here
            pending, pending_start = (digest, data), here
            here += n
        fh.seek(offset)  # type: ignore[attr-defined]
        yield from self._cut_stream(fh)

    def _cut_stream(self, fh: object) -> Iterator[tuple[bytes, memoryview]]:
        for chunk in self._cdc().cut_stream(fh):  # type: ignore[arg-type]
            data = chunk.data
            yield hash_bytes(data), data
