"""`assay data gc`: delete chunks and snapshots that no version references.

Runs under the workspace's exclusive lock, so no `add` can be between writing a
chunk and recording its version (a dry run, which deletes nothing, shares it). Packs whose chunks are all dead are deleted;
packs that mix live and dead chunks are rewritten with the live ones (new pack
published before the old one is removed, so a crash never loses a live chunk).
Temp files that a killed checkout left in the datasets' folders go too, and so do the
temp files of killed writers in the store's and the workspace's temp folders, which every
other command removes on opening the store (a note on stderr says so): gc counts them
instead (a dry run keeps them).
A store that is also some workspace's remote (a shared folder used as both) holds the
versions pushed there, which this ledger may not know: gc keeps them, as it keeps its own,
and holds the store exclusive (:mod:`assay.data._storelock`), so that no push lands packs
there between its listing of refs and its deletions: while one runs, gc refuses.
An unreferenced pack or snapshot written within the grace time (a day; see
:func:`grace_seconds`) is kept for a later run: a writer that takes no hold (an assay from
before the store's lock) may be about to record the version that references it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from assay._root import not_data
from assay._wording import counted
from assay.config import seconds_from_env
from assay.data._packs import ChunkLocation, PackWriter, workspace_packs
from assay.data._snapshot import ManifestMemo
from assay.data._storelock import StoreHold, store_hold_within
from assay.data._storemarkers import holds_now, store_now
from assay.data._versions import (
    all_versions,
    dataset_sources,
    list_datasets,
    load_snapshot,
)
from assay.errors import CorruptionError, InputError, NotFoundError, UsageError
from assay.store import remove_leftovers
from assay.workspace import Workspace

__all__ = ["GcResult", "gc"]


@dataclass
class GcResult:
    """What :func:`gc` deleted, or with ``dry_run`` would delete (``assay data gc --json`` prints
    :meth:`to_dict`). Counts are of objects; every ``*_bytes`` field and ``bytes_freed`` is in
    bytes; ``grace_seconds`` is the age below which unreferenced objects are kept. Each field's
    comment below says what it counts."""

    dry_run: bool
    chunks_deleted: int = 0
    bytes_freed: int = 0  # all of it: the chunks', the debris', the checkout leftovers'
    chunk_bytes: int = 0  # the chunks' (counted in bytes_freed)
    packs_deleted: int = 0
    packs_rewritten: int = 0
    snapshots_deleted: int = 0
    debris_deleted: int = 0  # what interrupted writes left: packs without an index, killed writers' temp files
    debris_bytes: int = 0  # their size (counted in bytes_freed too)
    temp_files: int = 0  # of those, killed writers' temp files (the rest: packs without an index)
    temp_file_bytes: int = 0  # their size
    checkout_leftovers: int = 0  # temp files of killed checkouts in the datasets' folders
    checkout_leftover_bytes: int = 0  # their size (counted in bytes_freed too)
    debris_kept: int = 0  # packs without an index, kept because some live chunk is missing
    kept_aside: int = 0  # packs a repair moved under lost/ (bytes it could not place): never deleted by gc
    pushed_versions_kept: int = 0  # versions other workspaces pushed to this store (as their remote): kept
    stale_locks_removed: int = 0  # markers in locks/ of pushes or pulls that were killed (see _storelock)
    recent_kept: int = 0  # unreferenced packs and snapshots younger than the grace time: a write may be under way
    grace_seconds: float = 0.0
    # A dry run's look at the store's holds (it takes none): each live one (see Marker.to_dict),
    # and what a gc would do now: "refuse", "wait" (with --wait), or None (it would go on).
    store_holds: list[dict[str, Any]] = field(default_factory=list)
    gc_now: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def gc(ws: Workspace, *, dry_run: bool = False, rewrite_threshold: float = 0.0, wait: bool = False) -> GcResult:
    """Remove what no version references. ``rewrite_threshold``: a pack that holds both live
    and dead chunks is rewritten (its live chunks copied into a new pack) where the dead share
    of its bytes is above this, and kept as is otherwise: a number from 0 (the default: any
    dead chunk) to 1 (never: only packs with no live chunk are deleted); any other value is a
    :class:`~assay.errors.UsageError`. ``wait``: where pushes, pulls or verifies from other
    workspaces hold the store, wait for them to end (new ones wait behind this gc) instead of
    refusing.

    Returns a :class:`GcResult` (``assay data gc --json`` prints its :meth:`~GcResult.to_dict`);
    ``dry_run`` deletes nothing and says what gc would delete and keep. Refusals:
    :class:`~assay.errors.ConcurrencyError` where others hold the store (without ``wait``),
    :class:`~assay.errors.UsageError` where another ledger uses the store."""
    _check_threshold(rewrite_threshold)
    result = GcResult(dry_run=dry_run, grace_seconds=grace_seconds())  # a bad setting: refused before anything
    sweep, ws.sweep_temps = ws.sweep_temps, False  # killed writers' temp files: counted below (kept by a dry run)
    try:
        # A dry run deletes nothing, so it shares the lock with adds and pushes (a gc still
        # excludes it): it can say what a gc would do while this workspace's push runs.
        with _gc_hold(ws, dry_run, wait) as hold:
            if dry_run:
                _look_at_holds(ws, result, wait)
            _collect(ws, result, dry_run, rewrite_threshold, hold)
            result.stale_locks_removed = hold.stale_removed if hold is not None else 0
    finally:
        ws.sweep_temps = sweep
    return result


def _check_threshold(threshold: object) -> None:
    """A dead share is from 0 to 1: a threshold outside (or NaN, or no number) would silently
    act as 0 or 1, or compare as never."""
    if (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
            or not 0 <= threshold <= 1):  # (NaN fails this too)
        raise UsageError(f"rewrite_threshold must be a number from 0 to 1 (the dead share of a pack's bytes "
                         f"above which gc rewrites it), not {threshold!r}",
                         hint="pass 0 (the default) to rewrite every pack with a dead chunk, 1 to rewrite none "
                              "(only packs with no live chunk are deleted), or a share between, e.g. 0.5")


@contextlib.contextmanager
def _gc_hold(ws: Workspace, dry_run: bool, wait: bool) -> Iterator[StoreHold | None]:
    """The workspace's lock, and the store's exclusive hold (see :mod:`assay.data._storelock`):
    a push from another workspace (this store is its remote) lands no pack while gc decides
    what is live. A dry run deletes nothing: it shares the workspace's lock and holds nothing
    in the store (it says whose holds a gc would meet: :func:`_look_at_holds`). With ``wait``,
    gc waits for the store's other holds outside the workspace's lock (see
    :func:`store_hold_within`): this workspace's commands, and on a PostgreSQL ledger every
    workspace's on this store, go on meanwhile."""
    if dry_run:
        with ws.lock():
            yield None
        return
    with store_hold_within(lambda **kw: ws.lock(exclusive=True, **kw), ws.store, "gc",
                           where=f"the store {ws.store.url}", workspace=ws.root, wait=wait) as hold:
        yield hold


