"""`assay data status`: what changed on disk since the checked-out (or latest) version."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay._root import protected_path
from assay.data._ignore import GROUP, ignored_sources, load, said, take_back
from assay.data._overlap import Overlap, sharing
from assay.data._prefetch import remember, take, unwanted
from assay.data._replay import record
from assay.data._scan import ScanEntry, _list_folder, scan
from assay.data._statcache import StatCache, listing_digest
from assay.data._snapshot import FileManifest
from assay.data._sigwalk import signature, stat_groups, walk_groups
from assay.data._versions import (
    Version,
    get_head,
    list_datasets,
    load_snapshot,
    log,
    resolve,
    sources_on_disk,
)
from assay.workspace import Workspace

if TYPE_CHECKING:
    from assay.data._snapshot import Snapshot

__all__ = ["Status", "status", "status_against"]


@dataclass
class Status:
    """What :func:`status` found on disk for ``dataset`` against the version ``against``
    (``assay data status --json`` prints :meth:`to_dict`).

    - ``added``, ``removed``, ``modified``: paths (relative to the workspace, ``/``-separated).
    - ``modes``: modified files whose permission bits changed, ``{path: {"old", "new", "content_changed"}}``
      (octal strings, as ``"644"``).
    - ``unchanged``: how many files match the version; ``rehashed``: how many were read and hashed
      (the stat cache did not vouch for them).
    - ``dirty`` (property): anything added, removed or modified; ``checked_out``: any of the version's
      files is here; ``shares_folder_with``: other datasets whose folders hold some of these files.
    - ``ignored_sources``: the dataset's folders (or files) that ``.assayignore`` ignores, whose
      files therefore show as removed: ``{"source", "ignored", "line", "pattern"}`` (``ignored``:
      the source itself or the folder above it that a pattern matches).
    """

    dataset: str
    against: Version
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    # Modified files whose permission bits changed: {path: {"old": "644", "new": "755", "content_changed": bool}}
    modes: dict[str, dict[str, Any]] = field(default_factory=dict)
    unchanged: int = 0
    rehashed: int = 0
    _ids: dict[str, str] | None = field(default=None, repr=False, compare=False)
    _ws: Workspace | None = field(default=None, repr=False, compare=False)
    # The stat signature this (clean) status found or recorded for the files: the next
    # status with the same signature gives the same answer (see _replay.py).
    _signed: str | None = field(default=None, repr=False, compare=False)
    # Where its folders meet another dataset's (they share those files): see _overlap.py.
    overlaps: list[Overlap] = field(default_factory=list, repr=False, compare=False)
    ignored_sources: list[dict[str, Any]] = field(default_factory=list)

    @property
    def shares_folder_with(self) -> list[str]:
        """The other datasets and registered models whose folders hold some of this one's files,
        or are inside its own."""
        return sorted({o.other for o in self.overlaps})

    @property
    def dirty(self) -> bool:
        return bool(self.added or self.removed or self.modified)

    @property
    def checked_out(self) -> bool:
        """Whether any of the version's files is here. A teammate's dataset on a shared ledger,
        or one pulled without ``--checkout``, has none: not N removed files."""
        return bool(self.unchanged or self.added or self.modified or not self.removed)

    def ignored_notes(self) -> list[tuple[str, str]]:
        """``(why, what to do)`` for each of ``ignored_sources``: "data is ignored by .assayignore,
        line 3: 'data/'", "change that line of .assayignore (e.g. ...)"."""
        return [(said(i["source"], i["ignored"], i["line"], i["pattern"]), take_back(i["source"], i["ignored"]))
                for i in self.ignored_sources]

    @property
    def current_ids(self) -> dict[str, str]:
        """``{path: manifest id}`` of the files on disk when the status was taken.

        A clean status answered by the stat signature has not looked at the files one by
        one: they are the version's, so its snapshot is read here, once, if asked.
        """
        if self._ids is None:
            snapshot = load_snapshot(self._ws.store, self.against.snapshot)  # type: ignore[union-attr]
            self._ids = {path: m.id for path, m in snapshot.files.items()}
        return self._ids

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "against": self.against.ref, "against_id": self.against.id, "clean": not self.dirty,
            "added": self.added, "removed": self.removed, "modified": self.modified, "modes": self.modes,
            "unchanged": self.unchanged, "rehashed": self.rehashed, "checked_out": self.checked_out,
            "shares_folder_with": self.shares_folder_with, "ignored_sources": self.ignored_sources,
        }


