"""Remotes: `assay remote add`, `assay data push` and `pull`.

A remote is an object store laid out exactly like the workspace's (packs with
their indexes, snapshots) plus one ref per version, ``versions/<dataset>/<version
id>.json``, written once and never rewritten: pushes from two workspaces at once
cannot lose each other's versions. Remotes written before this hold one list per
dataset, ``refs/<dataset>.json``, rewritten by each push; it is still read, never
written (an older assay sees only the versions listed there). Only
chunks the other side lacks travel; they are repacked into new packs of their own,
published pack first and index last, so an interrupted transfer keeps every pack
it finished and a rerun sends only the rest. Each chunk is checked when read on the
sending side (a push checks the workspace's chunks by their stored bytes'
checksums), and a pulled chunk is checked against its content digest: nothing a
remote says about its own bytes is trusted. Pulling is :mod:`assay.data._pull`;
reading a remote's refs, :mod:`assay.data._remote_refs`.
"""

from __future__ import annotations

import contextlib
import errno
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.config import Remote, make_folder
from assay.data._checked import CheckedSnapshots
from assay.data._fork import quick_handoffs
from assay.data._history import write_runs
from assay.data._records import write_records
from assay.data._packs import PackStore, PackWriter, workspace_packs
from assay.data._remote_config import (  # also named here, where they lived before
    add_remote,
    read_only_remote_folder,
    refuse_read_only,
    refuse_transient,
    remove_remote,
)
from assay.data._remote_refs import (  # also named here, where they lived before
    _as_version,
    check_entry,
    fitting_sources,
    maker_label,
    read_json,
    read_ref,
    read_refs,
    ref_entry,
    remote_names,
    remote_version,
    remote_versions,
    run_of,
    safe_sources,
)
from assay.data._versions import (
    Version,
    all_versions,
    copy_checked_snapshot,
    each_snapshot_chunks,
    resolve,
    version_sources,
)
from assay.errors import (
    ConcurrencyError,
    CorruptionError,
    InputError,
    NoSpaceError,
    NotFoundError,
    UsageError,
)
from assay.progress import bar
from assay.store import LocalStore, ObjectStore, open_store
from assay.workspace import Workspace

__all__ = ["TransferResult", "add_remote", "check_entry", "fitting_sources", "maker_label", "open_remote", "push",
           "read_json", "read_only_remote_folder", "read_ref", "read_refs", "ref_entry", "remote_damage", "remote_packs",
           "remote_version", "remote_versions", "remove_remote", "run_of", "safe_sources", "transfer"]

_BIG_CHUNK = 256 << 10


