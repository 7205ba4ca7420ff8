"""What a repair reads of the store it mends before it changes anything there (see
:mod:`assay.data._repair`): every pack's index, a damaged one put back from a cache of that
store's indexes or salvaged, and every live snapshot, a damaged or missing one's good copy
taken from the other side."""

from __future__ import annotations

from pathlib import Path

import blake3

from assay.data._packs import IndexEntry, decode_index, newer_header, salvage_index
from assay.data._versions import load_snapshot_object
from assay.errors import CorruptionError, NotFoundError, UsageError
from assay.store import ObjectStore

__all__ = ["read_indexes", "read_snapshots"]


def read_indexes(store: ObjectStore, repaired: list[str],
                 spare_indexes: Path | None) -> tuple[dict[str, list[IndexEntry]], set[str]]:
    """Every pack's entries, and the packs whose index had to be salvaged. A damaged index
    is put back from ``spare_indexes`` (a cache of this store's indexes) when the copy
    there is the one the pack's id names (and named in ``repaired``). An index newer than
    this assay stops everything."""
    entries: dict[str, list[IndexEntry]] = {}
    salvaged: set[str] = set()
    damaged: dict[str, bytes] = {}
    for key in sorted(store.list("packs/")):
        if not key.endswith(".idx"):
            continue
        pack_id = key[len("packs/"):-len(".idx")]
        try:
            data = store.get_bytes(key)
        except NotFoundError:
            continue  # deleted since it was listed (a gc elsewhere)
        if newer_header(data):  # whole or damaged: repair does not guess
            raise UsageError(f"pack index {key} is in a format newer than this assay knows (or its header is "
                             "damaged to look so); this assay will not change that store",
                             hint="upgrade assay and repair again; if no newer assay wrote it, move "
                                  f"{key} and its .pack out of the store by hand")
        try:
            entries[pack_id] = decode_index(data, key)
        except CorruptionError:
            damaged[key] = data
    for key, data in damaged.items():
        pack_id = key[len("packs/"):-len(".idx")]
        spare = _spare_index(spare_indexes, pack_id, key)
        if spare is not None:
            store.put_bytes(key, spare)
            entries[pack_id] = decode_index(spare, key)
            repaired.append(f"pack index {key}")
            continue
        entries[pack_id] = salvage_index(data)
        salvaged.add(pack_id)
    return entries, salvaged


def _spare_index(folder: Path | None, pack_id: str, key: str) -> bytes | None:
    if folder is None:
        return None
    try:
        data = (folder / f"{pack_id}.idx").read_bytes()
        decode_index(data, key)
    except (OSError, CorruptionError):
        return None
    return data if blake3.blake3(data).hexdigest()[:32] == pack_id else None  # a pack's id is its index's hash


def read_snapshots(store: ObjectStore, source_store: ObjectStore,
                   live: set[str]) -> tuple[dict[str, bytes], dict[bytes, int], set[str]]:
    """Check every live snapshot; the good copies from the other side of those damaged or
    missing here (written once their chunks are), the chunks the readable ones need, with
    their sizes, and the snapshots that no side has a good copy of."""
    needed: dict[bytes, int] = {}
    replacements: dict[str, bytes] = {}
    unread: set[str] = set()
    for snapshot_id in sorted(live):
        try:
            snapshot, _ = load_snapshot_object(store, snapshot_id)
        except (CorruptionError, NotFoundError):
            try:
                snapshot, data = load_snapshot_object(source_store, snapshot_id)  # checked against its id
            except (CorruptionError, NotFoundError):
                unread.add(snapshot_id)
                continue  # no good copy: the verify afterwards names it
            replacements[snapshot_id] = data
        for manifest in snapshot.files.values():
            needed.update(manifest.chunks)
    return replacements, needed, unread
