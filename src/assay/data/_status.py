"""`assay data status`: what changed on disk since the checked-out (or latest) version."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assay.data._versions import Version, dataset_sources, list_datasets, load_snapshot, log, resolve
from assay.workspace import Workspace

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
    current_ids: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def dirty(self) -> bool:
        return bool(self.added or self.removed or self.modified)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "against": self.against.ref, "against_id": self.against.id, "clean": not self.dirty,
            "added": self.added, "removed": self.removed, "modified": self.modified,
            "unchanged": self.unchanged, "rehashed": self.rehashed,
        }


def status(ws: Workspace, name: str) -> Status:
    """Compare the dataset's folders on disk with the version checked out there (default: latest)."""
    from assay.data._add import snapshot_paths
    from assay.data._checkout import get_head

    head = get_head(ws, name)
    version = resolve(ws, name)
    if head and head != version.id:
        version = next((v for v in log(ws, name) if v.id == head), version)
    base = load_snapshot(ws.store, version.snapshot)
    sources = dataset_sources(ws, name)
    present = [s for s in sources if (ws.root / s).exists()]
    current, stats = snapshot_paths(ws, present, store=False)
    result = Status(dataset=name, against=version, rehashed=stats["rehashed"])
    for path, manifest in current.files.items():
        result.current_ids[path] = manifest.id
        old = base.files.get(path)
        if old is None:
            result.added.append(path)
        elif old.id != manifest.id:
            result.modified.append(path)
        else:
            result.unchanged += 1
    result.removed = sorted(set(base.files) - set(current.files))
    result.added.sort()
    result.modified.sort()
    return result


def status_all(ws: Workspace) -> list[Status]:
    return [status(ws, d["name"]) for d in list_datasets(ws, kind="dataset") if d["versions"]]

