"""Which snapshots this workspace's store held every chunk of, as a pull last found them.

A pull of a version already here would otherwise decode its snapshot (a fifth of a second for
20,000 files) to learn that its chunks are still here, or, not decoding it, say "up to date"
over a pack deleted from the store. A snapshot found whole stays whole while every pack the
store had then is still there with its ``.pack`` file, as long as its index says (packs are
immutable, and new ones only add chunks): that is told from the store's listing, which
loading its index reads anyway, and a ``stat`` of each pack (:meth:`PackStore.truncated`).
A pack damaged in place, its length unchanged, is not told: that takes reading every chunk
(`assay data verify`), too slow for each pull. Kept in ``.assay/cache`` (see
:mod:`assay.data._hints`): a lost or damaged file costs one decode of each snapshot, never a
wrong answer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from assay.data._hints import read_hint, write_hint
from assay.data._packs import PackStore
from assay.workspace import Workspace

__all__ = ["WholeSnapshots"]

_FILE = "whole-snapshots"
_ID = re.compile(r"[0-9a-f]{64}")


class WholeSnapshots:
    """The snapshots recorded whole against packs all still here, and what a pull adds."""

    def __init__(self, ws: Workspace, packs: PackStore) -> None:
        self._path = os.path.join(ws.cache_dir, _FILE)
        self.packs = packs
        # Packs whose chunks are named but not all held, each with how many of its bytes are:
        # the file is gone, or cut short.
        self.gone = dict.fromkeys(packs.unpacked(), 0) | packs.truncated()
        doc = read_hint(self._path)
        self._whole: set[str] = set()
        if isinstance(doc, dict) and isinstance(doc.get("packs"), list) and isinstance(doc.get("snapshots"), bytes):
            if set(doc["packs"]) <= packs.packs() - self.gone.keys():
                ids = doc["snapshots"]
                self._whole = {ids[i:i + 32].hex() for i in range(0, len(ids) - len(ids) % 32, 32)}
        self._found: set[str] = set()

    def __contains__(self, sid: str) -> bool:
        return sid in self._whole

    def lost(self, digests: Iterable[bytes]) -> list[bytes]:
        """Those of ``digests`` that the store's index names in a pack whose file is gone, or
        past the end of one that is cut short."""
        gone = self.gone
        if not gone:
            return []
        index = self.packs.index
        return [d for d in digests if (loc := index.get(d)) is not None and (held := gone.get(loc.pack)) is not None
                and loc.offset + loc.stored > held]

    def found(self, sids: Iterable[str]) -> None:
        """Record ``sids`` as whole: every chunk of each is in a pack here (checked, or just stored)."""
        self._found.update(sids)

    def save(self) -> None:
        """Write the record, against the packs here now (those just written included)."""
        if self._found - self._whole:
            # A pack cut short is named all the same (a snapshot found whole may use its chunks
            # before the cut): while it stays short, the record is not trusted.
            packs = self.packs.packs() - self.packs.unpacked()
            # 32 bytes each (a file of 1 MiB at most holds 32,000): an id of another form is left out
            ids = b"".join(bytes.fromhex(s) for s in sorted(self._whole | self._found) if _ID.fullmatch(s))
            write_hint(self._path, {"packs": sorted(packs), "snapshots": ids})
