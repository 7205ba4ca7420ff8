"""`assay data add`: snapshot files and folders as the next version of a dataset."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay._warn import warn_user
from assay.data._chunking import Chunker, hash_bytes
from assay.data._file_hashing import Prefetcher, batches_of, hash_batch, same_stat
from assay.data._fork import processes_for, quick_handoffs
from assay.data._ignore import refuse_ignored
from assay.data._overlap import refuse_or_note
from assay.data._packs import PackWriter, workspace_packs
from assay.data._portable import colliding, collisions_note
from assay.data._prefetch import remember
from assay.data._replay import record
from assay.data._scan import ScanEntry, ScanResult, scan
from assay.data._statcache import StatCache
from assay.data._snapshot import FileManifest, Snapshot, check_relpath
from assay.data._versions import (
    NewVersion,
    Version,
    check_kind,
    check_name,
    dataset_sources,
    empty_note,
    record_versions,
    save_snapshot,
    set_head,
)
from assay.data._workers import hash_in_processes
from assay.errors import CorruptionError, InputError, UnsafePathError, UsageError
from assay.progress import bar
from assay.workspace import Workspace

__all__ = ["AddResult", "NewData", "add", "add_together", "snapshot_paths"]

_KNOWN_FRONT_MIN = 16 << 20  # files from this size reuse their earlier chunks' cuts (Chunker._cut_after_known)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


@dataclass
class AddResult:
    """What :func:`add` recorded for one dataset (``assay data add --json`` prints :meth:`to_dict`).

    - ``version``: the dataset's version now holding the files (a new one, or the latest if nothing changed).
    - ``created``: True if a new version was recorded; False when the data was identical to the latest.
    - ``files``, ``bytes``: how many files the version holds and their total size in bytes.
    - ``new_chunks``, ``new_bytes_stored``: chunks this add stored that the store lacked, and their
      size in bytes as stored (compressed); 0 when every chunk was already there (deduplicated).
    - ``rehashed_files``: files read and hashed, not vouched for by the stat cache.
    - ``ignored``, ``ignored_folders``: files and folders under the paths added that
      ``.assayignore`` left out (an ignored folder is not looked into: its files are not counted).
    - ``warnings``: notes for the user (a folder shared with another dataset, an empty version...).
    """

    version: Version
    created: bool
    files: int
    bytes: int
    new_chunks: int
    new_bytes_stored: int
    rehashed_files: int
    warnings: list[str] = field(default_factory=list)
    ignored: int = 0
    ignored_folders: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": self.created, "version": self.version.to_dict(), "files": self.files, "bytes": self.bytes,
            "new_chunks": self.new_chunks, "new_bytes_stored": self.new_bytes_stored,
            "rehashed_files": self.rehashed_files, "ignored": self.ignored,
            "ignored_folders": self.ignored_folders, "warnings": self.warnings,
        }


def add(
    ws: Workspace,
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    name: str,
    message: str = "",
    kind: str = "dataset",
    meta: dict[str, Any] | None = None,
    run_id: str | None = None,
    jobs: int = 0,
    allow_overlap: bool = False,
    allow_empty: bool = False,
) -> AddResult:
    """Snapshot ``paths`` (files or folders inside the workspace) as the next version of ``name``.

    Unchanged data makes no new version (``created`` is False). Nothing becomes
    visible until every chunk and the snapshot are durable; then one ledger
    transaction records the version. A path that is, holds or is inside the folder of
    another dataset is refused unless ``allow_overlap`` (see :mod:`assay.data._overlap`).
    A version that holds no files, where the dataset's latest version has files, is
    refused (:class:`~assay.errors.UsageError`) unless ``allow_empty``.
    ``paths`` may be one path (``"data"``) or a list; a relative one is taken from the
    current folder, as on the command line. Each of the result's ``warnings`` is also issued
    as an :class:`~assay.errors.AssayWarning`. ``kind`` is ``"dataset"`` or ``"model"`` (anything
    else is a :class:`~assay.errors.UsageError`); register a model with :mod:`assay.models`, which
    records its flavor.

    Returns an :class:`AddResult` (``assay data add --json`` prints its :meth:`~AddResult.to_dict`).
    A path outside the workspace or missing, or a bad name, raises :class:`~assay.errors.UsageError`.
    """
    check_kind(kind)
    # One path given as a string is that path, not its characters (each one "does not exist").
    given: list[Any] = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    item = NewData(paths=given, name=name, message=message, kind=kind, meta=meta, allow_overlap=allow_overlap,
                   allow_empty=allow_empty)
    result = add_together(ws, [item], run_id=run_id, jobs=jobs)[0]
    warn_user(result.warnings)
    return result


@dataclass
class NewData:
    """What :func:`add_together` adds as the next version of one dataset (or model): the
    files and folders ``paths`` inside the workspace, or, with ``files``, each file read from
    where it is under the path in the snapshot that it is paired with (``(rel, path)``: a
    registered model's file, wherever it lives)."""

    paths: list[str | Path]
    name: str
    message: str = ""
    kind: str = "dataset"
    meta: dict[str, Any] | None = None
    files: list[tuple[str, str]] | None = None
    allow_overlap: bool = False  # share files with another dataset's folder (see assay.data._overlap)
    allow_empty: bool = False  # record no files even where the latest version has files


@dataclass
class _Prepared:
    item: NewData
    sources: list[str] | None
    snapshot: Snapshot
    stats: dict[str, Any]
    signed: Any


def add_together(ws: Workspace, items: list[NewData], *, run_id: str | None = None, jobs: int = 0,
                 then: Callable[[Any, list[tuple[Version, bool]], list[tuple[int, int]]], None] | None = None,
                 said: set[frozenset[tuple[str, str]]] | None = None) -> list[AddResult]:
    """Add each of ``items`` as the next version of its dataset, as :func:`add` does, and
    record them all in one ledger transaction: a failure on any of them (a disk error, an
    unreadable file) records none, as a run's outputs must be (a failed run makes no
    version). Chunks and snapshots stored for the others are left to ``gc``. ``then`` goes
    into that transaction (see :func:`assay.data._versions.record_versions`), given too what
    ``.assayignore`` left out of each item: ``(files, folders)``, as ``AddResult.ignored`` and
    ``ignored_folders``. ``said``: the overlaps with another dataset's folder warned of already,
    not said again (see :func:`assay.data._overlap.refuse_or_note`)."""
    if jobs < 0:
        raise UsageError(f"jobs must be 0 (one reader per core) or more, not {jobs}",
                         hint="pass 0 for one reader per core, or how many to use")
    names = [item.name for item in items]
    if len(set(names)) != len(names):
        raise UsageError(f"{next(n for n in names if names.count(n) > 1)!r} is named twice", hint="add each dataset once")
    checked = [(item, *_check_sources(ws, item)) for item in items]
    with ws.lock():
        batch = {item.name: sources for item, sources, _ in checked if sources is not None}
        shared = [[] if sources is None else refuse_or_note(
            ws, item.name, sources, allow_overlap=item.allow_overlap,
            others={n: s for n, s in batch.items() if n != item.name}, said=said) for item, sources, _ in checked]
        prepared = [_prepare(ws, item, sources, gone, jobs) for item, sources, gone in checked]
        left_out = [(p.stats.get("ignored", 0), p.stats.get("ignored_folders", 0)) for p in prepared]
        recorded = record_versions(ws, [NewVersion(p.item.name, p.snapshot, message=p.item.message, sources=p.sources,
                                                   kind=p.item.kind, meta=p.item.meta, allow_empty=p.item.allow_empty)
                                    for p in prepared],
                                   run_id=run_id, then=None if then is None else lambda tx, done: then(tx, done, left_out))
    results = []
    for p, (version, created), notes, (files_left, folders_left) in zip(prepared, recorded, shared, left_out, strict=True):
        set_head(ws, p.item.name, version)
        left_out = bool(p.stats["warnings"] or p.stats.get("ignored") or p.stats.get("ignored_folders"))
        if created and (empty := empty_note(ws.ledger.query, version, left_out=left_out)):
            notes = [*notes, empty]
        if p.signed is not None:  # what the next status answers, unless something changes (_replay.py)
            record(ws, p.item.name, latest=version, against=version, sources=p.sources, head=version.id,
                   signature=p.signed, files=len(p.snapshot.files))
        results.append(AddResult(
            version=version, created=created, files=len(p.snapshot.files), bytes=p.snapshot.total_bytes,
            new_chunks=p.stats["new_chunks"], new_bytes_stored=p.stats["new_bytes"], rehashed_files=p.stats["rehashed"],
            ignored=files_left, ignored_folders=folders_left,
            warnings=p.stats["warnings"] + notes + ([collisions_note(version.ref, groups)]
                                                    if (groups := colliding(p.snapshot.files)) else []),
        ))
    return results


def _check_sources(ws: Workspace, item: NewData) -> tuple[list[str] | None, list[str]]:
    """``item``'s paths as sources, and those of them that are gone (a source of the
    dataset's latest version that was deleted: the new version records its files as
    removed). Any other missing path is a mistake, said as such. Files named one by one
    (``files``) are no sources: None."""
    check_name(item.name)
    if item.files is not None:
        for rel, path in item.files:
            check_relpath(rel)
            if not os.path.isfile(path):
                raise UsageError(f"{path} is not a file", hint="check the path")
        return None, []
    if not item.paths:
        raise UsageError("name at least one file or folder to add")
    sources = sorted({ws.relpath(p) for p in item.paths})
    refuse_ignored(str(ws.root), [s for s in sources if os.path.lexists(ws.root / s)])
    gone = [s for s in sources if not os.path.lexists(ws.root / s)]
    if gone:
        known = set(dataset_sources(ws, item.name))
        unknown = [s for s in gone if s not in known]
        if unknown:
            raise UsageError(f"{unknown[0]} does not exist", hint="check the path")
    return sources, gone


def _remember(ws: Workspace, snapshot_id: str, fingerprint: bytes | None) -> None:
    """A snapshot just encoded and stored is known good: a push need not check it again."""
    if fingerprint is not None:
        from assay.data._checked import CheckedSnapshots

        checked = CheckedSnapshots(ws)
        checked.add(snapshot_id, fingerprint)
        checked.save()


def _prepare(ws: Workspace, item: NewData, sources: list[str] | None, gone: list[str], jobs: int) -> _Prepared:
    """Store ``item``'s chunks and snapshot (durable, not yet a version), under the lock."""
    if sources is None:
        assert item.files is not None
        snapshot, stats = _snapshot_files(ws, item.files, jobs=jobs)
        _remember(ws, snapshot.id, save_snapshot(ws.store, snapshot))
        return _Prepared(item=item, sources=None, snapshot=snapshot, stats=stats, signed=None)
    snapshot, stats, found, cache = _snapshot_paths(ws, sources, jobs=jobs, missing_ok=bool(gone))
    for source in gone:
        stats["warnings"].append(f"{source} is gone: this version records its files as removed")
    _remember(ws, snapshot.id, save_snapshot(ws.store, snapshot))
    # Built from the files just read: `status` can trust its listing, and (where no
    # file was racy) answer a clean tree from the stat signature alone.
    cache.record_tree(snapshot)
    signed = cache.record_signature(item.name, found.files, {p: m.id for p, m in snapshot.files.items()},
                                    ignore=found.ignore_digest)
    if signed is not None:
        remember(ws.cache_dir, item.name, sources)  # what the next status walks first (_prefetch.py)
    return _Prepared(item=item, sources=sources, snapshot=snapshot, stats=stats, signed=signed)


def snapshot_paths(ws: Workspace, sources: list[str], *, jobs: int = 0, store: bool = True) -> tuple[Snapshot, dict[str, Any]]:
    """Build the snapshot of ``sources``; with ``store`` every new chunk is written to the store.

    Without ``store`` files are only hashed.
    """
    snapshot, stats, _, _ = _snapshot_paths(ws, sources, jobs=jobs, store=store)
    return snapshot, stats


def _untrackable_name(manifests: dict[str, FileManifest], exc: UnsafePathError) -> InputError:
    """What to say of a file whose name a version's paths cannot hold (the snapshot refused it)."""
    odd = sorted(rel for rel in manifests if "\\" in rel)
    if not odd:
        exc.hint = exc.hint or "rename it, move it out of the dataset's folders, or leave it out with a .assayignore line"
        return exc
    more = f" and {len(odd) - 1} more" if len(odd) > 1 else ""
    return InputError(f"{odd[0]}{more}: a name with a backslash cannot be tracked (a version's paths "
                      "separate folders with '/' alone, and a checkout on Windows would read '\\' as one)",
                      hint="rename it, move it out of the dataset's folders, or leave it out with a .assayignore line")


def _snapshot_paths(ws: Workspace, sources: list[str], *, jobs: int = 0, store: bool = True,
                    missing_ok: bool = False) -> tuple[Snapshot, dict[str, Any], ScanResult, StatCache]:
    found = scan(ws, sources, missing_ok=missing_ok, outside_ok=False)
    packs = _loaded_packs(ws, found.warnings) if store else None
    cache = StatCache(ws)
    # Files whose stat matches the cache are not read again (if their chunks are stored).
    manifests, suspects = cache.lookup_many(found.files)
    incomplete: list[tuple[ScanEntry, FileManifest]] = []
    if packs is not None and manifests:
        has = packs.has
        missing = {rel for rel, m in manifests.items() if not all(has(d) for d, _ in m.chunks)}
        if missing:
            # Known content whose chunks are not all stored (status hashed the file, or gc
            # dropped a version): only those chunks' bytes are read, not the whole file.
            incomplete = [(e, manifests.pop(e.rel)) for e in found.files if e.rel in missing]
    writer = _writer(ws, packs) if packs is not None and (suspects or incomplete) else None
    if incomplete:
        assert writer is not None
        try:
            filled, unsure = _store_missing_chunks(incomplete, writer)
        except BaseException:
            writer.abort()
            raise
        manifests.update(filled)
        suspects += unsure
    fresh = _hash(ws, suspects, writer, jobs=jobs)
    manifests.update((rel, m) for rel, _, m in fresh)
    try:
        snapshot = Snapshot(manifests, tuple(found.empty_dirs))
    except UnsafePathError as exc:  # a name this file system holds that no version may (a '\\' in it)
        raise _untrackable_name(manifests, exc) from None
    cache.update(fresh)
    return snapshot, {
        "new_chunks": writer.chunks_written if writer else 0,
        "new_bytes": writer.bytes_written if writer else 0,
        "rehashed": len(fresh),
        "warnings": found.warnings,
        # (an ignored folder is not walked into, not even to count its files: it may be huge)
        "ignored": sum(1 for rel in found.ignored if not rel.endswith("/")),
        "ignored_folders": sum(1 for rel in found.ignored if rel.endswith("/")),
    }, found, cache


def _snapshot_files(ws: Workspace, files: list[tuple[str, str]], *, jobs: int = 0) -> tuple[Snapshot, dict[str, Any]]:
    """The snapshot of ``files`` (``(rel, path)``: each file at ``path`` as ``rel``, mode
    0o644), every new chunk stored. The stat cache is not written (it knows the workspace's
    files by their paths there, and these are not the workspace's files); what it held for such
    a path only guides where a big file is cut, and every cut is checked against the bytes.
    """
    warnings: list[str] = []
    packs = _loaded_packs(ws, warnings)
    entries = []
    for rel, path in files:
        try:
            entries.append(ScanEntry(rel, path, os.stat(path)))
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}", hint="check the file and its permissions") from None
    writer = _writer(ws, packs)
    fresh = _hash(ws, entries, writer, jobs=jobs)
    # Mode 0o644 whatever the file's: these are the bytes of something registered (a model),
    # and the same bytes must make the same snapshot, from any file.
    snapshot = Snapshot({rel: FileManifest(m.size, 0o644, m.chunks) for rel, _, m in fresh}, ())
    return snapshot, {"new_chunks": writer.chunks_written, "new_bytes": writer.bytes_written,
                      "rehashed": len(fresh), "warnings": warnings}


