"""Finding a ``records`` row (a check result, a drift report) by the id prefix a user typed."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["record_by_prefix"]

_ID_PREFIX = re.compile(r"[0-9a-f]{1,32}")  # what `check show` and `drift show` take of an id; used with fullmatch


def record_by_prefix(ledger: Any, kind: str, record_id: str, *, noun: str, lister: str) -> tuple[str, str]:
    """``(id, body)`` of the one record of ``kind`` whose id starts with ``record_id``; errors
    name the ``noun`` (``"check result"``) and the command that lists them (``lister``)."""
    from assay.errors import InputError, NotFoundError, UsageError

    # Ids are lower-case hex: the prefix is read so, and LIKE sees no wildcard and no case
    # (which SQLite ignores and PostgreSQL does not).
    prefix = record_id.lower()
    if not _ID_PREFIX.fullmatch(prefix):
        raise UsageError(f"{record_id!r} is not a {noun} id", hint=f"give 1 to 32 hex digits (0-9, a-f) of an id `{lister}` lists")
    rows = ledger.query("SELECT id, body FROM records WHERE kind = ? AND id LIKE ?", (kind, prefix + "%"))
    if not rows:
        raise NotFoundError(f"no {noun} {record_id!r}", hint=f"`{lister}` lists them")
    if len(rows) > 1:
        raise InputError(f"{record_id!r} names {len(rows)} {noun}s", hint="give more characters of the id")
    return rows[0][0], rows[0][1]
