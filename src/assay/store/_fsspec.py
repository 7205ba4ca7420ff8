"""Object store on any fsspec file system: ``s3://bucket/prefix``, ``memory://``, …"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assay.errors import InputError, NotFoundError
from assay.extras import import_optional
from assay.store._base import ObjectStore, check_key

__all__ = ["FsspecStore"]

_EXTRA_FOR = {"s3": "s3", "s3a": "s3"}


class FsspecStore(ObjectStore):
    def __init__(self, url: str, **options: Any) -> None:
        fsspec = import_optional("fsspec", "s3")
        protocol = url.split("://", 1)[0]
        if protocol in _EXTRA_FOR:
            import_optional("s3fs", _EXTRA_FOR[protocol])
        try:
            self.fs, self.base = fsspec.core.url_to_fs(url, **options)
        except (ValueError, ImportError) as exc:
            raise InputError(f"cannot open object store {url!r}: {exc}") from None
        self.url = url
        self.base = self.base.rstrip("/")

    def _path(self, key: str) -> str:
        return f"{self.base}/{check_key(key)}"

    def put_bytes(self, key: str, data: bytes) -> None:
        # S3 PUTs are atomic: a reader sees the old object, the new one, or none.
        self.fs.pipe_file(self._path(key), data)

    def put_file(self, key: str, path: Path, *, move: bool = False) -> None:
        self.fs.put_file(str(path), self._path(key))
        if move:
            Path(path).unlink(missing_ok=True)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.fs.cat_file(self._path(key))
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None

    def get_range(self, key: str, start: int, length: int) -> bytes:
        try:
            return self.fs.cat_file(self._path(key), start=start, end=start + length)
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None
        except OSError:
            # A range that starts past the end (S3 answers 416): a short read, as from a file.
            if start >= self.size(key):
                return b""
            raise

    def move(self, key: str, new_key: str) -> None:
        try:
            self.fs.mv(self._path(key), self._path(new_key))
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def size(self, key: str) -> int:
        try:
            return int(self.fs.size(self._path(key)))
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None

    def list(self, prefix: str) -> Iterator[str]:
        root = f"{self.base}/{prefix}".rstrip("/")
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(root)
        except FileNotFoundError:
            return
        strip = len(self.base) + 1
        for path in sorted(found):
            yield path[strip:]

    def delete(self, key: str) -> None:
        try:
            self.fs.rm_file(self._path(key))
        except FileNotFoundError:
            pass