def _loaded_packs(ws: Workspace, warnings: list[str]) -> Any:
    """The workspace's packs, their indexes loaded; a damaged index is said in ``warnings``."""
    packs = workspace_packs(ws)
    damaged: list[CorruptionError] = []
    packs.load(damaged)
    for exc in damaged:  # its chunks count as not stored: stored again, nothing is lost
        warnings.append(f"{exc.message}; the chunks it listed are stored again. Run "
                        "`assay data verify --all`, then `assay data pull --repair` to mend it")
    return packs


def _writer(ws: Workspace, packs: Any) -> PackWriter:
    """A writer of new chunks into ``packs``, with the workspace's settings."""
    settings = ws.config.data
    return PackWriter(packs, ws.tmp_dir, compression=settings.compression, level=settings.zstd_level,
                      pack_size=settings.pack_size, encoders=os.cpu_count() or 1)


def _store_missing_chunks(items: list[tuple[ScanEntry, FileManifest]],
                          writer: PackWriter) -> tuple[dict[str, FileManifest], list[ScanEntry]]:
    """Store the chunks of files whose manifest the stat cache vouches for but whose chunks
    are not all stored, reading only those chunks' byte ranges, each checked against its
    digest. A file where any range does not match, or whose stat moved meanwhile, is
    returned to be read and chunked whole."""
    filled: dict[str, FileManifest] = {}
    unsure: list[ScanEntry] = []
    with quick_handoffs():
        for entry, manifest in items:
            try:
                fd = os.open(entry.path, os.O_RDONLY | _O_CLOEXEC)
            except OSError:
                unsure.append(entry)  # the full read reports what is wrong with it
                continue
            try:
                ok = True
                offset = 0
                for digest, size in manifest.chunks:
                    if writer.wants(digest):
                        data = os.pread(fd, size, offset)
                        if len(data) != size or hash_bytes(data) != digest:
                            ok = False
                            break
                        writer.add(digest, data)
                    offset += size
                st = os.fstat(fd)
            finally:
                os.close(fd)
            if ok and same_stat(st, entry.st) and st.st_ino == entry.st.st_ino:
                filled[entry.rel] = manifest
            else:
                unsure.append(entry)
    return filled, unsure


