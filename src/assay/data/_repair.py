"""Repairing a store from another copy: `assay data pull --repair` and `push --repair`.

`verify` names damage; repair replaces it. `pull --repair` mends the workspace's
store from a remote, `push --repair` mends a remote from the workspace.

- Every chunk of every pack in the store being mended is read and checked against
  its digest, as `verify --all` does.
- A chunk that is damaged or missing gets a good copy: from elsewhere in the same
  store if there is one, else from the other side (any copy there that checks out
  against its digest). A pack with damage that got a good copy is rewritten: its
  good chunks and the damaged bytes that nothing could replace go into a new pack,
  published (pack, then index) before the old pack's index and then the old pack
  are deleted. A crash leaves every chunk the store had, some maybe twice (gc keeps
  the good copy); a rerun finishes the job. A pack whose damage nothing could
  replace is left as it is.
- Damaged bytes are carried into the new pack as they were, with the index checksum
  they were written with (or one that cannot match), so every check still rejects
  them. Where even that cannot be done (a cut-off pack, or a pack whose index had
  to be salvaged and does not account for every byte of it), the old pack and its
  index are moved under ``lost/``, which nothing reads and gc leaves alone, instead
  of being deleted: repair never deletes bytes it could not place.
- A pack index that does not decode is put back from this workspace's cache of that
  store's indexes, when the cached copy hashes to the pack's id. Otherwise the
  entries it still holds are salvaged, each of their chunks checked against its
  digest, and what they no longer name is looked for in the pack by its content
  (:func:`_found_in_gaps`; a stretch is cut only where one reading alone gives a
  chunk a version needs). A header that names a format newer than this assay knows,
  whole or damaged, stops the repair before anything changes.
- Packs without an index for an hour or more (an interrupted write's, or one whose
  index was lost) go under ``lost/`` too, while a chunk a version needs is missing.
- Snapshots that are damaged or missing are copied from the other side, checked
  against their ids, after the chunks they need: a snapshot in a store vouches that
  its chunks are there (a plain push does not look for them again).
- A version ref on a remote that does not read as its version is written again from
  this workspace's ledger, keeping the version number the damaged ref still shows;
  a ref whose number cannot be read or is held by another ref, or of a version not
  known here, is named and left for the workspace that pushed it.
- Afterwards the store is verified again, and that report is the result: a repair
  says it worked only when a fresh check finds nothing.

`pull --repair` checks and stores under the workspace's shared lock, as an add does,
and takes the exclusive lock (and the store's exclusive hold: no push into it under way,
see :mod:`assay.data._storelock`) only to delete or move aside the packs it replaced, each
only if every chunk it held good (or had mended) is still indexed elsewhere then.
`push --repair` mends under a push's hold on the remote (and the workspace's shared lock) and retires under
the remote's exclusive hold alone, waited for outside the workspace's lock.
What a repair reads before it changes anything (indexes, snapshots) is :mod:`assay.data._repair_read`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.data._packs import (
    CHECK_BATCH,
    CHECK_BYTES,
    PACK_MAGIC,
    ChunkLocation,
    PackStore,
    PackWriter,
    bad_pack_header,
    decode_index,
    workspace_packs,
)
from assay.data._remote_mend import live_on_remote, mend_refs, mend_runs
from assay.data._repair_read import read_indexes, read_snapshots
from assay.data._salvage import found_in_gaps
from assay.data._storelock import store_hold, store_hold_within
from assay.data._verify import VerifyReport, leftover_packs, verify
from assay.data._versions import all_versions
from assay.errors import CorruptionError, NotFoundError
from assay.progress import bar
from assay.store import LocalStore, ObjectStore
from assay.workspace import Workspace

__all__ = ["RepairResult", "repair"]


@dataclass
class RepairResult:
    """What :func:`repair` mended (``--json`` prints :meth:`to_dict`): ``store`` mended from
    ``source``; counts of chunks and snapshots checked; ``repaired``, the objects that are good
    again; ``chunks_copied`` and ``bytes_copied`` (uncompressed bytes) taken from ``source``;
    ``after``, the :class:`VerifyReport` of the mended store; ``ok`` (property) when it is clean
    and no remote ref was left unmended. Each other field's comment says what it lists."""

    store: str  # what was mended: "workspace" or "remote NAME"
    source: str  # where good copies came from
    checked_chunks: int = 0
    checked_snapshots: int = 0
    repaired: list[str] = field(default_factory=list)  # objects that were damaged or missing and are good now
    packs_rewritten: int = 0
    chunks_copied: int = 0  # good copies taken from the other side
    bytes_copied: int = 0
    kept_aside: list[str] = field(default_factory=list)  # packs moved under lost/ rather than deleted
    unmended_refs: list[str] = field(default_factory=list)  # remote refs left as they were
    left_as_is: list[str] = field(default_factory=list)  # replaced packs kept: the store changed meanwhile
    orphans_aside: list[str] = field(default_factory=list)  # packs without an index moved under lost/
    orphans_removed: list[str] = field(default_factory=list)  # packs without an index that no version needs
    found_in_place: int = 0  # chunks a damaged index no longer named, found in its pack by their content
    after: VerifyReport | None = None  # the check of the mended store, run afresh

    @property
    def ok(self) -> bool:
        return self.after is not None and self.after.ok and not self.unmended_refs

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "store": self.store, "source": self.source, "checked_chunks": self.checked_chunks,
            "checked_snapshots": self.checked_snapshots, "repaired": self.repaired,
            "packs_rewritten": self.packs_rewritten, "chunks_copied": self.chunks_copied,
            "bytes_copied": self.bytes_copied, "kept_aside": self.kept_aside, "unmended_refs": self.unmended_refs,
            "left_as_is": self.left_as_is, "orphans_aside": self.orphans_aside, "orphans_removed": self.orphans_removed,
            "found_in_place": self.found_in_place,
            "after": self.after.to_dict() if self.after else None,
        }


