"""Content hashes for model files and folders (BLAKE3, like the object store)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["hash_bytes", "hash_path"]


def hash_bytes(data: bytes) -> str:
    import blake3

    return blake3.blake3(data).hexdigest()


def hash_path(path: Path) -> str:
    """Hash of a file's bytes, or of a folder's sorted (relative path, file hash) pairs."""
    import blake3

    path = Path(path)
    if path.is_file():
        h = blake3.blake3()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    h = blake3.blake3()
    for child in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(child.relative_to(path).as_posix().encode() + b"\0" + hash_path(child).encode() + b"\n")
    return h.hexdigest()
