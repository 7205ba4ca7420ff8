"""Which stored snapshot objects this workspace has checked already, by their bytes' hash.

A push reads each snapshot it sends to learn its chunks, and checks it first (its paths, its
manifests, its Merkle root: a third of a second for 50,000 files) so that no damage leaves
the store. The bytes an add stored, or a check passed, stay good for as long as they are the
same bytes: their BLAKE3 hash (the fingerprint the push takes of them anyway) is recorded
here beside the snapshot's id, and a snapshot whose stored bytes hash to what is recorded is
read for its chunks without being checked again.

Kept in ``.assay/cache`` (see :mod:`assay.data._hints`): a lost or damaged file costs one
check of each snapshot, never a wrong answer (an entry names the very bytes that were
checked: others, damaged or forged, hash to something else).
"""

from __future__ import annotations

import os
import re

from assay.data._hints import read_hint, write_hint
from assay.workspace import Workspace

__all__ = ["CheckedSnapshots"]

# Named with the form of check it records: a later assay that checks a snapshot for more
# reads its own file, not the entries of a weaker check.
_FILE = "checked-snapshots-1"
_ID = re.compile(r"[0-9a-f]{64}")
_KEEP = 8192  # entries of 64 bytes: half a MiB, the newest kept


class CheckedSnapshots:
    """Snapshot id -> BLAKE3 hash of stored bytes that were checked (or written) here."""

    def __init__(self, ws: Workspace) -> None:
        self._path = os.path.join(ws.cache_dir, _FILE)
        self.known: dict[str, bytes] = {}
        blob = read_hint(self._path)
        if isinstance(blob, bytes):
            for i in range(0, len(blob) - len(blob) % 64, 64):
                self.known[blob[i:i + 32].hex()] = blob[i + 32:i + 64]
        self._changed = False

    def add(self, snapshot_id: str, fingerprint: bytes) -> None:
        """Record bytes of ``snapshot_id`` that hash to ``fingerprint`` as checked."""
        if len(fingerprint) == 32 and _ID.fullmatch(snapshot_id) and self.known.get(snapshot_id) != fingerprint:
            self.known.pop(snapshot_id, None)  # newest last: the oldest go first when the file is full
            self.known[snapshot_id] = fingerprint
            self._changed = True

    def save(self) -> None:
        """Write what was added (nothing if nothing was)."""
        if not self._changed:
            return
        write_hint(self._path, b"".join(bytes.fromhex(sid) + fp for sid, fp in list(self.known.items())[-_KEEP:]))
        self._changed = False