def repair(ws: Workspace, *, remote: str | None = None, on_remote: bool = False) -> RepairResult:
    """Mend the workspace's store from ``remote`` (default remote when None), or with
    ``on_remote`` that remote from the workspace's store; then verify what was mended.

    Returns a :class:`RepairResult`: damage that no good copy could mend is listed there (the
    CLI exits 1), not raised. Raises :class:`~assay.errors.UsageError` where ``remote`` names no
    remote, and :class:`~assay.errors.NotFoundError` where the remote holds no versions to repair
    from."""
    if not on_remote and remote is None and not ws.config.remotes:
        return _repair_alone(ws)
    if not on_remote:
        ws.refilling = True  # a shared ledger's store that was emptied is let in: this puts its versions back
        try:
            return _repair(ws, remote, on_remote)
        finally:
            ws.refilling = False
    return _repair(ws, remote, on_remote)


def _repair(ws: Workspace, remote: str | None, on_remote: bool) -> RepairResult:
    from assay.data._remote import open_remote, refuse_read_only, remote_hold, remote_packs

    spec, store = open_remote(ws, remote)
    if on_remote:
        refuse_read_only(ws, spec)
    local = workspace_packs(ws)
    if on_remote:
        result = RepairResult(store=f"remote {spec.name}", source="workspace")
        if not any(store.list("versions/")) and not any(store.list("refs/")):
            raise NotFoundError(f"remote {spec.name} holds no versions: there is nothing to repair there",
                                hint=f"`assay data push --remote {spec.name}` sends them")
        target = PackStore(store)  # the remote's own indexes, not this workspace's cache of them

        def live() -> set[str]:  # once every index is known readable by this assay: refs first
            refs = mend_refs(ws, store, result)
            mend_runs(ws, store, result)
            return live_on_remote(store, refs)

        try:
            # This workspace's store is read (no gc of it meanwhile); checking and storing add to the remote,
            # as a push does.
            with remote_hold(ws, spec, store, "push", locked=True):  # (the workspace's lock with it)
                retire = _mend(store, target, ws.store, local, live, ws.tmp_dir, result, index_format=1,
                               spare_indexes=ws.cache_dir / "remotes" / spec.name / "idx",
                               pack_size=min(ws.config.data.pack_size, 64 << 20), drop_orphans=True)
            # Packs are deleted, a push's pack in flight would read as a leftover: no push may be under way.
            # Waited for outside the workspace's lock (on a PostgreSQL ledger, every workspace on this
            # store shares it, and their gcs would stall behind a repair that only waits): retiring
            # reads and changes the remote alone, and its hold keeps every other writer there out.
            with store_hold(store, "repair", where=f"remote {spec.name} ({spec.url})", workspace=ws.root) as hold:
                retire(hold.check)
        finally:
            target.close()
        if not result.unmended_refs:  # otherwise reading the remote's versions fails on them
            result.after = verify(ws, remote=spec.name)
    else:
        result = RepairResult(store="workspace", source=f"remote {spec.name}")
        _mend_workspace(ws, local, store, remote_packs(ws, spec, store), result,
                        reading=lambda: remote_hold(ws, spec, store, "pull", locked=True))
    return result


