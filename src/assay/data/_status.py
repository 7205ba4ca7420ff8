"""`assay data status`: what changed on disk since the checked-out (or latest) version."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.data._prefetch import remember, take
from assay.data._scan import StatCache, listing_digest, scan
from assay.data._sigwalk import stat_signature, walk_signature
from assay.data._versions import (
    Version,
    dataset_sources,
    get_head,
    list_datasets,
    load_snapshot,
    log,
    resolve,
)
from assay.workspace import Workspace

if TYPE_CHECKING:
    from assay.data._snapshot import Snapshot

__all__ = ["Status", "status"]


@dataclass
class Status:
    dataset: str
    against: Version
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    unchanged: int = 0
    rehashed: int = 0
    _ids: dict[str, str] | None = field(default=None, repr=False, compare=False)
    _ws: Workspace | None = field(default=None, repr=False, compare=False)

    @property
    def dirty(self) -> bool:
        return bool(self.added or self.removed or self.modified)

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
            "added": self.added, "removed": self.removed, "modified": self.modified,
            "unchanged": self.unchanged, "rehashed": self.rehashed,
        }


def status(ws: Workspace, name: str, *, _version: Version | None = None, _base: Snapshot | None = None) -> Status:
    """Compare the dataset's folders on disk with the version checked out there (default: latest).

    When the walk's stat signature is the one recorded for a clean tree of this version,
    nothing else is read. Otherwise files whose stat matches the stat cache are not read;
    when all of them match and their listing hashes to the one recorded for the
    version's snapshot, the stored snapshot is not even decoded.
    """
    version = _version
    if version is None:
        head = get_head(ws, name)
        version = resolve(ws, name)
        if head and head != version.id:
            version = next((v for v in log(ws, name) if v.id == head), version)
    sources = dataset_sources(ws, name)
    cache = StatCache(ws)
    found = None
    if _base is None:
        recorded = cache.clean_signature(name, version.snapshot)
        if recorded is not None:
            root = str(ws.root)
            walked = take(root, name, sources)  # walked while the command line loaded
            if walked is None:
                walked = walk_signature(root, sources)
                remember(ws.cache_dir, name, sources)  # so that the next status need not wait for it
            if walked is None:
                found = scan(ws, sources, missing_ok=True)
                walked = stat_signature(found.files)
            if walked[0] == recorded:
                return Status(dataset=name, against=version, unchanged=walked[1], _ws=ws)
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
        result.removed = sorted(set(base.files) - set(ids))
        result.added.sort()
        result.modified.sort()
    if not result.dirty and cache.record_signature(name, found.files, ids, listing=listing):
        remember(ws.cache_dir, name, sources)  # next time the walk alone answers, started early
    return result


def status_all(ws: Workspace) -> list[Status]:
    return [status(ws, d["name"]) for d in list_datasets(ws, kind="dataset") if d["versions"]]
