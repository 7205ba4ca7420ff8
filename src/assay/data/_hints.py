"""Small files in ``.assay/cache`` that only save time: what the next status walks first
(:mod:`assay.data._prefetch`) and the clean answers it may give again (:mod:`assay.data._replay`).

Each holds one marshal-encoded value. Read before the command line loads, so only ``os``
and ``marshal`` here. A missing, damaged or oversized file reads as None: its user then
does the work it would have saved. Two writers at once: one's update is lost (a later
command writes it again); a cache folder that cannot be written: nothing is saved.
"""

from __future__ import annotations

import marshal

__all__ = ["MAX_BYTES", "read_hint", "read_small", "write_hint"]

MAX_BYTES = 1 << 20  # a bigger file is not one assay wrote


def read_small(path: str) -> bytes | None:
    """The bytes of the file at ``path``, or None if it holds more than ``MAX_BYTES``
    (OSError if it cannot be read)."""
    with open(path, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    return data if len(data) <= MAX_BYTES else None


def read_hint(path: str) -> object:
    """The value in the file at ``path``, or None (missing, unreadable, damaged, too big)."""
    try:
        data = read_small(path)
        return None if data is None else marshal.loads(data)
    except (OSError, EOFError, ValueError, TypeError):
        return None


def write_hint(path: str, value: object) -> None:
    """Replace the file at ``path`` with ``value`` (atomically); nothing if it is too big or cannot be written."""
    data = marshal.dumps(value)
    if len(data) > MAX_BYTES:
        return
    # Loaded here, not above: the readers run before anything else has loaded.
    from pathlib import Path

    from assay.config import atomic_write_bytes

    try:
        atomic_write_bytes(Path(path), data)
    except OSError:
        pass