def _repair_alone(ws: Workspace) -> RepairResult:
    """Mend the workspace's store where no remote is configured: from its own copies only (a
    damaged index rebuilt from its pack, a chunk stored twice). A source with nothing in it
    stands in for the remote."""
    import tempfile

    result = RepairResult(store="workspace", source="the workspace's own copies (no remote configured)")
    with tempfile.TemporaryDirectory(dir=ws.tmp_dir) as empty:
        nothing = LocalStore(Path(empty))
        _mend_workspace(ws, workspace_packs(ws), nothing, PackStore(nothing), result)
    return result


def _mend_workspace(ws: Workspace, local: PackStore, store: ObjectStore, source: PackStore, result: RepairResult,
                    reading: Callable[[], Any] | None = None) -> None:
    """Mend the workspace's store from ``source`` (the pack view of ``store``, held with
    ``reading`` while read, which takes the workspace's lock too: else the lock alone);
    result.after is the check of the mended store."""
    own = isinstance(ws.store, LocalStore)
    # An object store's indexes are read afresh, not from the cache of them (which is
    # where a damaged one is put back from).
    target = local if own else PackStore(ws.store)
    try:
        # checking and storing only add to the store, as an add does: adds may go on
        with ws.lock() if reading is None else reading():
            retire = _mend(ws.store, target, store, source, lambda: {v.snapshot for v in all_versions(ws)},
                           ws.tmp_dir, result, index_format=2, pack_size=ws.config.data.pack_size,
                           spare_indexes=None if own else ws.cache_dir / "idx", keep_orphans=True,
                           check=ws.check_lock)
        # Packs are deleted: no add may be deciding what is stored, nor a push into this store under way.
        # (Waiting for the store's other holds outside the workspace's lock: see store_hold_within.)
        with store_hold_within(lambda **kw: ws.lock(exclusive=True, **kw), ws.store, "repair",
                               where=f"the store {ws.store.url}", workspace=ws.root) as hold:
            retire(hold.check)
    finally:
        source.close()
        if target is not local:
            target.close()
        local.close()
        local.invalidate()
    result.after = verify(ws, all_objects=True)