def status(ws: Workspace, name: str) -> Status:
    """Compare the dataset's folders on disk with the version checked out there (default: latest),
    or with the version ``name`` names as ``NAME@REF``. Returns a :class:`Status`; raises
    :class:`~assay.errors.NotFoundError` for a name or version that does not exist.

    >>> status(ws, "customers").modified   # doctest: +SKIP
    ['data/a.csv']
    """
    return status_against(ws, name)


def status_against(ws: Workspace, name: str, *, version: Version | None = None,
                   base: Snapshot | None = None) -> Status:
    """:func:`status`, compared with ``version`` if given (its snapshot ``base`` already decoded
    and checked, if the caller has it: checkout does).

    When the walk's stat signature is the one recorded for a clean tree of this version,
    nothing else is read; when it is not, only the folders whose part of it changed are
    looked at (:func:`_in_changed_folders`). Otherwise files whose stat matches the stat
    cache are not read; when all of them match and their listing hashes to the one
    recorded for the version's snapshot, the stored snapshot is not even decoded.
    """
    if version is None and "@" in name:  # NAME@REF: compared with that version
        version = resolve(ws, name)
        name = version.dataset
    if version is not None:
        sources = sources_on_disk(ws, version)
        result = _status(ws, name, version, sources, base)
        result.overlaps = sharing(ws, name, sources)
        _note_ignored(ws, result, sources)
        return result
    head = get_head(ws, name)
    latest = resolve(ws, name)
    version = latest
    if head and head != latest.id:
        version = next((v for v in log(ws, name) if v.id == head), latest)
    sources = sources_on_disk(ws, version)  # where the version on disk was added from
    result = _status(ws, name, version, sources, base)
    result.overlaps = sharing(ws, name, sources)
    _note_ignored(ws, result, sources)
    # Recorded for the entry point to give again (_replay.py), unless the head names a
    # version this ledger does not hold: one that a pull may add later, below the latest.
    if (result._signed is not None and base is None and not result.dirty
            and (head is None or head == version.id)):
        record(ws, name, latest=latest, against=version, sources=sources, head=head, signature=result._signed,
               files=result.unchanged)
    return result


def _status(ws: Workspace, name: str, version: Version, sources: list[str], _base: Snapshot | None) -> Status:
    cache = StatCache(ws)
    found = None
    if _base is None:
        recorded = cache.clean_signature(name, version.snapshot)
        if recorded is not None:
            root = str(ws.root)
            groups = take(root, name, sources)  # walked while the command line loaded
            if groups is None:
                groups = walk_groups(root, sources)
                remember(ws.cache_dir, name, sources)  # so that the next status need not wait for it
            if groups is None:
                found = scan(ws, sources, missing_ok=True)
                groups = stat_groups(found.files, found.ignore_digest)
            walked, count = signature(groups)
            if walked == recorded:
                return Status(dataset=name, against=version, unchanged=count, _ws=ws, _signed=walked)
            local = _in_changed_folders(ws, name, version, sources, cache, recorded, groups)
            if local is not None:
                return local
        else:
            unwanted(name)
    if found is None:
        found = scan(ws, sources, missing_ok=True)
    ids, suspects = cache.match(found.files)
    if suspects:
        from assay.data._add import hash_entries

        fresh = hash_entries(ws, suspects)
        cache.update(fresh)
        ids.update((rel, m.id) for rel, _, m in fresh)
    result = Status(dataset=name, against=version, rehashed=len(suspects), _ids=ids)
    listing = listing_digest(ids)
    if _base is None and cache.tree_digest(version.snapshot) == listing:
        result.unchanged = len(ids)
    else:
        base = _base if _base is not None else load_snapshot(ws.store, version.snapshot)
        cache.record_tree(base)  # load_snapshot checked its Merkle root: next time the digest answers
        for path, mid in ids.items():
            old = base.files.get(path)
            if old is None:
                result.added.append(path)
            elif old.id != mid:
                result.modified.append(path)
            else:
                result.unchanged += 1
        # Paths inside a .assay or .git folder (an old version may hold some) are never on disk:
        # walks and checkout leave them out.
        result.removed = sorted(p for p in set(base.files) - set(ids) if not protected_path(p))
        result.added.sort()
        result.modified.sort()
        _note_modes(result, base.files, found.files)
    if not result.dirty:
        result._signed = cache.record_signature(name, found.files, ids, listing=listing, ignore=found.ignore_digest)
        if result._signed is not None:
            remember(ws.cache_dir, name, sources)  # next time the walk alone answers, started early
    return result


