"""Content-addressed objects: a local folder by default, any fsspec URL at scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assay.store._base import ObjectStore, check_key
from assay.store._fsspec import FsspecStore, public_options
from assay.store._local import (
    Leftover,
    LocalStore,
    dead_writers_files,
    remove_leftovers,
    sweep_leftovers,
)

__all__ = ["FsspecStore", "Leftover", "LocalStore", "ObjectStore", "check_key", "check_store", "dead_writers_files",
           "folder_of", "open_store", "public_options", "remove_leftovers", "sweep_leftovers"]


def folder_of(url: str, base_dir: Path | None = None) -> Path | None:
    """The folder ``url`` names (a path, relative to ``base_dir``, or ``file://…``); None for
    an object store's URL."""
    if "://" in url and not url.startswith("file://"):
        return None
    path = Path(url.removeprefix("file://")).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def open_store(url: str, base_dir: Path | None = None, **options: Any) -> ObjectStore:
    """Open ``url``: a folder (relative to ``base_dir``), ``file://…`` or any fsspec URL."""
    folder = folder_of(url, base_dir)
    if folder is not None:
        return LocalStore(folder)
    return FsspecStore(url, **options)


# A check at `remote add` waits this long for a server, once: an offline laptop adds its remote
# with a warning at once, rather than after botocore's minute of retries.
_CHECK_TIMEOUT_S = 5


def check_store(url: str, base_dir: Path | None = None, **options: Any) -> str | None:
    """Whether the object store at ``url`` is there: a missing bucket, refused or missing
    credentials raise :class:`~assay.errors.InputError`; a server that cannot be reached
    within a few seconds is said in the string returned (a warning: nothing is wrong with
    the URL as far as can be told). None when it answered, or when ``url`` is a folder or a
    store that is not an S3 bucket (nothing to ask)."""
    store = open_store(url, base_dir, **options)
    if not isinstance(store, FsspecStore) or not store.bucketed:
        return None
    config = dict(options.get("config_kwargs") or {})
    config.update(connect_timeout=_CHECK_TIMEOUT_S, read_timeout=_CHECK_TIMEOUT_S,
                  retries={"total_max_attempts": 1})
    quick = FsspecStore(url, **{**options, "config_kwargs": config})
    return quick.check()