def _mend(store: ObjectStore, packs: PackStore, source_store: ObjectStore, source: PackStore,
          live: Callable[[], set[str]], tmp_dir: Path, result: RepairResult, *, index_format: int, pack_size: int,
          spare_indexes: Path | None = None, keep_orphans: bool = False, drop_orphans: bool = False,
          check: Callable[[], None] = lambda: None) -> Callable[[Callable[[], None]], None]:
    """Check every pack, store good copies, and write new packs and snapshots (all of it only
    adds to the store); what is returned deletes or moves aside the packs they replace."""
    entries, salvaged = read_indexes(store, result.repaired, spare_indexes)
    snapshots_live = live()
    clean: set[bytes] = set()  # good chunks in packs without damage: they stay where they are
    good: dict[str, dict[bytes, ChunkLocation]] = {}  # good chunks of the damaged packs
    bad: dict[str, dict[bytes, ChunkLocation]] = {}
    reheaded: set[str] = set()  # packs whose header is damaged: rewritten whole, every chunk being good
    with bar(total=sum(len(e) for e in entries.values()), desc="checking", unit="chunk") as progress:
        for pack_id in sorted(entries):
            locations = {e[0]: ChunkLocation(pack_id, *e[1:]) for e in entries.pop(pack_id)}
            items = sorted(locations.items(), key=lambda item: item[1].offset)
            found: list[bytes] = []
            damaged_here: dict[bytes, ChunkLocation] = {}
            for start in range(0, len(items), CHECK_BATCH):  # a batch's errors are dropped before the next is read
                errors: list[tuple[bytes, CorruptionError]] = []
                found += [d for d, _ in packs.read_pack(pack_id, items[start:start + CHECK_BATCH], errors=errors,
                                                        stored=True, strict=True)]
                damaged_here.update((d, locations[d]) for d, _ in errors)
                progress.update(min(CHECK_BATCH, len(items) - start))
            del items
            result.checked_chunks += len(locations)
            if bad_pack_header(store, pack_id) is not None:
                reheaded.add(pack_id)
            if damaged_here or pack_id in salvaged or pack_id in reheaded:
                good[pack_id] = {d: locations[d] for d in found}
                bad[pack_id] = damaged_here
            else:
                clean.update(found)
    elsewhere = {d for locs in good.values() for d in locs}  # good copies inside damaged packs
    snapshots, sizes, unread = read_snapshots(store, source_store, snapshots_live)
    result.checked_snapshots += len(snapshots_live)
    needed = set(sizes)
    # Packs without an index are dropped only where every chunk any version there needs is
    # known: every ref and snapshot read, and no workspace keeps its own chunks in this store
    # (its versions are in its ledger, not in the store's refs).
    drop_orphans = drop_orphans and not unread and not result.unmended_refs and not any(store.list("ledgers/"))
    damaged = {d for p, locs in bad.items() if p not in salvaged for d in locs}  # a salvaged entry may be garbage
    missing = needed - clean - elsewhere - damaged

    packs.refresh([])  # the writer asks the index what is stored; damaged indexes are left out
    for locs in (*good.values(), *bad.values()):
        for d in locs:
            packs.index.pop(d, None)  # stored again below, in a new pack
    writer = PackWriter(packs, tmp_dir, pack_size=pack_size, index_format=index_format)
    copied: set[bytes] = set()
    aside: set[str] = set()
    try:
        # What a salvaged index no longer names may still be in its pack: found by content.
        for pack_id in sorted(salvaged):
            for loc in found_in_gaps(store, pack_id, good[pack_id].values(), missing - elsewhere, sizes):
                if loc.digest not in elsewhere:
                    good[pack_id][loc.digest] = loc.location
                    elsewhere.add(loc.digest)
                    result.found_in_place += 1
        want = sorted((damaged | missing) - clean - elsewhere)
        if want:
            for digest, stored, loc in _good_copies(source, want):
                if writer.add_stored(digest, stored, loc.raw, loc.flags):
                    copied.add(digest)
                    result.chunks_copied += 1
                    result.bytes_copied += loc.raw
        mended = copied | clean | elsewhere
        # A damaged pack is rewritten only if some of its damage now has a good copy (or its
        # index was salvaged, or its header is damaged); one whose damage nothing replaces is
        # left as it is.
        rewrite = sorted(p for p in bad if p in salvaged or p in reheaded or any(d in mended for d in bad[p]))
        staying = {d for p in bad if p not in rewrite for d in good[p]}
        for pack_id in rewrite:
            items = [(d, loc) for d, loc in good[pack_id].items() if d not in clean and d not in staying]
            for digest, stored in packs.read_pack(pack_id, items, stored=True, strict=True):  # changed since: raise
                loc = good[pack_id][digest]
                writer.add_stored(digest, stored, loc.raw, loc.flags, loc.check)
            if pack_id in salvaged:
                if not _accounted_for(store, pack_id, good[pack_id].values()):
                    aside.add(pack_id)
                continue
            for digest, loc in bad[pack_id].items():
                if digest not in mended and not _carry(packs, writer, digest, loc):
                    aside.add(pack_id)  # bytes that cannot be placed (or a second damaged copy): the pack is kept
        writer.flush()
    except BaseException:
        writer.abort()
        raise
    for snapshot_id, data in snapshots.items():  # after the chunks they vouch for
        store.put_bytes(f"snapshots/{snapshot_id}", data)
        result.repaired.append(f"snapshot snapshots/{snapshot_id}")
    fixed = (damaged | missing) & (copied | clean | elsewhere)
    result.repaired += [f"chunk {d.hex()}" for d in sorted(fixed)]
    result.packs_rewritten = len(rewrite)

    placed = {p: set(good[p]) | {d for d in bad[p] if d in mended} for p in rewrite}
    still_missing = bool(needed - (copied | clean | elsewhere))

    def retire(hold_check: Callable[[], None]) -> None:
        # Between the checking (shared lock) and now (exclusive) a gc may have run: a pack goes
        # only if every chunk it held good, or had mended, is still indexed in another pack.
        def still_held() -> None:  # before each deletion or move: the workspace's lock and the store's hold
            check()
            hold_check()

        held = _indexed_outside(store, set(rewrite))
        for pack_id in rewrite:
            packs.forget_pack(pack_id)
            if pack_id not in writer.published and not placed[pack_id] <= held:
                result.left_as_is.append(f"packs/{pack_id}.pack")  # the next repair looks at it again
                continue
            if pack_id in reheaded:  # its chunks are in a pack with a good header now (maybe its very id)
                result.repaired.append(f"pack packs/{pack_id}.pack")
            if pack_id in writer.published:  # rewritten with the very entries it had (its id is its index's hash)
                if pack_id in salvaged:
                    result.repaired.append(f"pack index packs/{pack_id}.idx")
                continue  # the same bytes at every entry, all good now
            if pack_id in aside:
                still_held()
                _keep_aside(store, pack_id)
                result.kept_aside.append(f"packs/{pack_id}.pack")
                continue
            if pack_id in salvaged:
                result.repaired.append(f"pack index packs/{pack_id}.idx")  # its chunks are indexed whole again
            for key in (f"packs/{pack_id}.idx", f"packs/{pack_id}.pack"):  # the index first: a pack without one is ignored
                still_held()
                store.delete(key)
        if still_missing and keep_orphans:  # packs without an index, while chunks are missing: maybe theirs
            for pack_id in sorted(leftover_packs(store)):
                still_held()
                _keep_aside(store, pack_id)
                result.orphans_aside.append(f"packs/{pack_id}.pack")
        elif drop_orphans and not still_missing:  # every chunk a version needs is indexed: none only theirs
            for pack_id in sorted(leftover_packs(store)):
                still_held()
                store.delete(f"packs/{pack_id}.pack")
                result.orphans_removed.append(f"packs/{pack_id}.pack")
        packs.invalidate()

    return retire


