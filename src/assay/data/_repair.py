"""Repairing a store from another copy: `assay data pull --repair` and `push --repair`.

`verify` names damage; repair replaces it. `pull --repair` mends the workspace's
store from a remote, `push --repair` mends a remote from the workspace.

- Every chunk of every pack in the store being mended is read and checked against
  its digest, as `verify --all` does.
- A pack holding any damaged or missing chunk is rewritten. Its good chunks go into
  a new pack, with a good copy of each bad one, taken from elsewhere in the same
  store or from the other side and checked against its digest on the way. The new
  pack is published (pack, then index) before the old pack's index and then the old
  pack are deleted. A crash leaves every chunk the store had, some maybe twice; a
  rerun finishes the job.
- A chunk with no good copy anywhere keeps its damaged bytes: they are carried into
  the new pack as they were, with the index checksum they were written with (or
  none that can match), so every check still rejects them. Repair never deletes
  what it could not replace.
- Snapshots that are damaged or missing are copied from the other side, checked
  against their ids.
- A pack index that does not decode is restored from this workspace's cache of
  that remote's indexes, when the cached copy hashes to the pack's id. Otherwise
  the entries it still holds are salvaged: each of their chunks is read and checked
  against its digest, and the pack is rewritten.
- Afterwards the store is verified again, and that report is the result: a repair
  says it worked only when a fresh check finds nothing.

While it runs, a pull from the remote being mended may find a pack gone and fail;
it succeeds when rerun. A version ref on a remote that does not read as its version is
written again from this workspace's ledger where that version is known; refs of
versions known only elsewhere are left for the workspace that pushed them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3

from assay.data._packs import (
    CHECK_BYTES,
    ChunkLocation,
    IndexEntry,
    PackStore,
    PackWriter,
    decode_index,
    salvage_index,
    workspace_packs,
)
from assay.data._verify import VerifyReport, verify
from assay.data._versions import all_versions, load_snapshot_object
from assay.errors import CorruptionError, NotFoundError
from assay.progress import bar
from assay.store import ObjectStore
from assay.workspace import Workspace

__all__ = ["RepairResult", "repair"]


@dataclass
class RepairResult:
    store: str  # what was mended: "workspace" or "remote NAME"
    source: str  # where good copies came from
    checked_chunks: int = 0
    checked_snapshots: int = 0
    repaired: list[str] = field(default_factory=list)  # objects that were damaged or missing and are good now
    packs_rewritten: int = 0
    chunks_copied: int = 0  # good copies taken from the other side
    bytes_copied: int = 0
    after: VerifyReport | None = None  # the check of the mended store, run afresh

    @property
    def ok(self) -> bool:
        return self.after is not None and self.after.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "store": self.store, "source": self.source, "checked_chunks": self.checked_chunks,
            "checked_snapshots": self.checked_snapshots, "repaired": self.repaired,
            "packs_rewritten": self.packs_rewritten, "chunks_copied": self.chunks_copied,
            "bytes_copied": self.bytes_copied, "after": self.after.to_dict() if self.after else None,
        }


def repair(ws: Workspace, *, remote: str | None = None, on_remote: bool = False) -> RepairResult:
    """Mend the workspace's store from ``remote`` (default remote when None), or with
    ``on_remote`` that remote from the workspace's store; then verify what was mended."""
    from assay.data._remote import _open, _pick, _remote_packs, _remote_versions

    spec = _pick(ws, remote)
    store = _open(ws, spec)
    local = workspace_packs(ws)
    if on_remote:
        result = RepairResult(store=f"remote {spec.name}", source="workspace")
        with ws.lock():
            _mend_refs(ws, store, result)
            live = {entry["snapshot"] for _, entry in _remote_versions(store, None)}
            target = PackStore(store)  # the remote's own indexes, not this workspace's cache of them
            try:
                _mend(store, target, ws.store, local, live, ws.tmp_dir, result, index_format=1,
                      spare_indexes=ws.cache_dir / "remotes" / spec.name / "idx", pack_size=min(ws.config.data.pack_size, 64 << 20))
            finally:
                target.close()
        result.after = verify(ws, remote=spec.name)
    else:
        result = RepairResult(store="workspace", source=f"remote {spec.name}")
        with ws.lock(exclusive=True):  # packs are deleted: no add may be writing one
            source = _remote_packs(ws, spec, store)
            try:
                _mend(ws.store, local, store, source, {v.snapshot for v in all_versions(ws)}, ws.tmp_dir, result,
                      index_format=2, pack_size=ws.config.data.pack_size)
            finally:
                source.close()
        result.after = verify(ws, all_objects=True)
    return result


