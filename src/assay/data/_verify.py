"""`assay data verify`: re-hash stored objects and name everything a damage touches.

The same check runs on a remote (``--remote``): every version pushed there, its
snapshot and every chunk it needs, read back and hash-checked, and the run, check and
drift records filed with it that a pull would skip, so that a team can tell whether its
shared copy is intact before it needs it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from assay.data._packs import CHECK_BATCH, PackStore, bad_pack_header, workspace_packs
from assay.data._snapshot import ManifestMemo
from assay.data._versions import Version, all_versions, load_snapshot, resolve
from assay.errors import AssayError, CorruptionError, NotFoundError, UsageError
from assay.progress import bar
from assay.store import ObjectStore
from assay.workspace import Workspace

__all__ = ["Damage", "VerifyReport", "verify"]

ORPHAN_AGE = 3600.0  # seconds: a pack an add or a push is still publishing has no index for moments, not an hour
_LISTED_UNUSED = 10  # damaged chunks that no version uses, listed one by one per pack; more are counted


@dataclass
class Damage:
    """One damaged object: ``object`` names it (``pack packs/<id>.pack``, ``run record runs/<id>.json``...),
    ``reason`` says what is wrong and what to do, ``affected`` lists what it breaks, each as
    ``{"dataset", "version", "ref", "path"}`` (``path`` ``*``: the whole version)."""

    object: str
    reason: str
    affected: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"object": self.object, "reason": self.reason, "affected": self.affected}


@dataclass
class VerifyReport:
    """What :func:`verify` checked and found (``assay data verify --json`` prints :meth:`to_dict`).

    - ``checked_chunks``, ``checked_bytes``, ``checked_snapshots``: how much was read and hash-checked
      (bytes of chunk content, uncompressed).
    - ``damaged``: each :class:`Damage` found; ``ok`` (property) is True when there is none.
    - ``damaged_versions``: refs (``NAME@vN``) of the versions that cannot be read back whole.
    - ``downstream``: versions built from a damaged one, each ``{"ref", "built_from"}``.
    - ``remote``: the remote checked, or None for the workspace's own store.
    - ``leftovers``, ``leftover_bytes``: packs an interrupted push left (no damage), and their size in bytes.
    - ``empty``: the store holds no versions, so nothing was there to check.
    """

    checked_chunks: int = 0
    checked_bytes: int = 0
    checked_snapshots: int = 0
    damaged: list[Damage] = field(default_factory=list)
    damaged_versions: list[str] = field(default_factory=list)
    downstream: list[dict[str, Any]] = field(default_factory=list)
    remote: str | None = None  # the remote checked; None: the workspace's store
    # Packs on the remote without an index for an hour or more (interrupted pushes' debris): no
    # damage, since nothing reads them; `push --repair` removes those no version needs.
    leftovers: list[str] = field(default_factory=list)
    leftover_bytes: int = 0
    # The store checked holds no versions (and no refs that fail to read): nothing a version
    # needs was there to check. On a remote a mistyped URL gives this too (`remote add` makes
    # the folder); in a workspace, nothing was added yet (or ASSAY_HOME names another one).
    empty: bool = False

    @property
    def ok(self) -> bool:
        return not self.damaged

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "checked_chunks": self.checked_chunks, "checked_bytes": self.checked_bytes,
            "checked_snapshots": self.checked_snapshots, "damaged": [d.to_dict() for d in self.damaged],
            "damaged_versions": self.damaged_versions, "downstream": self.downstream, "remote": self.remote,
            "leftovers": self.leftovers, "leftover_bytes": self.leftover_bytes, "empty": self.empty,
        }


def leftover_packs(store: ObjectStore) -> dict[str, int]:
    """Packs without an index for an hour or more, each with its size: an interrupted write's
    debris, or a pack whose index was lost. (An add's pack is without its index until it
    publishes it.)"""
    keys = set(store.list("packs/"))
    found = {}
    now = time.time()
    for key in keys:
        if key.endswith(".pack") and f"{key[:-len('.pack')]}.idx" not in keys:
            try:
                if now - store.modified(key) >= ORPHAN_AGE:
                    found[key[len("packs/"):-len(".pack")]] = store.size(key)
            except (NotFoundError, NotImplementedError):
                continue
    return found


def verify(ws: Workspace, ref: str | None = None, *, all_objects: bool = False,
           remote: str | None = None) -> VerifyReport:
    """Re-hash the chunks of ``ref`` (or, with ``all_objects`` or no ``ref``, every stored object), in
    the workspace or, with ``remote``, on that remote (``ref`` then names a version there).

    Returns a :class:`VerifyReport` (``assay data verify --json`` prints its :meth:`~VerifyReport.to_dict`):
    damage is reported there (``ok`` False, ``damaged``, ``damaged_versions``, ``downstream``), not
    raised. An unknown ``ref`` or remote raises :class:`~assay.errors.NotFoundError`; a ``ref``
    with ``all_objects`` a :class:`~assay.errors.UsageError` (it was passed over, unread)."""
    if ref is not None and all_objects:
        raise UsageError(f"name a version ({ref}) or every object (--all, all_objects=True), not both",
                         hint=f"`assay data verify {ref}` checks that version; `assay data verify --all` every stored object")
    bad_indexes: list[CorruptionError] = []
    if remote is not None:
        from assay.data._remote import open_remote, remote_contents, remote_hold

        spec, opened = open_remote(ws, remote)
        with remote_hold(ws, spec, opened, "verify") as hold:  # no gc there retires a pack meanwhile (false damage)
            name, store, packs, every = remote_contents(ws, remote, bad_indexes, opened)
            try:
                if ref and not all_objects:
                    from assay.data._remote import versions_on
                    from assay.data._remote_refs import _as_version

                    versions = [_as_version(*versions_on(ws, spec, store, ref, command="verify")[0])]
                else:
                    versions = every
                report = _verify(store, packs, versions, every, bad_indexes, check_all=all_objects or not ref)
                from assay.data._records import damaged_records

                report.damaged += _damaged_runs(store, versions, every)
                for key in damaged_records(store, versions):
                    held = [v.ref for v in every if v.id == key.split("/")[1]]
                    report.damaged.append(Damage(
                        object=f"check or drift record {key}",
                        reason="does not read as a record: a pull skips it (`assay data push --repair` writes it again "
                               "from a workspace that has the record)",
                        affected=_whole(held)))
                leftovers = leftover_packs(store)
                if not report.ok:
                    hold.check(confirm=True)  # damage seen while the hold had lapsed may be a gc's doing
            finally:
                packs.close()
        report.remote = name
        report.empty = not every and not report.damaged
        report.leftovers = [f"packs/{pack_id}.pack" for pack_id in sorted(leftovers)]
        report.leftover_bytes = sum(leftovers.values())
        return report
    from assay.data._storelock import store_hold_within

    packs = workspace_packs(ws)
    # A pack that gc or a repair retires meanwhile would read as missing: damage that is not
    # there. The workspace's lock keeps this workspace's own out, the store's hold a push
    # --repair from a workspace whose remote this store is (waited for outside the lock).
    with store_hold_within(ws.lock, ws.store, "verify", where=f"the store {ws.store.url}", workspace=ws.root,
                           optional=True) as hold:
        packs.refresh(bad_indexes)
        ours = every = all_versions(ws)
        versions = [resolve(ws, ref)] if ref and not all_objects else every
        if all_objects or not ref:  # every stored object: also the versions pushed to this store from elsewhere
            every = versions = every + _pushed_here(ws, {v.id for v in every}, bad_indexes)
        report = _verify(ws.store, packs, versions, every, bad_indexes, check_all=all_objects or not ref)
        if not report.ok:
            hold.check(confirm=True)
    report.empty = not every and not report.damaged
    if report.damaged_versions:
        from assay.lineage import downstream_versions

        wanted = set(report.damaged_versions)
        report.downstream = downstream_versions(ws, [v for v in ours if v.ref in wanted])
    return report


def _damaged_runs(store: Any, versions: list[Version], every: list[Version]) -> list[Damage]:
    """The records of runs that made or reproduced ``versions`` on a remote, and the markers
    filing a run under a version it reproduced, that a pull skips."""
    from assay.data._history import damaged_reproduced, damaged_run_records, reproduced_markers

    out = []
    filed = {(v, r) for _, v, r in reproduced_markers(store, [v.id for v in versions])}
    for run_id in damaged_run_records(store, versions):
        touched = [v.ref for v in every if v.run_id == run_id or (v.id, run_id) in filed]
        out.append(Damage(
            object=f"run record runs/{run_id}.json",
            reason="does not read as the record of its run, or names what is not a version: a pull skips it, and "
                   "the lineage of what it made or reproduced is lost to every pull (`assay data push --repair` "
                   "writes it again from a workspace that has the run)",
            affected=_whole(touched)))
    for key, why in damaged_reproduced(store, [v.id for v in versions]):
        out.append(Damage(
            object=f"reproducing run marker {key}",
            reason=f"{why}: a pull skips the run (`assay data push --repair` writes its record again from a "
                   "workspace that has the run, else moves the marker aside)",
            affected=_whole([v.ref for v in every if v.id == key.split("/")[1]])))
    return out


def _verify(store: Any, packs: PackStore, versions: list[Version], every: list[Version],
            bad_indexes: list[CorruptionError], *, check_all: bool) -> VerifyReport:
    report = VerifyReport()
    for exc in bad_indexes:  # their chunks are then missing, and named below with what holds them
        what = "version ref" if str(exc.key).startswith("versions/") else "pack index"
        report.damaged.append(Damage(object=f"{what} {exc.key}", reason=exc.message))
    # Snapshots are read one at a time, a dataset's versions in turn (each reuses the manifests
    # of the one before), and not kept: a long history's would not fit in memory. They are
    # read again below only to name what holds a damaged chunk.
    memo = ManifestMemo()
    bad_snapshots: dict[str, str] = {}
    wanted: set[bytes] = set()  # the chunks of the versions checked
    for snap_id in dict.fromkeys(v.snapshot for v in versions):
        try:
            wanted |= load_snapshot(store, snap_id, memo=memo).chunk_digests()
        except (CorruptionError, NotFoundError) as exc:
            bad_snapshots[snap_id] = exc.message
        report.checked_snapshots += 1

    bad_chunks: dict[bytes, str] = {}  # damaged or missing chunks that the versions checked use
    # With check_all the versions checked are every version, so a chunk outside ``wanted`` is one
    # that no version uses: it is only counted per pack (see _Unused).
    unused: dict[str, _Unused] = {}
    if check_all:
        _check_chunks(packs, list(packs.index), report, wanted, bad_chunks, unused)
    missing = [d for d in wanted if not packs.has(d)]
    for d in missing:
        bad_chunks.setdefault(d, "missing from the store")
    if not check_all:
        present = [d for d in wanted if packs.has(d)]
        _check_chunks(packs, present, report, wanted, bad_chunks, unused)
    # The packs checked: a header that is damaged is damage though every chunk reads.
    checked = packs.packs() if check_all else {packs.index[d].pack for d in wanted if packs.has(d)}
    for pack_id in sorted(checked):
        reason = bad_pack_header(store, pack_id)
        if reason is not None:
            report.damaged.append(Damage(object=f"pack packs/{pack_id}.pack", reason=reason))

    # Map every damage to the dataset versions and file paths that contain it.
    index: dict[bytes, list[dict[str, str]]] = {d: [] for d in bad_chunks}
    damaged_versions: dict[str, Version] = {}
    for v in every if bad_chunks else []:
        if v.snapshot in bad_snapshots:
            continue
        try:
            snap = load_snapshot(store, v.snapshot, memo=memo)
        except AssayError:
            continue
        for path, manifest in snap.files.items():
            for d, _ in manifest.chunks:
                if d in index:
                    index[d].append({"dataset": v.dataset, "version": f"v{v.number}", "ref": v.ref, "path": path})
                    damaged_versions[v.id] = v
    for d, reason in sorted(bad_chunks.items()):
        loc = packs.index.get(d)
        if loc is not None and not index[d]:
            unused.setdefault(loc.pack, _Unused()).add(d, reason)
            continue
        where = f" in packs/{loc.pack}.pack at offset {loc.offset}" if loc else ""
        affected = _dedupe(index[d])
        report.damaged.append(Damage(object=f"chunk {d.hex()}{where}", reason=reason, affected=affected))
    for pack_id, tally in sorted(unused.items()):
        chunks = tally.first()
        if tally.count <= _LISTED_UNUSED:
            report.damaged.extend(Damage(object=f"chunk {d.hex()} in packs/{pack_id}.pack at offset "
                                                f"{packs.index[d].offset}", reason=reason) for d, reason in chunks)
            continue
        # An index listing many chunks no version uses, all damaged, is debris or a hostile
        # remote's junk: one entry says so, rather than a line (and memory) per chunk.
        first, reason = chunks[0]
        report.damaged.append(Damage(
            object=f"pack packs/{pack_id}.pack",
            reason=f"{tally.count} chunks its index lists, which no version uses, are damaged (the first, "
                   f"{first.hex()} at offset {packs.index[first].offset}: {reason})"))
    for snap_id, reason in sorted(bad_snapshots.items()):
        affected = [{"dataset": v.dataset, "version": f"v{v.number}", "ref": v.ref, "path": "*"} for v in every if v.snapshot == snap_id]
        for v in every:
            if v.snapshot == snap_id:
                damaged_versions[v.id] = v
        report.damaged.append(Damage(object=f"snapshot snapshots/{snap_id}", reason=reason, affected=affected))
    report.damaged_versions = sorted(v.ref for v in damaged_versions.values())
    return report


def _pushed_here(ws: Workspace, known: set[str], damaged: list[Any]) -> list[Version]:
    """The versions other workspaces pushed to this workspace's store (it is their remote),
    which this ledger does not know: their snapshots and chunks are stored objects too. A
    ref there that does not read is listed in ``damaged``."""
    from assay.data._remote_refs import _as_version, remote_versions

    pushed = []
    for name, entry in remote_versions(ws.store, None, damaged):
        v = _as_version(name, entry)
        if v.id not in known:  # named apart from this ledger's versions (a number here may be another's)
            pushed.append(_Pushed(**{f.name: getattr(v, f.name) for f in dataclasses.fields(v)}))
    return pushed


@dataclass(frozen=True)
class _Pushed(Version):
    """A version another workspace pushed to this store: its ref says so."""

    @property
    def ref(self) -> str:
        return f"{self.dataset}@v{self.number} (pushed here, {self.snapshot[:12]})"  # as `data log --remote` shows it


def _dedupe(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    seen = set()
    out = []
    for r in rows:
        key = tuple(sorted(r.items()))
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


class _Unused:
    """A pack's damaged chunks that no version uses: how many, and the first few by digest
    (all a report names), kept in bounded memory however many the pack's index lists."""

    __slots__ = ("count", "_kept")

    def __init__(self) -> None:
        self.count = 0
        self._kept: list[tuple[bytes, str]] = []

    def add(self, digest: bytes, reason: str) -> None:
        self.count += 1
        self._kept.append((digest, reason))
        if len(self._kept) > 4 * _LISTED_UNUSED:
            self._kept = self.first()

    def first(self) -> list[tuple[bytes, str]]:
        return sorted(self._kept)[:_LISTED_UNUSED]