def _good_copies(source: PackStore, digests: list[bytes]) -> Any:
    """``(digest, stored bytes, location)`` of a good copy of each of ``digests`` in ``source``
    that has one, checked against its digest: the copy its index names, else any other."""
    source.refresh([])
    indexed = [d for d in digests if source.has(d)]
    others = {d for d in digests if not source.has(d)}  # no copy its index names: looked for in every pack
    with bar(total=len(digests), desc="copying", unit="chunk") as progress:
        for start in range(0, len(indexed), CHECK_BATCH):  # a batch's errors are dropped before the next is read
            errors: list[tuple[bytes, CorruptionError]] = []
            for digest, stored in source.read_many(indexed[start:start + CHECK_BATCH], errors=errors,
                                                   stored=True):  # content-checked
                yield digest, stored, source.index[digest]
                progress.update(1)
            others.update(d for d, _ in errors)
        if others:  # the copy the index names is damaged or gone: look in every pack
            for pack_id in sorted(source.packs()):
                try:
                    entries = [e for e in source.pack_entries(pack_id) if e[0] in others]
                except CorruptionError:
                    continue
                items = [(e[0], ChunkLocation(pack_id, *e[1:])) for e in entries]
                locations = dict(items)
                for digest, stored in source.read_pack(pack_id, items, errors=[], stored=True):
                    if digest in others:
                        others.discard(digest)
                        yield digest, stored, locations[digest]
                        progress.update(1)


def _accounted_for(store: ObjectStore, pack_id: str, good: Any) -> bool:
    """Whether the checked chunks of a pack whose index was salvaged cover every byte of it."""
    end = len(PACK_MAGIC)
    for loc in sorted(good, key=lambda loc: loc.offset):
        if loc.offset != end:
            return False
        end += loc.stored
    try:
        return store.size(f"packs/{pack_id}.pack") == end
    except NotFoundError:
        return False  # its index may be all that maps a pack moved aside before: keep it


def _keep_aside(store: ObjectStore, pack_id: str) -> None:
    """Move a pack that holds bytes repair could not place (and its index) under ``lost/``:
    out of every reader's way, and out of gc's. The index is copied first and deleted last,
    so that a crash between the steps leaves the pack findable (a rerun moves it again)."""
    try:
        store.put_bytes(f"lost/{pack_id}.idx", store.get_bytes(f"packs/{pack_id}.idx"))
    except NotFoundError:
        pass
    try:
        store.move(f"packs/{pack_id}.pack", f"lost/{pack_id}.pack")
    except NotFoundError:
        pass
    store.delete(f"packs/{pack_id}.idx")


def _indexed_outside(store: ObjectStore, retiring: set[str]) -> set[bytes]:
    """Every chunk an index of the store lists, in packs that exist and are not ``retiring``."""
    keys = list(store.list("packs/"))
    packs = {key[len("packs/"):-len(".pack")] for key in keys if key.endswith(".pack")}
    held: set[bytes] = set()
    for key in keys:
        pack_id = key[len("packs/"):-len(".idx")]
        if key.endswith(".idx") and pack_id in packs and pack_id not in retiring:
            try:
                held.update(e[0] for e in decode_index(store.get_bytes(key), key))
            except (CorruptionError, NotFoundError):
                continue
    return held


def _carry(packs: PackStore, writer: PackWriter, digest: bytes, loc: ChunkLocation) -> bool:
    """Move a damaged chunk's bytes into the new pack unchanged; False where they cannot be
    (gone, or cut off). Its checksum stays the one it was written with; a chunk from an
    index without checksums gets one that cannot match (all zero), so that a push checking
    by checksum refuses it too."""
    try:
        stored = packs.read_stored(loc)
    except (CorruptionError, NotFoundError):
        return False
    if len(stored) != loc.stored:
        return False
    return writer.add_stored(digest, stored, loc.raw, loc.flags, loc.check or bytes(CHECK_BYTES))