def _mend(store: ObjectStore, packs: PackStore, source_store: ObjectStore, source: PackStore, live: set[str],
          tmp_dir: Path, result: RepairResult, *, index_format: int, pack_size: int,
          spare_indexes: Path | None = None) -> None:
    entries, salvaged = _indexes(store, result, spare_indexes)
    good: dict[str, dict[bytes, ChunkLocation]] = {}
    bad: dict[str, dict[bytes, ChunkLocation]] = {}
    with bar(total=sum(len(e) for e in entries.values()), desc="checking", unit="chunk") as progress:
        for pack_id, pack_entries in sorted(entries.items()):
            errors: list[tuple[bytes, CorruptionError]] = []
            locations = {e[0]: _location(pack_id, e) for e in pack_entries}
            good[pack_id] = {d: locations[d] for d, _ in packs.read_pack(pack_id, list(locations.items()),
                                                                         errors=errors, stored=True, strict=True)}
            bad[pack_id] = {d: locations[d] for d, _ in errors}
            result.checked_chunks += len(locations)
            progress.update(len(pack_entries))
    doomed = sorted(p for p in entries if bad[p] or p in salvaged)
    kept = {d for p in entries if p not in doomed for d in good[p]}
    rescued: dict[bytes, ChunkLocation] = {}  # good chunks of doomed packs, one copy each
    for pack_id in doomed:
        for d, loc in good[pack_id].items():
            if d not in kept:
                rescued.setdefault(d, loc)

    needed = _snapshots(store, source_store, live, result)
    damaged = {d for p in doomed for d in bad[p] if p not in salvaged}  # a salvaged entry may be garbage
    indexed = {e[0] for es in entries.values() for e in es}
    want = sorted((needed | damaged) - kept - rescued.keys())
    if not doomed and not want:
        return

    packs.refresh([])  # the writer asks the index what is stored; damaged indexes are left out
    for pack_id in doomed:
        for e in entries[pack_id]:
            packs.index.pop(e[0], None)  # stored again below, in a new pack
    writer = PackWriter(packs, tmp_dir, pack_size=pack_size, index_format=index_format)
    copied: set[bytes] = set()
    try:
        for pack_id in doomed:
            items = [(d, loc) for d, loc in rescued.items() if loc.pack == pack_id]
            for digest, stored in packs.read_pack(pack_id, items, stored=True, strict=True):  # changed since: raise
                loc = rescued[digest]
                writer.add_stored(digest, stored, loc.raw, loc.flags, loc.check)
        if want:
            source.refresh([])
            source_errors: list[tuple[bytes, CorruptionError]] = []
            with bar(total=len(want), desc="copying", unit="chunk") as progress:
                for digest, stored in source.read_many(want, errors=source_errors, stored=True):  # content-checked
                    loc = source.index[digest]
                    if writer.add_stored(digest, stored, loc.raw, loc.flags):
                        copied.add(digest)
                        result.chunks_copied += 1
                        result.bytes_copied += loc.raw
                    progress.update(1)
        for pack_id in doomed:
            if pack_id in salvaged:
                continue
            for digest, loc in bad[pack_id].items():
                if digest not in copied and digest not in kept and digest not in rescued:
                    # No good copy anywhere: keep the damaged bytes as they are.
                    _carry(packs, writer, digest, loc)
        writer.flush()
    except BaseException:
        writer.abort()
        raise
    for pack_id in doomed:
        packs.forget_pack(pack_id)
        if pack_id in writer.published:
            continue  # rewritten with the very entries it had (a pack's id is its index's hash): now good
        for key in (f"packs/{pack_id}.idx", f"packs/{pack_id}.pack"):  # the index first: a pack without one is ignored
            try:
                store.delete(key)
            except (FileNotFoundError, NotFoundError):
                pass
    result.packs_rewritten = len(doomed)
    packs.invalidate()
    fixed = (damaged | (needed - indexed)) & (copied | kept | rescued.keys())
    result.repaired += [f"chunk {d.hex()}" for d in sorted(fixed)]


