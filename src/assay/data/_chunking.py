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

        The result is exactly what cutting the whole file gives: where FastCDC cuts
        depends only on the bytes from the chunk's start to the cut, so an unchanged chunk
        that did not end at the end of the file ends where it did. The earlier last chunk
        ended there, so it is always cut again. Chunks outside this chunker's size limits
        mean other settings: then the whole file is cut.
        """
        known = previous[:-1]
        if not known or any(not self.min_size <= n <= self.max_size for _, n in known):
            yield from self._cut_stream(fh)
            return
        buf = memoryview(bytearray(self.max_size))
        offset = 0
        for digest, n in known:
            got = fh.readinto(buf[:n])  # type: ignore[attr-defined]
            data = buf[:n]
            if got != n or hash_bytes(data) != digest:
                break
            yield digest, data
            offset += n
        fh.seek(offset)  # type: ignore[attr-defined]
        yield from self._cut_stream(fh)

    def _cut_stream(self, fh: object) -> Iterator[tuple[bytes, memoryview]]:
        for chunk in self._cdc().cut_stream(fh):  # type: ignore[arg-type]
            data = chunk.data
            yield hash_bytes(data), data