def _in_changed_folders(ws: Workspace, name: str, version: Version, sources: list[str], cache: StatCache,
                        recorded: str, groups: list[tuple[str, int, bytes]]) -> Status | None:
    """The status from the folders whose (files, digest) differ from those recorded with the
    signature, or None where that cannot answer (nothing recorded beside it, or a change
    outside the source folders: a file named as a source).

    A folder whose group is the recorded one holds the same files with the same stats as
    when the tree was clean, each then a trusted entry of the stat cache with the listing's
    id: those are unchanged, as in the whole-tree comparison. The others are listed (one
    level: each subfolder has its own group), matched against the stat cache, re-hashed
    where the stat does not vouch, and compared with the recorded listing.
    """
    kept = cache.recorded_tree(name, version.snapshot, recorded)
    if kept is None:
        return None
    old_groups, base_ids = kept
    now = {folder: (count, digest) for folder, count, digest in groups}
    changed = {f for f in old_groups.keys() | now.keys() if old_groups.get(f) != now.get(f)}
    root = str(ws.root)
    folders = [s for s in sources if os.path.isdir(os.path.join(root, s))]
    if not all(any(f == s or f.startswith(f"{s}/") for s in folders) for f in changed):
        return None
    entries: list[ScanEntry] = []
    ignore = load(root)
    if now.get(GROUP) != (None if ignore is None else (0, ignore.digest)):
        return None  # edited since the walk read it (its group is unchanged from the recorded one)
    for folder in sorted(changed & now.keys()):
        # Only where the walk found files: a folder it found none in (gone, emptied, now a
        # file, or now a symlink to a folder, which is not followed) has lost all of them.
        files, _, _, _, _ = _list_folder(root, os.path.join(root, folder), folder, ignore)
        entries.extend(files)
    ids, suspects = cache.match_some(entries)
    olds: dict[str, FileManifest] = {}  # the version's manifests of re-read files that changed, as the cache kept them
    if suspects:
        from assay.data._add import hash_entries

        fresh = hash_entries(ws, suspects)
        olds = cache.previous([rel for rel, _, m in fresh if base_ids.get(rel, m.id) != m.id])
        cache.update(fresh)
        ids.update((rel, m.id) for rel, _, m in fresh)
    before = {p: mid for p, mid in base_ids.items() if p.rpartition("/")[0] in changed}
    current = dict(base_ids)
    for path in before:
        del current[path]
    current.update(ids)
    result = Status(dataset=name, against=version, rehashed=len(suspects), _ids=current, _ws=ws)
    result.added = sorted(p for p in ids if p not in before)
    result.modified = sorted(p for p, mid in ids.items() if p in before and before[p] != mid)
    result.removed = sorted(p for p in before if p not in ids)
    result.unchanged = len(current) - len(result.added) - len(result.modified)
    if any(p not in olds or olds[p].id != before[p] for p in result.modified):  # rare: decode the snapshot
        olds = load_snapshot(ws.store, version.snapshot).files
    _note_modes(result, olds, entries)
    listed = {folder: (count, digest) for folder, count, digest in stat_groups(entries)}
    # Only the re-hashed files can have lost the cache's trust since they were matched.
    if (not result.dirty and listed == {f: now[f] for f in changed & now.keys()}
            and not (suspects and cache.match_some(suspects)[1])):
        # Stats moved, content did not (a touch, a copy back), and the folders listed are as
        # the walk saw them: every file is vouched for again.
        result._signed = cache.record_groups(name, groups, current)
    return result


def _note_ignored(ws: Workspace, result: Status, sources: list[str]) -> None:
    """Fill ``result.ignored_sources``: the sources .assayignore ignores that held removed files.
    Looked for only where files were removed (a clean status, on any path, reads nothing more)."""
    if not result.removed:
        return
    for rel, here, line, pattern in ignored_sources(str(ws.root), sources):
        if any(p == rel or p.startswith(rel + "/") for p in result.removed):
            result.ignored_sources.append({"source": rel, "ignored": here, "line": line, "pattern": pattern})


def _note_modes(result: Status, base: Mapping[str, FileManifest], entries: list[ScanEntry]) -> None:
    """Fill ``result.modes``: the modified files whose permission bits changed, and whether
    their bytes did too (the version's manifest with the new mode has the file's id, or not)."""
    modified = set(result.modified)
    now = {e.rel: e.st.st_mode & 0o777 for e in entries if e.rel in modified}
    for path in result.modified:
        old, mode = base.get(path), now.get(path)
        if old is None or mode is None or old.mode & 0o777 == mode:
            continue
        same = FileManifest(old.size, mode, old.chunks).id == result.current_ids.get(path)
        result.modes[path] = {"old": f"{old.mode & 0o777:o}", "new": f"{mode:o}", "content_changed": not same}


def status_all(ws: Workspace) -> list[Status]:
    return [status(ws, d["name"]) for d in list_datasets(ws, kind="dataset") if d["versions"]]
