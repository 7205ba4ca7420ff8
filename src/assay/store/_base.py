"""The object store interface: immutable blobs under slash-separated keys."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from assay.errors import UnsafePathError

__all__ = ["ObjectStore", "check_key"]

_KEY = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


def check_key(key: str) -> str:
    """Keys are relative, slash-separated names without ``..``; anything else is refused."""
    if not _KEY.fullmatch(key) or any(part in (".", "..") for part in key.split("/")):
        raise UnsafePathError(f"refusing object key {key!r}: keys are relative names without '..'")
    return key


class ObjectStore:
    """Blobs under keys. Writes are atomic: a reader sees the whole object or none."""

    url: str = ""

    def put_bytes(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def put_file(self, key: str, path: Path, *, move: bool = False) -> None:
        """Store the file at ``path``; with ``move`` the store may take the file itself."""
        raise NotImplementedError

    def get_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    def get_range(self, key: str, start: int, length: int) -> bytes:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def size(self, key: str) -> int:
        raise NotImplementedError

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under ``prefix`` (a folder-like prefix ending in ``/``)."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def modified(self, key: str) -> float:
        """When the object at ``key`` was last written, in seconds since the epoch."""
        raise NotImplementedError

    def move(self, key: str, new_key: str) -> None:
        """Give the object at ``key`` the key ``new_key`` (replacing any object there). This
        default copies then deletes; stores that can rename do so."""
        self.put_bytes(new_key, self.get_bytes(key))
        self.delete(key)

    def local_path(self, key: str) -> Path | None:
        """The file holding ``key`` when the store is a local folder, else None."""
        return None
