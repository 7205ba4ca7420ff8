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

    def chunks(self, path: Path, st: os.stat_result | None = None) -> Iterator[tuple[bytes, memoryview]]:
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
                yield from self._cut_stream(fh)
        except PermissionError:
            raise InputError(f"cannot read {path}: permission denied", hint="fix its permissions or leave it out") from None
        except IsADirectoryError:
            raise InputError(f"{path} is a directory") from None
        except FileNotFoundError:
            raise FileChangedError(f"{path} disappeared while it was being read", hint="rerun when the data is no longer being written") from None

    def _cut_stream(self, fh: object) -> Iterator[tuple[bytes, memoryview]]:
        for chunk in self._cdc().cut_stream(fh):  # type: ignore[arg-type]
            data = chunk.data
            yield hash_bytes(data), data