def hash_entries(ws: Workspace, entries: list[ScanEntry], *, jobs: int = 0) -> list[tuple[str, os.stat_result, FileManifest]]:
    """``(rel, stat, manifest)`` of each file, read and hashed but not stored."""
    return _hash(ws, entries, None, jobs=jobs)


def _hash(ws: Workspace, entries: list[ScanEntry], writer: PackWriter | None, *,
          jobs: int = 0) -> list[tuple[str, os.stat_result, FileManifest]]:
    if not entries:
        if writer is not None:
            writer.flush()
        return []
    settings = ws.config.data
    chunker = Chunker(settings.chunk_avg)
    big = [e.rel for e in entries if e.st.st_size >= _KNOWN_FRONT_MIN]
    previous = StatCache(ws).previous(big) if big else {}
    processes = processes_for(len(entries), sum(e.st.st_size for e in entries), jobs or settings.jobs)
    if processes:
        return hash_in_processes(ws, entries, writer, processes, previous)
    # The readers hash and compress, so one per core; the disk's latency is hidden by
    # the prefetcher instead of by more readers (which only fought for the interpreter lock).
    workers = jobs or settings.jobs or min(4, max(2, os.cpu_count() or 1))
    fresh: list[tuple[str, os.stat_result, FileManifest]] = []
    batches = batches_of(entries)
    prefetch = Prefetcher(batches, chunker.min_size)

    def batch(items: list[ScanEntry]) -> list[tuple[str, os.stat_result, FileManifest]]:
        return hash_batch(items, chunker, writer, prefetch.consumed, previous)

    try:
        prefetch.start()
        with quick_handoffs(), bar(total=sum(e.st.st_size for e in entries), unit="B",
                                   desc="hashing" if writer is None else "adding") as progress, \
                ThreadPoolExecutor(max_workers=workers) as pool:
            for results in pool.map(batch, batches):
                fresh.extend(results)
                progress.update(sum(m.size for _, _, m in results))
            if writer is not None:
                writer.flush()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        prefetch.stop()
    return fresh
