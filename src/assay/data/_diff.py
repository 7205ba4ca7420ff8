"""`assay data diff`: file-level changes between two versions, table changes inside them."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.data._packs import workspace_packs
from assay.data._snapshot import FileManifest
from assay.data._versions import Version, load_snapshot, resolve
from assay.workspace import Workspace

__all__ = ["DatasetDiff", "diff"]

TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".csv.gz")


@dataclass
class DatasetDiff:
    old: Version
    new: Version
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    modified: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    tables: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.modified)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old.ref, "new": self.new.ref, "changed": self.changed, "added": self.added,
            "removed": self.removed, "modified": self.modified, "unchanged": self.unchanged, "tables": self.tables,
        }


def diff(ws: Workspace, old_ref: str, new_ref: str, *, key: list[str] | None = None, tables: bool = True) -> DatasetDiff:
    """Compare two versions. For Parquet/CSV files present in both, also compare their rows."""
    old, new = resolve(ws, old_ref), resolve(ws, new_ref)
    a, b = load_snapshot(ws.store, old.snapshot), load_snapshot(ws.store, new.snapshot)
    result = DatasetDiff(old=old, new=new)
    for path in sorted(set(a.files) | set(b.files)):
        ma, mb = a.files.get(path), b.files.get(path)
        if ma is None:
            result.added.append({"path": path, "size": mb.size})  # type: ignore[union-attr]
        elif mb is None:
            result.removed.append({"path": path, "size": ma.size})
        elif ma.id != mb.id:
            shared = len({d for d, _ in ma.chunks} & {d for d, _ in mb.chunks})
            result.modified.append({"path": path, "old_size": ma.size, "new_size": mb.size,
                                    "chunks_shared": shared, "chunks_new": len(mb.chunks) - shared})
        else:
            result.unchanged += 1
    if tables:
        for item in result.modified:
            path = item["path"]
            if path.lower().endswith(TABLE_SUFFIXES):
                result.tables[path] = _table_diff(ws, path, a.files[path], b.files[path], key)
    return result


def _table_diff(ws: Workspace, path: str, ma: FileManifest, mb: FileManifest, key: list[str] | None) -> dict[str, Any]:
    from assay.data._tablediff import diff_tables
    from assay.errors import InputError

    suffix = "".join(Path(path).suffixes[-2:]) if path.endswith(".gz") else Path(path).suffix
    with tempfile.TemporaryDirectory(dir=ws.tmp_dir) as tmp:
        old_file, new_file = Path(tmp, "old" + suffix), Path(tmp, "new" + suffix)
        with ws.lock():  # their chunks are read: no gc or repair retires a pack meanwhile
            _materialize(ws, ma, old_file, path)
            _materialize(ws, mb, new_file, path)
        try:
            return diff_tables(old_file, new_file, key=key).to_dict()
        except InputError as exc:
            return {"error": exc.message}


def _materialize(ws: Workspace, manifest: FileManifest, dest: Path, what: str) -> None:
    packs = workspace_packs(ws)
    with open(dest, "wb") as fh:
        for digest, _ in manifest.chunks:
            fh.write(packs.read_chunk(digest, what=what))
