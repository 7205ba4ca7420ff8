"""`assay data pull`: fetch a remote's versions into the workspace.

Only the chunks the workspace lacks travel, each checked against its content digest (see
:mod:`assay.data._remote` for the remote's layout); a version keeps its id, and its number
where that is free here. A pull that checks out writes the new chunks of big files into
place as it checks them (:class:`_ReadThrough`). The history filed with each version (the
run that made it, runs that reproduced it, check and drift records) comes along
(:mod:`assay.data._history`, :mod:`assay.data._records`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from blake3 import blake3

from assay._warn import warn_user
from assay._wording import counted
from assay.config import Remote
from assay.data._checked import CheckedSnapshots
from assay.data._history import import_reproducers, import_runs
from assay.data._packs import PackStore, PackWriter, workspace_packs
from assay.data._records import import_records
from assay.data._remote import (
    TransferResult,
    open_remote,
    remote_damage,
    remote_hold,
    remote_packs,
    transfer,
    versions_on,
    whole_name,
)
from assay.data._remote_refs import fitting_sources, newest_entry, read_refs, run_of, safe_sources
from assay.data._snapshot import ManifestMemo
from assay.data._versions import Version, copy_snapshot, kind_of, load_snapshot, load_snapshot_object, resolve
from assay.data._whole import WholeSnapshots
from assay.errors import CorruptionError, InputError, UsageError
from assay.ledger import IntegrityConflict, utcnow
from assay.store import ObjectStore
from assay.workspace import Workspace

if TYPE_CHECKING:
    from assay.data._checkout import Staged

__all__ = ["pull"]


def pull(ws: Workspace, ref: str | None = None, *, remote: str | None = None, jobs: int = 0,
         checkout: bool = False, allow_overlap: bool = False, every_version: bool = False) -> TransferResult:
    """Fetch ``ref`` (default: everything on the remote) into the workspace, verifying every chunk;
    a name alone fetches its newest version there, or with ``every_version`` all of its versions.

    A dataset (or model) new here, or a version of one added from other folders, whose folders
    would meet another's here is refused before anything is fetched, as `add` refuses it (see
    :mod:`assay.data._overlap`), unless ``allow_overlap``. What a ``checkout`` warns of (its
    ``warnings``, among the result's ``notes``) is also issued as an
    :class:`~assay.errors.AssayWarning`, once the pull is done.

    Chunks of the versions pulled that this workspace's index names in a pack whose file is
    gone, or past the end of one that is truncated (shorter than its index says, told by a
    ``stat`` of each pack), are not taken as here: the pull ends in a :class:`CorruptionError`
    naming them and `pull --repair`, which mends them. A pack damaged in place (a flipped bit,
    its length unchanged) is not noticed: telling that takes reading every chunk, which
    `assay data verify` does and a pull does not.

    Returns a :class:`TransferResult`. Raises :class:`~assay.errors.UsageError` for a refused
    pull (no remote, an overlap, an ambiguous newest version, ``every_version`` without a name),
    :class:`~assay.errors.NotFoundError` where the remote lacks what ``ref`` names, and
    :class:`~assay.errors.CorruptionError` for damage met on the remote or here (its message
    names the remedy)."""
    if every_version:
        whole_name(ref, "pull")  # refused before the remote is opened
    spec, store = open_remote(ws, remote)
    result = TransferResult(remote=spec.name)
    strays: list[str] = []
    wanted = versions_on(ws, spec, store, ref, command="pull", strays=strays, every_version=every_version)
    local = workspace_packs(ws)
    staged: dict[str, Staged] = {}
    warned: list[str] = []  # the checkouts' warnings
    try:
        result.notes += [f"passed over versions/{n}/ on remote {spec.name}: {n!r} is not a dataset name" for n in strays]
        _pull(ws, store, spec, wanted, local, result, staged, warned, jobs=jobs, checkout=checkout,
              allow_overlap=allow_overlap)
    finally:
        for files in staged.values():  # what the checkout did not take (or a failure left)
            for tmp, _, _ in files.values():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
    result.versions.sort()
    result.versions_transferred.sort()
    result.versions_already_there.sort()
    warn_user(warned)
    return result


def _pull(ws: Workspace, store: ObjectStore, spec: Remote, wanted: list[tuple[str, dict[str, Any]]], local: PackStore,
          result: TransferResult, staged: dict[str, Staged], warned: list[str], *, jobs: int, checkout: bool,
          allow_overlap: bool) -> None:
    with remote_hold(ws, spec, store, "pull", locked=True), contextlib.ExitStack() as stack:
        # (the hold: no gc there removes a pack while it is read; the workspace's lock with it)
        rpacks = remote_packs(ws, spec, store)
        docs = {name: read_refs(store, name) for name in sorted({n for n, _ in wanted})}
        _refuse_kind_clashes(ws, docs, spec.name)
        newest = _newest(wanted) if checkout else {}
        staging = sorted({e["snapshot"] for e in newest.values()}) if checkout else []
        spool = _Spool(ws)
        stack.callback(spool.remove)
        whole = WholeSnapshots(ws, local)  # loads this workspace's own index: its damage is not the remote's
        checked = _Checked()
        snapshots, sources, digests = _read_snapshots(ws, store, spec.name, wanted, docs, set(staging), spool,
                                                      whole, checked)
        # As a push counts them: the versions' snapshots this workspace had (none read from the remote).
        result.snapshots_present = len({entry["snapshot"] for _, entry in wanted} - set(spool))
        # Before any chunk or version lands: a refused pull leaves nothing behind.
        result.notes += _refuse_overlaps(ws, wanted, docs, sources, spec.name, allow_overlap=allow_overlap)
        through = 0
        if checkout:
            through = _stage(ws, rpacks, local, snapshots, staging, staged, result, spec.name)
        with remote_damage(spec.name):  # only the remote is read here
            transfer(rpacks, local, digests, ws.tmp_dir, result, jobs=jobs, pack_size=ws.config.data.pack_size)
        result.chunks_present -= through  # stored by the staging, not found there
        whole.found(checked.read)  # every chunk of each is here now (those lost are not among them)
        whole.save()
        rpacks.close()
        del rpacks, digests  # the remote's index and the chunk list are not needed for checkout
        known_good = CheckedSnapshots(ws)  # checked here: a push of them need not check them again
        for sid in spool:  # after the chunks: a snapshot in the store is always complete
            data = spool.read(sid)
            copy_snapshot(ws.store, sid, data)
            fingerprint = blake3(data).digest()
            if fingerprint == spool.fingerprints[sid]:  # the very bytes checked
                known_good.add(sid, fingerprint)
            del data
        known_good.save()
        for name, entry in wanted:
            version, recorded = _import_version(ws, name, entry, docs[name], sources.get(entry["id"], ([], [])))
            result.versions.append(version.ref)
            (result.versions_transferred if recorded else result.versions_already_there).append(version.ref)
            if version.number != entry["number"]:
                result.remote_refs[version.ref] = f"{name}@v{entry['number']}"
            if recorded and version.number != entry["number"]:  # said once, when it is recorded
                result.renumbered.append({"remote": f"{name}@v{entry['number']}", "here": version.ref,
                                          "id": version.id, "snapshot": version.snapshot, "by": version.by})
        made_by = {run for _, e in wanted if (run := run_of(e))}
        if made_by:
            import_runs(ws, store, spec.name, made_by, result.notes)
        pulled = sorted({e["id"] for _, e in wanted})
        import_reproducers(ws, store, spec.name, result.notes, pulled)
        result.records_received = import_records(ws, store, spec.name, result.notes, pulled)
        result.notes += [f"{_refs_of(ws, sid)} lacked {counted(n, 'chunk')} here: fetched from {spec.name}"
                         for sid, n in sorted(checked.lacking.items())]
        if checked.lost:
            _refuse_lost(ws, checked.lost, local, result)
    if checkout:
        from assay.data._checkout import checkout_prepared

        # The remote's newest of each dataset, whatever number it has here (a teammate's older
        # version pulled now gets a higher number here than this workspace's own newest).
        for entry in newest.values():
            (dataset, number), = ws.ledger.query("SELECT dataset, number FROM versions WHERE id = ?", (entry["id"],))
            v = resolve(ws, f"{dataset}@v{number}")
            try:
                done = checkout_prepared(ws, v.ref, snapshot=snapshots.get(v.snapshot),
                                         staged=staged.pop(v.snapshot, None))
            except UsageError as exc:  # the pull itself is done: say so, and how to finish the checkout
                why = exc.message.removeprefix(f"checkout of {v.ref} ")  # named once
                raise UsageError(
                    f"{_pulled(result, spec.name)}, but did not check out {v.ref}: "
                    + (f"it {why}" if why != exc.message else why),
                    hint=exc.hint.replace("pass --force (force=True)", f"run `assay data checkout {v.ref} --force` "
                                          f"(checkout(ws, {v.ref!r}, force=True))") if exc.hint else None,
                    details={"pull": result.to_dict()}) from None
            except CorruptionError as exc:  # damage here (a pack of this workspace's): the pull is done all the same
                error = CorruptionError(
                    f"{_pulled(result, spec.name)}, but did not check out {v.ref}: {exc.message}", key=exc.key,
                    hint=f"run `assay data pull --repair --remote {spec.name}` to replace the damaged objects with "
                         f"{spec.name}'s copies, then `assay data checkout {v.ref}`")
                error.details = {"pull": result.to_dict()}
                raise error from None
            result.checked_out.append(v.ref)
            result.notes += done.warnings
            warned += done.warnings


@dataclass
class _Checked:
    """What :func:`_read_snapshots` found of the chunks of the snapshots it decoded."""

    read: list[str] = field(default_factory=list)  # whole once the transfer is done
    lacking: dict[str, int] = field(default_factory=dict)  # here, without so many chunks: the transfer fetches them
    lost: dict[str, list[bytes]] = field(default_factory=dict)  # chunks the index names in packs gone or cut short


def _read_snapshots(ws: Workspace, store: ObjectStore, remote: str, wanted: list[tuple[str, dict[str, Any]]],
                    docs: dict[str, dict[str, Any]], keep: set[str], spool: _Spool, whole: WholeSnapshots,
                    checked: _Checked) -> tuple[dict[str, Any], dict[str, tuple[list[str], list[str]]], list[bytes]]:
    """The snapshots of ``wanted`` this pull needs, read one at a time (a long history's
    together would not fit in memory), each with the manifests of the one before. Only the
    snapshots this workspace lacks are read from the remote: each is checked and spooled
    (stored after its chunks, from the bytes checked); one already here is read here, and
    only if a new version or the checkout needs it. Returns the snapshots in ``keep``
    (those a checkout stages), the sources of each new version (the dataset's and the
    version's) that hold some file of it (a remote cannot widen where status looks), and
    every chunk of the snapshots read, sorted (the transfer fetches those not here).

    A snapshot here of versions recorded here is decoded only when it is not known whole
    (:mod:`assay.data._whole`): a pack lost or truncated since leaves it short, and its chunks
    are then looked up like a new one's (``checked`` says what was found)."""
    by_snapshot: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name, entry in wanted:
        by_snapshot.setdefault(entry["snapshot"], []).append((name, entry))
    known = {row[0] for row in ws.ledger.query("SELECT id FROM versions")}
    here = {key[len("snapshots/"):] for key in ws.store.list("snapshots/")}
    memo = ManifestMemo()
    kept: dict[str, Any] = {}
    sources: dict[str, tuple[list[str], list[str]]] = {}
    chunks: set[bytes] = set()
    for sid, entries in by_snapshot.items():
        new = [(name, entry) for name, entry in entries if entry["id"] not in known]
        if sid in here:
            if not new and sid not in keep and sid in whole:
                continue  # recorded here with its data: nothing to fetch or learn
            snap = load_snapshot(ws.store, sid, memo=memo)
            digests = snap.chunk_digests()
            lacking = len(whole.packs.missing(digests))
            if lacking and not new:
                checked.lacking[sid] = lacking
        else:
            with remote_damage(remote):
                snap, data = load_snapshot_object(store, sid, memo=memo)
            spool.write(sid, data)
            del data
            digests = snap.chunk_digests()
        # The chunks of one read here are looked up too (no transfer for those found): a
        # snapshot an older assay's gc left when killed after its packs went, or one whose
        # packs were lost to damage or cut short, would otherwise become a version with no data.
        chunks |= digests
        lost = whole.lost(digests)
        if lost:
            checked.lost[sid] = lost
        else:
            checked.read.append(sid)
        for name, entry in new:
            sources[entry["id"]] = (fitting_sources(safe_sources(docs[name].get("sources")), snap),
                                    fitting_sources(safe_sources(entry.get("sources")), snap))
        if sid in keep:
            kept[sid] = snap
    return kept, sources, sorted(chunks)


class _Spool:
    """The snapshots a pull read from the remote, kept as checked (in a temp folder of the
    workspace that gc sweeps if the pull is killed) until their chunks are stored: each
    travels once."""

    def __init__(self, ws: Workspace) -> None:
        from assay._process import host_tag

        self.folder = ws.tmp_dir / f"{os.getpid()}-{host_tag()}-pull-{os.urandom(4).hex()}"
        self._ids: list[str] = []
        self.fingerprints: dict[str, bytes] = {}  # the BLAKE3 hash of each one's bytes, as checked

    def write(self, sid: str, data: bytes) -> None:
        if not self._ids:
            self.folder.mkdir()
        with open(self.folder / sid, "wb") as f:  # (no fsync: a pull killed now starts again)
            f.write(data)
        self._ids.append(sid)
        self.fingerprints[sid] = blake3(data).digest()

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def read(self, sid: str) -> bytes:
        return (self.folder / sid).read_bytes()

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _newest(wanted: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Each dataset's newest version among ``wanted`` as the remote numbers them: what `pull
    --checkout` writes. Where two workspaces each pushed their own version with that number, a
    UsageError naming both (before anything is fetched), as `pull NAME` refuses them."""
    entries: dict[str, list[dict[str, Any]]] = {}
    for name, entry in wanted:
        entries.setdefault(name, []).append(entry)
    return {name: newest_entry(name, found) for name, found in entries.items()}


def _refuse_kind_clashes(ws: Workspace, docs: dict[str, dict[str, Any]], remote: str) -> None:
    """A name that is a dataset here and a model on the remote (or the other way round) is
    two different things: their versions are not merged."""
    clashes = []
    for name, doc in docs.items():
        kind = kind_of(ws, name)
        if kind is not None and kind != doc["kind"]:
            clashes.append(f"{name!r} is a {kind} here and a {doc['kind']} on remote {remote}")
    if clashes:
        raise UsageError("refusing to pull: " + "; ".join(clashes),
                         hint="pull the other names one by one (`assay data pull NAME`), or register the local one "
                              "under another name")


def _refs_of(ws: Workspace, sid: str) -> str:
    """The versions here whose snapshot is ``sid``, as refs."""
    rows = ws.ledger.query("SELECT dataset, number FROM versions WHERE snapshot = ? ORDER BY dataset, number", (sid,))
    return ", ".join(f"{d}@v{n}" for d, n in rows) or f"snapshot {sid[:12]}"


def _pulled(result: TransferResult, remote: str) -> str:
    """What a pull did, said before why its checkout did not follow: "pulled 2 versions from
    origin (1 more already here)", "pulled no new version from origin (1 already here)"."""
    sent, here = len(result.versions_transferred), len(result.versions_already_there)
    if not sent:
        return f"pulled no new version from {remote}" + (f" ({here} already here)" if here else "")
    return f"pulled {counted(sent, 'version')} from {remote}" + (f" ({here} more already here)" if here else "")


def _refuse_lost(ws: Workspace, lost: dict[str, list[bytes]], local: PackStore, result: TransferResult) -> None:
    """The pull is done; say that versions here lack chunks it could not fetch: the index names
    them in packs whose files are gone or cut short, which only a repair (that retires those
    indexes) mends."""
    index = local.index
    packs = sorted({index[d].pack for digests in lost.values() for d in digests})
    gone = local.unpacked()
    missing, cut = [p for p in packs if p in gone], [p for p in packs if p not in gone]
    refs = "; ".join(f"{_refs_of(ws, sid)} lacks {counted(len(d), 'chunk')}" for sid, d in sorted(lost.items()))
    said = []
    if missing:
        said.append(f"{', '.join(f'packs/{p}.pack' for p in missing)} {'is' if len(missing) == 1 else 'are'} missing "
                    f"from this workspace's store ({'its index is' if len(missing) == 1 else 'their indexes are'} "
                    "still there)")
    if cut:
        said.append(f"{', '.join(f'packs/{p}.pack' for p in cut)} {'is' if len(cut) == 1 else 'are'} truncated in "
                    "this workspace's store (shorter than "
                    f"{'its index says' if len(cut) == 1 else 'their indexes say'})")
    error = CorruptionError(
        f"{refs} here: {'its pack' if len(packs) == 1 else 'their packs'} {' and '.join(said)}, so this pull "
        "could not fetch them",
        hint=f"run `assay data pull --repair{' --remote ' + result.remote if result.remote else ''}` to replace them "
             "with the remote's copies")
    error.details = {"pull": result.to_dict()}
    raise error


def _refuse_overlaps(ws: Workspace, wanted: list[tuple[str, dict[str, Any]]], docs: dict[str, dict[str, Any]],
                     sources: dict[str, tuple[list[str], list[str]]], remote: str, *, allow_overlap: bool) -> list[str]:
    """Refuse, as `add` does, the folders the pull would record for a dataset (or model) that
    meet another one's here: a new dataset's sources (those of its first version recorded),
    and each new version's own (status looks, and checkout writes, there). One whose folders
    met already here is let through, with a note for each overlap. The pulled ones are checked
    against each other too (each with the folders it would have once recorded): two that share
    a folder on the remote would share the files here."""
    from assay.data._overlap import refuse_or_note
    from assay.data._versions import dataset_sources

    known = {str(row[0]) for row in ws.ledger.query("SELECT name FROM datasets")}
    paths: dict[str, set[str]] = {}
    for name, entry in wanted:
        if entry["id"] not in sources:
            continue  # recorded here already
        ours, version = sources[entry["id"]]
        if name not in known and name not in paths:
            paths[name] = set(ours)  # what _import_version records as the dataset's
        paths.setdefault(name, set()).update(version)
    # (a dataset here keeps its recorded folders beside those of its new versions)
    pulled = {name: sorted(where | set(dataset_sources(ws, name))) for name, where in paths.items()}
    kinds = {name: str(docs[name]["kind"]) for name in paths}
    notes: list[str] = []
    said: set[frozenset[tuple[str, str]]] = set()  # overlaps noted already: one of two pulled ones, once
    for name, where in sorted(paths.items()):
        others = {n: p for n, p in pulled.items() if n != name}
        notes += refuse_or_note(
            ws, name, sorted(where), allow_overlap=allow_overlap, others=others, other_kinds=kinds, said=said,
            what=f"{docs[name]['kind']} {name!r} of remote {remote}",
            hint="pull the other names one by one (`assay data pull NAME`), move the one here to a folder of its own "
                 "(add it from there), or pass --allow-overlap (allow_overlap=True) to share the files anyway")
    return notes


def _stage(ws: Workspace, rpacks: PackStore, local: PackStore, snapshots: dict[str, Any], wanted: list[str],
           staged: dict[str, Staged], result: TransferResult, name: str) -> int:
    """Stage the big files the checkout after this pull will write, storing their new chunks
    on the way; how many chunks were stored."""
    from assay.data._checkout import stage_big_files

    writer = PackWriter(local, ws.tmp_dir, pack_size=ws.config.data.pack_size)
    source = _ReadThrough(rpacks, local, writer, name)
    try:
        for sid in wanted:
            if sid in snapshots:
                staged[sid] = stage_big_files(ws, snapshots[sid], source)
        writer.flush()
    except BaseException:
        writer.abort()
        raise
    result.chunks_transferred += source.sent
    result.bytes_transferred += source.nbytes
    result.packs += len(writer.published)
    return source.sent


class _ReadThrough:
    """Chunks for a checkout during a pull: from the workspace where it has them, else
    from the remote, checked against their digests and stored in the workspace on the
    way. Thread-safe, like the pack stores it reads from."""

    def __init__(self, remote: PackStore, local: PackStore, writer: PackWriter, name: str) -> None:
        self.remote, self.local, self.writer, self.name = remote, local, writer, name
        local.has(b"")  # load both indexes before threads ask
        with remote_damage(name):
            remote.has(b"")
        self._lock = threading.Lock()
        self.sent = self.nbytes = 0

    def read_chunk(self, digest: bytes, *, what: str = "", reuse: bool = False) -> bytes | memoryview:
        if self.local.has(digest):
            return self.local.read_chunk(digest, what=what, reuse=reuse)
        with remote_damage(self.name):
            loc = self.remote.index.get(digest)
            if loc is None:
                raise CorruptionError(f"chunk {digest.hex()} is missing from {self.remote.store.url}", key=digest.hex())
            stored = self.remote.read_stored(loc, reuse=reuse)
            # content-checked: raises if damaged or cut off
            raw = self.remote.decode(digest, loc, stored, what=what, reuse=reuse)
        if self.writer.add_stored(digest, stored, loc.raw, loc.flags):  # written at once: the buffers may be reused
            with self._lock:
                self.sent += 1
                self.nbytes += loc.raw
        return raw


def _import_version(ws: Workspace, name: str, entry: dict[str, Any], doc: dict[str, Any],
                    sources: tuple[list[str], list[str]]) -> tuple[Version, bool]:
    """Record a remote version locally under its own id; keep its number when free, with the
    ``sources`` (the dataset's, the version's) that hold its files. ``(version, recorded now)``."""
    rows = ws.ledger.query("SELECT dataset, number FROM versions WHERE id = ?", (entry["id"],))
    if rows:
        return resolve(ws, f"{rows[0][0]}@v{rows[0][1]}"), False
    for _ in range(50):
        try:
            with ws.ledger.transaction() as tx:
                ws.claim_store(tx)  # a shared ledger's first version names its store
                if not tx.execute("SELECT 1 FROM datasets WHERE name = ?", (name,)):
                    tx.execute("INSERT INTO datasets (name, kind, created_at, sources) VALUES (?, ?, ?, ?)",
                               (name, doc.get("kind", "dataset"), utcnow(),
                                json.dumps(sources[0])))
                taken = tx.execute("SELECT 1 FROM versions WHERE dataset = ? AND number = ?", (name, entry["number"]))
                number = entry["number"]
                if taken:
                    number = int(tx.execute("SELECT MAX(number) FROM versions WHERE dataset = ?", (name,))[0][0]) + 1
                tx.execute(
                    "INSERT INTO versions (id, dataset, number, snapshot, message, created_at, files, bytes, run_id, meta) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (entry["id"], name, number, entry["snapshot"], entry.get("message", ""), entry["created_at"],
                     entry["files"], entry["bytes"], run_of(entry), json.dumps(entry.get("meta") or {}, sort_keys=True)),
                )
                if sources[1]:  # where the version was added from (status and checkout look there)
                    tx.execute("INSERT INTO version_sources (version, sources) VALUES (?, ?)",
                               (entry["id"], json.dumps(sources[1])))
                ws.check_lock()  # last, before the commit: the store's lock was held all along
            return resolve(ws, f"{name}@v{number}"), True
        except IntegrityConflict:
            continue
    raise InputError(f"could not record {name} from the remote: too many concurrent writers")