@dataclass
class TransferResult:
    """What :func:`push` or :func:`pull` moved (``--json`` prints :meth:`to_dict`).

    - ``remote``: the remote's name.
    - ``versions``: refs (``NAME@vN``) of every version of the transfer; split into ``versions_transferred``
      (a push wrote something of it, or a pull recorded it here; ``versions_sent`` in ``--json``)
      and ``versions_already_there``.
    - ``chunks_transferred``, ``bytes_transferred``: chunks copied to the destination (the remote for a
      push, this workspace for a pull) and their content size in bytes, uncompressed.
    - ``chunks_present``, ``snapshots_present``: chunks, and versions' snapshots, the destination already had
      (``chunks_already_there`` and ``snapshots_already_there`` in ``--json``).
    - ``packs``: pack files written at the destination.
    - ``checked_out``: refs a pull checked out afterwards.
    - ``renumbered``, ``remote_refs``: pulled versions whose number here differs from the remote's.
    - ``records_sent``, ``records_received``: check and drift records pushed, or recorded by a pull.
    - ``notes``: what else the user should know.

    ``chunks_sent``, ``bytes_sent`` and ``versions_sent`` are deprecated names of the
    ``*_transferred`` fields (a pull sends nothing).
    """

    remote: str
    versions: list[str] = field(default_factory=list)
    chunks_transferred: int = 0
    bytes_transferred: int = 0
    chunks_present: int = 0
    snapshots_present: int = 0  # versions whose snapshot (so every chunk) the destination had
    # The versions, split: those a push wrote something of (snapshot or ref) or a pull recorded,
    # and those the destination had already. ``versions`` lists both.
    versions_transferred: list[str] = field(default_factory=list)
    versions_already_there: list[str] = field(default_factory=list)
    packs: int = 0
    checked_out: list[str] = field(default_factory=list)
    # Pulled versions whose number here differs from the remote's (another version holds it here):
    # {"remote": "ds@v2", "here": "ds@v3", "id": ..., "snapshot": ..., "by": "alice@host" or None}.
    # Numbers are a workspace's; ids and snapshots are everyone's.
    renumbered: list[dict[str, str | None]] = field(default_factory=list)
    # Each version of this pull whose number on the remote differs from its number here
    # (recorded now or before): its ref here -> its ref there, for messages that name both.
    remote_refs: dict[str, str] = field(default_factory=dict)
    # Check and drift records of the versions, sent by a push or recorded by a pull.
    records_sent: int = 0
    records_received: int = 0
    notes: list[str] = field(default_factory=list)

    # Deprecated names, from when the fields were named for a push alone.
    @property
    def chunks_sent(self) -> int:
        return _renamed(self, "chunks_sent", "chunks_transferred")

    @property
    def bytes_sent(self) -> int:
        return _renamed(self, "bytes_sent", "bytes_transferred")

    @property
    def versions_sent(self) -> list[str]:
        return _renamed(self, "versions_sent", "versions_transferred")

    def to_dict(self) -> dict[str, Any]:
        # The --json keys stay as they were: scripts read versions_sent.
        return {
            "remote": self.remote, "versions": self.versions, "chunks_transferred": self.chunks_transferred,
            "bytes_transferred": self.bytes_transferred, "chunks_already_there": self.chunks_present,
            "snapshots_already_there": self.snapshots_present, "versions_sent": self.versions_transferred,
            "versions_already_there": self.versions_already_there, "packs": self.packs,
            "checked_out": self.checked_out, "renumbered": self.renumbered, "remote_refs": self.remote_refs,
            "records_sent": self.records_sent,
            "records_received": self.records_received, "notes": self.notes,
        }


def _renamed(result: TransferResult, old: str, new: str) -> Any:
    import warnings

    warnings.warn(f"TransferResult.{old} is deprecated: use TransferResult.{new}", DeprecationWarning, stacklevel=3)
    return getattr(result, new)


def _pick(ws: Workspace, name: str | None) -> Remote:
    name = name or ws.config.default_remote
    if not name and ws.config.remotes:  # (a config written by hand: `remote add` makes its first one the default)
        known = ", ".join(ws.config.remotes)
        first = next(iter(ws.config.remotes))
        raise UsageError(f"no default remote: none of the remotes configured ({known}) is named by default_remote "
                         "in .assay/config.toml",
                         hint=f"name one with --remote {first}, or make it the default: "
                              f"default_remote = \"{first}\" in .assay/config.toml")
    if not name:
        raise UsageError("no remote configured", hint="add one: assay remote add origin s3://bucket/prefix")
    remote = ws.config.remotes.get(name)
    if remote is None:
        raise NotFoundError(f"no remote named {name!r}", hint="known remotes: " + (", ".join(ws.config.remotes) or "none"))
    return remote


