"""Content-addressed objects: a local folder by default, any fsspec URL at scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assay.store._base import ObjectStore, check_key
from assay.store._fsspec import FsspecStore
from assay.store._local import LocalStore

__all__ = ["FsspecStore", "LocalStore", "ObjectStore", "check_key", "open_store"]


def open_store(url: str, base_dir: Path | None = None, **options: Any) -> ObjectStore:
    """Open ``url``: a folder (relative to ``base_dir``), ``file://…`` or any fsspec URL."""
    if "://" not in url:
        path = Path(url).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return LocalStore(path)
    if url.startswith("file://"):
        return LocalStore(Path(url[len("file://"):]))
    return FsspecStore(url, **options)