def _mend_refs(ws: Workspace, store: ObjectStore, result: RepairResult) -> None:
    """Write again each version ref on the remote that does not read as its version, from
    this workspace's ledger where it has that version (a ref holds only ledger fields)."""
    from assay.data._remote import readable_ref, ref_entry
    from assay.data._versions import dataset_sources

    for key in sorted(store.list("versions/")):
        parts = key.split("/")
        if len(parts) != 3 or not parts[2].endswith(".json") or readable_ref(store, key):
            continue
        name, version_id = parts[1], parts[2][:-len(".json")]
        version = next((v for v in all_versions(ws) if v.id == version_id and v.dataset == name), None)
        if version is None:
            continue  # not known here: reading the remote names it
        kind = ws.ledger.query("SELECT kind FROM datasets WHERE name = ?", (name,))[0][0]
        store.put_bytes(key, ref_entry(version, kind, dataset_sources(ws, name)))
        result.repaired.append(f"ref {key}")


def _location(pack_id: str, entry: IndexEntry) -> ChunkLocation:
    return ChunkLocation(pack_id, *entry[1:])


def _indexes(store: ObjectStore, result: RepairResult,
             spare_indexes: Path | None) -> tuple[dict[str, list[IndexEntry]], set[str]]:
    """Every pack's entries, and the packs whose index had to be salvaged. A damaged index
    is put back from ``spare_indexes`` (a cache of this store's indexes) when the copy
    there is the one the pack's id names."""
    entries: dict[str, list[IndexEntry]] = {}
    salvaged: set[str] = set()
    for key in sorted(store.list("packs/")):
        if not key.endswith(".idx"):
            continue
        pack_id = key[len("packs/"):-len(".idx")]
        try:
            data = store.get_bytes(key)
        except NotFoundError:
            continue  # deleted since it was listed (a gc elsewhere)
        try:
            entries[pack_id] = decode_index(data, key)
            continue
        except CorruptionError:
            pass
        spare = _spare_index(spare_indexes, pack_id, key)
        if spare is not None:
            store.put_bytes(key, spare)
            entries[pack_id] = decode_index(spare, key)
            result.repaired.append(f"pack index {key}")
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


def _snapshots(store: ObjectStore, source_store: ObjectStore, live: set[str], result: RepairResult) -> set[bytes]:
    """Check every live snapshot, copying a good one from the other side where it is damaged
    or missing; the chunks the readable ones need."""
    needed: set[bytes] = set()
    for snapshot_id in sorted(live):
        result.checked_snapshots += 1
        try:
            snapshot, _ = load_snapshot_object(store, snapshot_id)
        except (CorruptionError, NotFoundError):
            try:
                snapshot, data = load_snapshot_object(source_store, snapshot_id)  # checked against its id
            except (CorruptionError, NotFoundError):
                continue  # no good copy: the verify afterwards names it
            store.put_bytes(f"snapshots/{snapshot_id}", data)
            result.repaired.append(f"snapshot snapshots/{snapshot_id}")
        needed |= snapshot.chunk_digests()
    return needed


def _carry(packs: PackStore, writer: PackWriter, digest: bytes, loc: ChunkLocation) -> None:
    """Move a damaged chunk's bytes into the new pack unchanged. Its checksum stays the one
    it was written with; a chunk from an index without checksums gets one that cannot match
    (all zero), so that a push checking by checksum refuses it too."""
    try:
        stored = packs.read_stored(loc)
    except (CorruptionError, NotFoundError):
        return  # the pack is gone: there is nothing left to keep
    if len(stored) == loc.stored:  # a cut-off chunk cannot be indexed as it was
        writer.add_stored(digest, stored, loc.raw, loc.flags, loc.check or bytes(CHECK_BYTES))