def _look_at_holds(ws: Workspace, result: GcResult, wait: bool) -> None:
    """What a gc would meet in the store now (a dry run takes no hold): the live holds of
    others, and whether it would refuse (without ``wait``) or wait (for another gc too)."""
    found = holds_now(ws.store)
    result.store_holds = [m.to_dict() for m in found]
    if found:
        result.gc_now = "wait" if wait else "refuse"


def _collect(ws: Workspace, result: GcResult, dry_run: bool, rewrite_threshold: float,
             hold: StoreHold | None) -> None:
    _refuse_shared_store(ws)
    packs = workspace_packs(ws)
    packs.refresh()
    here = all_versions(ws)
    live_snapshots = {v.snapshot for v in here}
    pushed = _pushed_to_store(ws.store)
    result.pushed_versions_kept = len({(n, i) for n, i, _ in pushed} - {(v.dataset, v.id) for v in here})
    live_snapshots |= {snap for _, _, snap in pushed}
    order = {snap: i for i, snap in enumerate([*(v.snapshot for v in here), *(snap for _, _, snap in pushed)])}
    live: set[bytes] = set()
    memo = ManifestMemo()
    for snap_id in sorted(live_snapshots, key=order.get):  # a dataset's versions in turn: each reuses the last's
        try:
            live |= load_snapshot(ws.store, snap_id, memo=memo).chunk_digests()
        except CorruptionError as exc:
            raise CorruptionError(
                f"gc stopped: {exc.message}; without that snapshot gc cannot tell which chunks are live",
                key=exc.key, hint="run `assay data verify --all`, restore the snapshot from a remote (`assay data pull`), then retry",
            ) from None
    store = ws.store
    pack_ids = sorted(packs.packs())
    index = packs.index

    def delete(key: str) -> None:
        ws.check_lock()  # before every deletion: the lock must still be held (see Workspace.check_lock)
        if hold is not None:
            hold.check()  # and the store's hold (no request: what its heartbeat last found)
        store.delete(key)

    young = _young(store, hold, result.grace_seconds)

    missing_live = any(d not in index for d in live)  # of the versions' chunks (see the debris below)
    protected: set[bytes] = set()  # chunks no version references, of the young snapshots kept
    # Dead snapshots go first: a snapshot in a store always has all of its chunks there (a
    # push and a pull skip the chunks of one they find), so a gc killed midway must not
    # leave one whose packs are gone; and one kept as young keeps its chunks, however old
    # their packs (one that does not read keeps nothing, and goes).
    for key in list(store.list("snapshots/")):
        if key[len("snapshots/"):] not in live_snapshots:
            if young(key):
                try:
                    protected |= load_snapshot(store, key[len("snapshots/"):], memo=memo).chunk_digests() - live
                except CorruptionError:
                    pass  # it keeps nothing: deleted below
                else:
                    result.recent_kept += 1
                    continue
            result.snapshots_deleted += 1
            if not dry_run:
                delete(key)
    # Debris: packs without an index (interrupted writes). Not while a live chunk is missing:
    # a pack whose index was lost may hold it (`assay data pull --repair` keeps such packs).
    for key in list(store.list("packs/")):
        if key.endswith(".pack") and key[len("packs/"):-len(".pack")] not in pack_ids:
            if missing_live:
                result.debris_kept += 1
                continue
            if young(key):
                result.recent_kept += 1
                continue
            result.debris_deleted += 1
            result.debris_bytes += store.size(key)
            if not dry_run:
                delete(key)
    to_rewrite: list[str] = []
    entries_of = {pack_id: packs.pack_entries(pack_id) for pack_id in pack_ids}
    kept = live | protected if protected else live
    owner = _owners(packs, entries_of, kept)
    for pack_id in pack_ids:
        entries = entries_of[pack_id]
        hashes = [e[0] for e in entries]
        keep = [h in kept and owner[h] == (pack_id, e[1]) for h, e in zip(hashes, entries, strict=True)]
        dead_bytes = sum(e[2] for e, k in zip(entries, keep, strict=True) if not k)
        dead_chunks = keep.count(False)
        if dead_chunks == 0 and not (protected and any(h in protected for h in hashes)):
            continue
        if young(f"packs/{pack_id}.pack", f"packs/{pack_id}.idx"):
            result.recent_kept += 1  # (counted as unreferenced also where a young snapshot keeps it)
            continue
        if dead_chunks == 0:
            continue
        result.chunks_deleted += dead_chunks
        result.chunk_bytes += dead_bytes
        result.bytes_freed += dead_bytes
        if not any(keep):
            result.packs_deleted += 1
            if not dry_run:
                _delete_pack(delete, pack_id)
        elif dead_bytes / max(1, sum(e[2] for e in entries)) > rewrite_threshold:
            result.packs_rewritten += 1
            to_rewrite.append(pack_id)
    if to_rewrite and not dry_run:
        _rewrite(ws, packs, to_rewrite, owner, delete)
    if not dry_run:
        packs.invalidate()
    temps = ws.dead_writers_temps()
    result.temp_files, result.temp_file_bytes = len(temps), sum(t.size for t in temps)
    result.debris_deleted += result.temp_files
    result.debris_bytes += result.temp_file_bytes
    result.bytes_freed += result.debris_bytes
    if not dry_run:
        ws.check_lock()
        remove_leftovers(temps)
    result.checkout_leftovers, result.checkout_leftover_bytes = _checkout_leftovers(ws, dry_run)
    result.bytes_freed += result.checkout_leftover_bytes
    result.kept_aside = sum(1 for key in store.list("lost/") if key.endswith(".pack"))