def _open(ws: Workspace, remote: Remote, *, make: bool = False) -> ObjectStore:
    """The remote's store. A folder remote that is not there is made by a push (``make``: `remote
    add` does not make it), in a folder that is there; for anything else it is a path not
    pushed to yet or mistyped: not an empty remote to read. One this workspace found there
    before is gone (moved, deleted, a drive not mounted): not made again, not even by a push."""
    from assay.store import folder_of

    folder = folder_of(remote.url, ws.root)
    if folder is not None and not folder.is_dir():
        if os.path.lexists(folder):
            raise InputError(f"remote {remote.name}'s folder {folder} is not a folder",
                             hint=f"point {remote.name} at a folder: `assay remote add {remote.name} PATH --replace`")
        elsewhere = f"`assay remote add {remote.name} PATH --replace` points {remote.name} elsewhere"
        if _seen_folder(ws, remote) == str(folder):
            raise InputError(f"remote {remote.name}'s folder {folder} is gone: this workspace found it there before "
                             "(moved, deleted, or a drive not mounted?)",
                             hint=f"check the path; {elsewhere}; to start it again, empty: mkdir {folder}")
        if not make:
            raise InputError(f"remote {remote.name}'s folder {folder} does not exist (nothing pushed there yet, "
                             "or a typo: `assay remote list`)",
                             hint=f"`assay data push --remote {remote.name}` makes it; {elsewhere}")
        if not folder.parent.is_dir():  # a drive not mounted, a folder moved: not made elsewhere
            raise InputError(f"cannot make remote {remote.name}'s folder {folder}: the folder {folder.parent} "
                             "does not exist", hint=f"check the path (a drive not mounted?); {elsewhere}")
        make_folder(folder, f"cannot make remote {remote.name}'s folder {folder}")
    if folder is not None and _seen_folder(ws, remote) != str(folder):
        with contextlib.suppress(OSError):  # (a workspace this user may only read: no guard, nothing else lost)
            seen = ws.cache_dir / "remotes" / remote.name / "folder"
            seen.parent.mkdir(parents=True, exist_ok=True)
            seen.write_text(str(folder), encoding="utf-8")
    # A folder others write too: its sub-folders are its own, never links leading elsewhere.
    if folder is None:
        refuse_transient(remote.url)
    store = LocalStore(folder, confined=True) if folder is not None else open_store(remote.url, ws.root, **remote.options)
    if isinstance(store, LocalStore):
        from assay.store import sweep_leftovers

        try:  # what killed pushes of this machine left (it holds space for ever)
            sweep_leftovers(store.dead_tmp_files(), f"remote {remote.name}'s temp folder")
        except OSError:
            pass  # a remote this user may only read
    return store


def _seen_folder(ws: Workspace, remote: Remote) -> str | None:
    """The folder this workspace last found remote ``remote`` in, if any."""
    try:
        return (ws.cache_dir / "remotes" / remote.name / "folder").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def open_remote(ws: Workspace, name: str | None) -> tuple[Remote, ObjectStore]:
    """The remote ``name`` (None: the default one) and its object store."""
    spec = _pick(ws, name)
    return spec, _open(ws, spec)


def whole_name(ref: str | None, command: str) -> str:
    """The dataset name ``ref`` is, for moving every version of it: a name alone, without ``@``."""
    if not ref or "@" in ref:
        given = f", not {ref!r}" if ref else ", and none was given"
        raise UsageError(f"every version of what? --all-versions (every_version=True) takes a dataset NAME{given}",
                         hint=f"`assay data {command} NAME --all-versions`; without NAME, `assay data {command}` moves every version "
                              "of every dataset")  # fmt: skip
    return ref