def _check_chunks(packs: PackStore, digests: list[bytes], report: VerifyReport, wanted: set[bytes],
                  bad: dict[bytes, str], unused: dict[str, _Unused]) -> None:
    """Read and hash-check ``digests`` in batches; a damaged chunk goes to ``bad`` when a version
    checked uses it (it is in ``wanted``), else it is counted in ``unused`` under its pack."""
    with bar(total=len(digests), desc="verifying", unit="chunk") as progress:
        for start in range(0, len(digests), CHECK_BATCH):
            errors: list[tuple[bytes, CorruptionError]] = []
            for digest, raw in packs.read_many(digests[start:start + CHECK_BATCH], errors=errors, strict=True):
                report.checked_chunks += 1
                report.checked_bytes += len(raw)
                progress.update(1)
            for digest, exc in errors:
                loc = packs.index.get(digest)
                reason = _reason(digest, exc.message, loc.pack if loc else None)
                if loc is None or digest in wanted:
                    bad[digest] = reason
                else:
                    unused.setdefault(loc.pack, _Unused()).add(digest, reason)
                progress.update(1)


def _reason(digest: bytes, message: str, pack: str | None = None) -> str:
    """What is wrong with a chunk, without the place that the damage's name already gives
    (the chunk, and ``pack``, the pack it names)."""
    head = f"chunk {digest.hex()} in packs/"
    if message.startswith(head) and " is " in message:
        return message.split(" is ", 1)[1]
    about_pack = f"pack packs/{pack}.pack is "
    if pack is not None and message.startswith(about_pack):
        what = message[len(about_pack):]  # "missing" (from URL), "truncated: chunk … is cut off"
        return "cut off: its pack is truncated" if what.startswith("truncated") else f"its pack is {what}"
    return message


def _whole(refs: list[str]) -> list[dict[str, str]]:
    """Each version of ``refs`` as a whole (``path`` ``*``), as damage lists what it affects."""
    return [{"dataset": r.split("@")[0], "version": r.split("@")[1], "ref": r, "path": "*"} for r in refs]