def _owners(packs: Any, entries_of: dict[str, list[Any]], live: set[bytes]) -> dict[bytes, tuple[str, int]]:
    """The one copy of each live chunk that gc keeps: ``(pack, offset)``. A chunk stored
    twice (two adds racing, or a repair interrupted before it deleted the old pack) keeps
    the first copy that reads back good, so a damaged copy never outlives a good one."""
    copies: dict[bytes, list[ChunkLocation]] = {}
    for pack_id, entries in entries_of.items():
        for h, off, stored, raw, flags, check in entries:
            if h in live:
                copies.setdefault(h, []).append(ChunkLocation(pack_id, off, stored, raw, flags, check))
    owner: dict[bytes, tuple[str, int]] = {}
    for h, locs in copies.items():
        chosen = locs[0]
        if len(locs) > 1:
            for loc in locs:
                errors: list[Any] = []
                if list(packs.read_pack(loc.pack, [(h, loc)], errors=errors, strict=True)):
                    chosen = loc
                    break
        owner[h] = (chosen.pack, chosen.offset)
    return owner


def _names(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _checkout_leftovers(ws: Workspace, dry_run: bool) -> tuple[int, int]:
    """Remove (count, with ``dry_run``) the temp files of checkouts whose process is gone,
    in every dataset's source folders: ``(files, bytes)``. No walk counts them as data (see
    assay._root.CHECKOUT_TMP)."""
    from assay.data._checkout import remove_dead_temps

    found = size = 0
    sources = {s for d in list_datasets(ws) for s in dataset_sources(ws, d["name"])}
    for (text,) in ws.ledger.query("SELECT sources FROM version_sources"):  # each version's own folders too
        sources.update(s for s in json.loads(text) if isinstance(s, str))
    sources = {s for s in sources if not any(s.startswith(t + "/") for t in sources)}  # each folder once
    root = str(ws.root)
    beside: set[str] = set()  # folders listed, not walked: each once
    for top in sorted(sources):
        path = os.path.join(root, top)
        if not os.path.isdir(path):
            # A file named as a source: its temp files sit beside it. A source not there: a
            # killed checkout made it (or a folder above it) under a temp name in the nearest
            # folder above that is there.
            folder = os.path.dirname(path)
            while folder != root and len(folder) > len(root) and not os.path.isdir(folder):
                folder = os.path.dirname(folder)
            if folder in beside:
                continue
            beside.add(folder)
            listings: Any = [(folder, [], _names(folder))]
        else:
            listings = os.walk(path)
        for folder, dirs, files in listings:
            temps = [name for name in dirs if not_data(name, False)]  # a checkout's new folders, not yet in place
            dirs[:] = [name for name in dirs if name not in temps]
            files_found, bytes_found = remove_dead_temps(folder, files + temps, dry_run=dry_run)
            found, size = found + files_found, size + bytes_found
    return found, size


GRACE_SECONDS = 86400.0


def grace_seconds() -> float:
    """How old an unreferenced pack or snapshot must be before gc deletes it
    (``ASSAY_GC_GRACE_SECONDS``, a day by default; 0 deletes at once)."""
    return seconds_from_env("ASSAY_GC_GRACE_SECONDS", GRACE_SECONDS, low=0.0, high=float("inf"),
                            unset="a day", example="3600; 0 deletes at once")


class _young:
    """Whether an object was written within the grace time, by the store's clock (its own
    marker's time where gc holds the store; a dry run, which holds none, asks the store:
    :func:`store_now`), never this machine's. A writer that takes no
    hold (an assay from before the store's lock, pushing or adding now) has its packs and
    snapshot unreferenced until it records its version: gc leaves them to a later run. An
    object whose age the store cannot tell (no modification times) is kept too."""

    def __init__(self, store: Any, hold: StoreHold | None, grace: float) -> None:
        self.store, self.grace = store, grace
        self.now = hold.markers.now(hold.name) if hold is not None and hold.held else None
        self._asked = self.now is not None

    def _store_now(self) -> float:
        if not self._asked:  # asked once, when an object's age is first wanted
            self._asked, self.now = True, store_now(self.store)
        return self.now if self.now is not None else time.time()

    def __call__(self, *keys: str) -> bool:
        if self.grace <= 0:
            return False
        for key in keys:
            try:
                if self._store_now() - self.store.modified(key) < self.grace:
                    return True
            except NotFoundError:
                continue
            except NotImplementedError:
                return True
        return False


def _delete_pack(delete: Any, pack_id: str) -> None:
    delete(f"packs/{pack_id}.idx")  # index first: a pack without index is ignored
    delete(f"packs/{pack_id}.pack")


def _rewrite(ws: Workspace, packs: Any, pack_ids: list[str], owner: dict[bytes, tuple[str, int]],
             delete: Any) -> None:
    settings = ws.config.data
    survivors: list[tuple[bytes, bytes, int, int]] = []
    for pack_id in pack_ids:
        entries = packs.pack_entries(pack_id)
        for h, off, stored, raw, flags, _ in entries:
            if owner.get(h) == (pack_id, off):  # live, and this is the copy kept
                here = ChunkLocation(pack_id, off, stored, raw, flags)
                data = packs.read_stored(here)
                packs.decode(h, here, data, what="gc")
                survivors.append((h, data, raw, flags))
    # Drop the doomed packs from the in-memory index so the writer stores survivors anew.
    for h, *_ in survivors:
        packs.index.pop(h, None)
    writer = PackWriter(packs, ws.tmp_dir, pack_size=settings.pack_size)
    seen: set[bytes] = set()
    for h, data, raw, flags in survivors:
        if h not in seen:
            seen.add(h)
            writer.add_stored(h, data, raw, flags)
    writer.flush()
    for pack_id in pack_ids:
        packs.forget_pack(pack_id)
        _delete_pack(delete, pack_id)


def _pushed_to_store(store: Any) -> list[tuple[str, str, str]]:
    """``(dataset, version id, snapshot)`` of each version that the store's own refs list:
    a store that is also some workspace's remote holds the versions pushed there, which this
    ledger may not know (``versions/NAME/ID.json``, and the single ``refs/NAME.json`` list
    older remotes hold). A ref that does not read could name any snapshot: gc stops."""
    from assay.data._remote_refs import check_entry, read_json, read_ref

    found: list[tuple[str, str, str]] = []
    unreadable: list[str] = []
    for key in sorted(store.list("versions/")):
        entry = read_ref(store, key) if key.endswith(".json") else None
        if entry is None:
            unreadable.append(key)
        else:
            found.append((key.split("/")[1], entry["id"], entry["snapshot"]))
    for key in sorted(store.list("refs/")):
        try:
            doc = read_json(store, key)
            entries = doc["versions"] if isinstance(doc, dict) and isinstance(doc.get("versions"), list) else None
            if entries is None:
                raise InputError(f"remote object {key} has an unexpected shape")
            for entry in entries:
                check_entry(entry, key)
        except (InputError, NotFoundError):
            unreadable.append(key)
            continue
        found += [(key[len("refs/"):].removesuffix(".json"), e["id"], e["snapshot"]) for e in entries]
    if unreadable:
        shown = ", ".join(unreadable[:3]) + (f" and {len(unreadable) - 3} more" if len(unreadable) > 3 else "")
        raise CorruptionError(
            f"refusing to gc: the store {store.url} is also a remote that workspaces pushed versions to, and "
            f"{len(unreadable)} of its version refs do not read ({shown}); gc cannot tell which chunks they keep live",
            key=unreadable[0],
            hint="`assay data push --repair` from a workspace that has those versions writes their refs again; "
                 "remove a ref no one needs from the store; then retry",
        )
    return found


def _refuse_shared_store(ws: Workspace) -> None:
    """gc deletes what no version in *this* ledger references. A store that workspaces with
    other ledgers also use holds their versions' chunks, which this ledger cannot see: gc
    there would delete their only copy. (Workspaces that share a store should share a
    ledger too: PostgreSQL; then they share its identity.)"""
    others = ws.other_ledgers()
    older = [o for o in others if o.get("unregistered") is True]
    if older:
        count = sum(int(o.get("count", 0)) if isinstance(o.get("count"), int) else 0 for o in older)
        shown = ", ".join(str(s) for o in older for s in (o.get("snapshots") or [])[:3] if isinstance(s, str))
        raise UsageError(
            f"refusing to gc: the store {ws.store.url} holds {counted(count, 'snapshot') if count else 'some snapshots'} ({shown}) that "
            "were there when the first workspace registered in it and that no version in this ledger or ref in "
            "the store names: an older assay, from before stores recorded which ledgers use them, stored them "
            "for a workspace whose versions this ledger cannot see (or a killed add left them); gc would "
            "delete that workspace's data",
            hint="open each workspace that uses this store with this assay (each registers itself, so that gc, "
                 "once the mark is gone, names them and refuses), or make sure no one needs those versions; then delete "
                 + ", ".join(o["key"] for o in older) + " from the store and retry",
        )
    if others:
        shown = ", ".join(f"{o.get('workspace', '?')} on {o.get('host', '?')}" if o.get("workspace") else o["key"]
                          for o in others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise UsageError(
            f"refusing to gc: the store {ws.store.url} is also used by {counted(len(others), 'workspace')} with another "
            f"ledger ({shown}); their versions are not in this ledger, so gc would delete their data",
            hint="let workspaces that share a store share one ledger (`ledger = \"postgresql://...\"`), then gc sees "
                 "every version; for a workspace that is gone for good, delete its registration "
                 + ", ".join(o["key"] for o in others[:3]) + " from the store",
        )