def versions_on(ws: Workspace, spec: Remote, store: ObjectStore, ref: str | None, *, command: str,
                strays: list[str] | None = None, every_version: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """:func:`remote_versions` of the remote ``spec``, for ``command`` (pull, verify): a name
    or version it lacks is refused naming the remote, with what it holds and where else to look.
    With ``every_version``, ``ref`` is a name, and every version of it is listed."""
    try:
        if every_version:
            return remote_versions(store, whole_name(ref, command), every_version=True)
        return remote_versions(store, ref, strays=strays)
    except NotFoundError as exc:
        if exc.details.get("missing") not in ("dataset", "version") or ref is None:
            raise
        raise _not_on_remote(ws, spec, store, ref, command, dataset=exc.details["missing"] == "dataset") from None


_SHOWN = 5  # names or versions listed in a message


def _not_on_remote(ws: Workspace, spec: Remote, store: ObjectStore, ref: str, command: str, *,
                   dataset: bool) -> NotFoundError:
    name = ref.partition("@")[0]
    where = f"remote {spec.name} ({spec.url})"
    others = sorted(n for n in ws.config.remotes if n != spec.name)
    elsewhere = (f"`assay data {command} {ref} --remote NAME` asks another remote ({', '.join(others[:_SHOWN])}"
                 + (f" and {len(others) - _SHOWN} more" if len(others) > _SHOWN else "") + ")") if others else ""
    if not dataset:
        entries = read_refs(store, name)["versions"]
        numbers = sorted({e["number"] for e in entries})  # (two workspaces that pushed a v2 each: one number, two versions)
        twice = {n: sum(1 for e in entries if e["number"] == n) for n in numbers}
        shown = ", ".join(f"v{n}" + (f" ({twice[n]} versions: name one by its hash prefix)" if twice[n] > 1 else "")
                          for n in numbers[-_SHOWN:])
        hint = (f"{spec.name} holds {len(entries)} version{'s' if len(entries) != 1 else ''} of {name}: "
                + (f"... {shown}" if len(numbers) > _SHOWN else shown))
        return NotFoundError(f"{where} has no version {ref}", hint="; ".join(filter(None, [hint, elsewhere])),
                             details={"remote": spec.name})
    held = remote_names(store)
    if held:
        said = (f"; it holds {', '.join(repr(n) for n in held[:_SHOWN])}"
                + (f" and {len(held) - _SHOWN} more" if len(held) > _SHOWN else ""))
    else:
        said = "; it holds no versions at all"
    hints = []
    if ws.ledger.query("SELECT 1 FROM datasets WHERE name = ?", (name,)):
        hints.append(f"{name} is in this workspace (`assay data log {name}` lists its versions); "
                     f"`assay data push {name} --remote {spec.name}` sends it there")
    if elsewhere:
        hints.append(elsewhere)
    if not held:
        hints.append(f"if {spec.name} should hold versions, check its URL (`assay remote list`)")
    elif not hints:
        hints.append(f"check the name (`assay data log --remote {spec.name}` lists the datasets it holds)")
    return NotFoundError(f"{where} has no dataset named {name!r}{said}", hint="; ".join(hints),
                         details={"remote": spec.name, "remote_datasets": held[:20]})


def remote_packs(ws: Workspace, remote: Remote, store: ObjectStore) -> PackStore:
    return PackStore(store, cache_dir=ws.cache_dir / "remotes" / remote.name / "idx")


def _write_refs(ws: Workspace, spec: Remote, store: ObjectStore,
                versions: list[Version]) -> tuple[set[str], list[str]]:
    """One ref object per version the remote does not list yet (after its snapshot and chunks).
    Returns the refs written, and the refs the remote lists already that do not read as their
    version: damage that a pull would stop at, which ``push --repair`` mends. Each listed ref is
    read back once (small objects, read in parallel); those found whole, and those this push wrote, are remembered
    per remote (``.assay/cache/remotes/NAME/refs-read``), so a later push reads only new ones.
    Damage done to a ref after that is for ``verify --remote`` to find."""
    from concurrent.futures import ThreadPoolExecutor

    from assay.data._hints import read_hint, write_hint

    memo_path = str(ws.cache_dir / "remotes" / spec.name / "refs-read")
    memo = read_hint(memo_path)
    read_before: set[str] = set()
    if isinstance(memo, dict) and memo.get("url") == spec.url and isinstance(memo.get("refs"), list):
        read_before = {k for k in memo["refs"] if isinstance(k, str)}
    kinds = {r[0]: r[1] for r in ws.ledger.query("SELECT name, kind FROM datasets")}
    by_name: dict[str, list[Version]] = {}
    for v in versions:
        by_name.setdefault(v.dataset, []).append(v)
    listed: list[str] = []
    written: set[str] = set()
    whole = set(read_before)
    for name, vs in by_name.items():
        there = set(store.list(f"versions/{name}/"))
        for v in vs:
            key = f"versions/{name}/{v.id}.json"
            if key in there:
                if key not in read_before:
                    listed.append(key)
            else:
                store.put_bytes(key, ref_entry(v, kinds.get(name, "dataset"), version_sources(ws, v)))
                written.add(key)
                whole.add(key)
    damaged: list[str] = []
    if listed:
        with ThreadPoolExecutor(max_workers=min(16, len(listed))) as pool:
            readable = list(pool.map(lambda key: read_ref(store, key) is not None, listed))
        damaged = [key for key, ok in zip(listed, readable) if not ok]
        whole.update(key for key, ok in zip(listed, readable) if ok)
    if whole != read_before:
        with contextlib.suppress(OSError):  # a cache: without it the next push reads them again
            (ws.cache_dir / "remotes" / spec.name).mkdir(parents=True, exist_ok=True)
            write_hint(memo_path, {"url": spec.url, "refs": sorted(whole)})
    return written, damaged


def transfer(src: PackStore, dst: PackStore, digests: list[bytes], tmp_dir: Any, result: TransferResult,
              *, jobs: int = 0, pack_size: int = 64 << 20, trusted_index: bool = False) -> None:
    """Copy the chunks ``dst`` lacks from ``src`` in their stored form, each one checked on
    the way: by its stored bytes' checksum when ``src`` is the workspace's own store
    (``trusted_index``), by decoding and hashing it against its digest otherwise."""
    missing = dst.missing(digests)
    result.chunks_present += len(set(digests)) - len(missing)
    if not missing:
        return
    if jobs <= 0:
        # Many small chunks: per-chunk work dominates and 4 workers overlap it. Big
        # chunks: the disk is the limit, 2 workers reach it and hold half the buffers.
        sizes = [src.index[d].raw for d in missing if d in src.index]
        jobs = 4 if sizes and sum(sizes) / len(sizes) < _BIG_CHUNK else 2
    # Partition by source pack so each worker reads its packs sequentially.
    by_pack: dict[str, list[bytes]] = {}
    for d in missing:
        loc = src.index.get(d)
        by_pack.setdefault(loc.pack if loc else "", []).append(d)
    groups: list[list[bytes]] = [[] for _ in range(max(1, jobs))]
    sizes = [0] * len(groups)
    for pack_id, items in sorted(by_pack.items(), key=lambda kv: -len(kv[1])):
        i = sizes.index(min(sizes))
        groups[i].extend(items)
        sizes[i] += len(items)
    total = sum(src.index[d].raw if d in src.index else 0 for d in missing)

    with bar(total=total, desc="transfer", unit="B") as progress:
        def work(group: list[bytes]) -> tuple[int, int, int]:
            if not group:
                return 0, 0, 0
            # A remote's indexes stay in format 1, which every assay reads: the checksums
            # serve only a store's own pushes, and whatever comes from a remote is checked
            # against its content anyway.
            writer = PackWriter(dst, tmp_dir, pack_size=pack_size, index_format=1 if trusted_index else 2)
            sent = nbytes = 0
            try:
                for digest, stored in src.read_many(group, stored=True, reuse=True, by_check=trusted_index):
                    loc = src.index[digest]  # the stored bytes are written at once: no copy
                    if writer.add_stored(digest, stored, loc.raw, loc.flags, loc.check if trusted_index else b""):
                        sent += 1
                        nbytes += loc.raw
                    progress.update(loc.raw)
                writer.flush()
            except BaseException:
                writer.abort()
                raise
            return sent, nbytes, len(writer.published)

        with quick_handoffs(), ThreadPoolExecutor(max_workers=len(groups)) as pool:
            for sent, nbytes, npacks in pool.map(work, groups):
                result.chunks_transferred += sent
                result.bytes_transferred += nbytes
                result.packs += npacks


def push(ws: Workspace, ref: str | None = None, *, remote: str | None = None, jobs: int = 0,
         every_version: bool = False) -> TransferResult:
    """Send ``ref`` (default: every version of every dataset) to a remote; a name alone sends its
    latest version, or with ``every_version`` all of its versions.

    A snapshot the remote already has went up after all of its chunks, so its chunks
    are not looked for again: an incremental push reads only the new versions'
    snapshots.

    Returns a :class:`TransferResult` (``assay data push --json`` prints its
    :meth:`~TransferResult.to_dict`, where ``versions_transferred`` is ``versions_sent``). No remote
    configured raises :class:`~assay.errors.UsageError`, an unknown remote or ``ref``
    :class:`~assay.errors.NotFoundError`, a remote folder this user cannot write to
    :class:`~assay.errors.InputError`.
    """
    name = whole_name(ref, "push") if every_version else None
    spec = _pick(ws, remote)
    refuse_read_only(ws, spec)
    store = _open(ws, spec, make=True)
    local = workspace_packs(ws)
    if name is not None:
        resolve(ws, name)  # an unknown name is refused as everywhere
        versions = [v for v in all_versions(ws) if v.dataset == name]
    else:
        versions = [resolve(ws, ref)] if ref else all_versions(ws)
    result = TransferResult(remote=spec.name)
    if not versions:
        return result
    # One hold on the remote for the whole push (see _storelock): no gc there deletes a
    # snapshot it found, or a pack it sends, before the refs that make them live. The
    # workspace's lock with it, not held while the push waits for a gc there.
    with remote_hold(ws, spec, store, "push", result.notes, locked=True) as hold, _writing_to(spec.name, store):
        there = {k[len("snapshots/"):] for k in store.list("snapshots/")}
        to_send: dict[str, bytes] = {}  # snapshot -> fingerprint of its bytes, as checked
        chunks: set[bytes] = set()
        checked = CheckedSnapshots(ws)  # those an add stored or a check passed are not checked again
        for sid, digests, fingerprint in each_snapshot_chunks(
                ws.store, dict.fromkeys(v.snapshot for v in versions if v.snapshot not in there), checked.known):
            to_send[sid] = fingerprint
            chunks |= digests
            checked.add(sid, fingerprint)  # (checked now, or known already: no change)
        checked.save()
        result.snapshots_present = len({v.snapshot for v in versions} - set(to_send))
        digests = sorted(chunks)
        del chunks
        rpacks = remote_packs(ws, spec, store)
        with remote_damage(spec.name):
            rpacks.refresh()
        transfer(local, rpacks, digests, ws.tmp_dir, result, jobs=jobs, pack_size=min(ws.config.data.pack_size, 64 << 20),
                  trusted_index=True)
        hold.check(confirm=True)  # before what makes the chunks live: the hold was kept all along
        for sid, fingerprint in to_send.items():  # after the chunks: a snapshot on a remote is always complete
            copy_checked_snapshot(ws.store, store, sid, fingerprint)
        write_runs(ws, store, versions, notes=result.notes)  # before the refs that name them
        written, damaged = _write_refs(ws, spec, store, versions)
        result.records_sent = write_records(ws, store, versions, result.notes)
    result.versions = sorted(v.ref for v in versions)
    sent = {v.ref for v in versions if v.snapshot in to_send or f"versions/{v.dataset}/{v.id}.json" in written}
    result.versions_transferred = [r for r in result.versions if r in sent]
    result.versions_already_there = [r for r in result.versions if r not in sent]
    if damaged:
        raise CorruptionError(
            f"pushed, but {len(damaged)} version {'ref' if len(damaged) == 1 else 'refs'} already on remote "
            f"{spec.name} {'is' if len(damaged) == 1 else 'are'} damaged: "
            + ", ".join(damaged[:5]) + (f" and {len(damaged) - 5} more" if len(damaged) > 5 else ""),
            key=damaged[0], hint=f"`assay data push --repair --remote {spec.name}` writes them again from this workspace",
        )
    return result


@contextlib.contextmanager
def remote_hold(ws: Workspace, spec: Remote, store: ObjectStore, kind: str, notes: list[str] | None = None, *,
                locked: bool = False) -> Any:
    """The shared hold of a push, pull or verify on a remote (see :mod:`assay.data._storelock`).
    A remote this user may not write to (a read-only share) is read without one: noted in
    ``notes``, where given. ``locked``: the workspace's (shared) lock is held too, taken so
    that a wait for a gc or a repair of the remote happens outside it (see
    :func:`assay.data._storelock.store_hold_within`)."""
    from assay.data._storelock import store_hold, store_hold_within

    where = f"remote {spec.name} ({spec.url})"
    with (store_hold_within(ws.lock, store, kind, where=where, workspace=ws.root, optional=True) if locked
          else store_hold(store, kind, where=where, workspace=ws.root, optional=True)) as hold:
        if not hold.held and notes is not None:
            notes.append(f"remote {spec.name}: this user cannot write its locks/ folder, so the {kind} went on without "
                         "a hold there: a gc of that store could not see it")
        try:
            yield hold
        except CorruptionError:
            try:
                hold.check(confirm=True)  # a hold that lapsed explains it: a gc there may have run meanwhile
            except ConcurrencyError:
                raise
            except Exception:  # noqa: BLE001 - the store out of reach now: the damage is said as it was met
                pass
            raise


def remote_contents(ws: Workspace, remote: str | None, damaged: list[Any] | None = None,
                    store: ObjectStore | None = None) -> tuple[str, ObjectStore, PackStore, list[Version]]:
    """A remote's name, store (``store``: opened already), chunk view and every version pushed
    there. The indexes are read from the remote itself, not from the workspace's cache of
    them; with ``damaged``, one that cannot be read is listed there instead of raising."""
    spec = _pick(ws, remote)
    store = store if store is not None else _open(ws, spec)
    packs = PackStore(store)
    packs.refresh(damaged)
    return spec.name, store, packs, [_as_version(name, e) for name, e in remote_versions(store, None, damaged)]


@contextlib.contextmanager
def _writing_to(name: str, store: ObjectStore) -> Any:
    """A folder remote that refuses a write (permissions, a full disk) is named as the remote,
    with what to do there: not as a file, and not with the hint for this workspace's store."""
    try:
        yield
    except OSError as exc:
        if not isinstance(store, LocalStore) or not exc.filename or not Path(exc.filename).is_relative_to(store.root):
            raise
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NoSpaceError(
                f"no space left on the disk of remote {name} ({store.root}) writing {exc.filename}",
                hint=f"free some space on the disk holding {store.root} (`assay data gc` frees only this workspace's "
                     f"store), then rerun the push: what went up is kept") from None
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise InputError(
                f"cannot write to remote {name}: {exc.filename} ({exc.strerror})",
                hint=f"this user needs write access to {store.root} and the folders in it (packs/, snapshots/, "
                     f"versions/, .tmp/); fix that, then rerun the push: what went up is kept") from None
        raise


@contextlib.contextmanager
def remote_damage(name: str) -> Any:
    """Damage met while reading the remote ``name`` gets a hint about mending the remote,
    not this workspace's store."""
    try:
        yield
    except CorruptionError as exc:
        raise CorruptionError(
            f"the copy on remote {name} is damaged: {exc.message}", key=exc.key,
            hint=f"`assay data verify --remote {name}` lists what is damaged there; `assay data push --repair "
                 f"--remote {name}`, from a workspace that has good copies, mends it",
        ) from None
