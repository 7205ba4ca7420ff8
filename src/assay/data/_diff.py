"""`assay data diff`: file-level changes between two versions, table changes inside them."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.data._packs import workspace_packs
from assay.data._snapshot import FileManifest
from assay.data._tablesource import check_key_names
from assay.data._versions import Version, load_snapshot, resolve
from assay.errors import InputError
from assay.workspace import Workspace

__all__ = ["DatasetDiff", "diff"]

# What `_tablediff` reads (its _PARQUET_SUFFIXES + _CSV_SUFFIXES; a test keeps them equal),
# repeated here so that a diff without tables never imports it (NumPy).
TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".csv.gz", ".tsv.gz")


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

    @property
    def tables_failed(self) -> list[str]:
        """The tables whose rows could not be read (not one that only lacks the key): the
        table part of the diff is incomplete, and the command exits 2 after printing it."""
        return [path for path, entry in self.tables.items() if entry.get("unreadable")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old.ref, "new": self.new.ref, "changed": self.changed, "added": self.added,
            "removed": self.removed, "modified": self.modified, "unchanged": self.unchanged, "tables": self.tables,
            "tables_failed": self.tables_failed,
        }


def diff(ws: Workspace, old_ref: str, new_ref: str, *, key: list[str] | str | None = None,
         tables: bool = True) -> DatasetDiff:
    """Compare two versions. For Parquet/CSV/TSV files present in both, also compare their rows.

    A table that cannot be compared gets `{"error": ..., "hint": ...}` in `tables`, with
    `"unreadable": True` where its rows did not read (see `tables_failed`). A `key`
    (a column, or a list of them) that no compared table has (in both versions) is an
    `InputError` naming the columns.
    """
    if isinstance(key, str):  # one column (a name may hold a comma: it is not split here)
        key = [key]
    if key is not None:
        check_key_names(key)
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
            # A manifest is size, mode and chunks: a chmod alone changes its id, not its bytes.
            result.modified.append({"path": path, "old_size": ma.size, "new_size": mb.size,
                                    "chunks_shared": shared, "chunks_new": len(mb.chunks) - shared,
                                    "content_changed": (ma.size, ma.chunks) != (mb.size, mb.chunks),
                                    "old_mode": f"{ma.mode & 0o777:o}", "new_mode": f"{mb.mode & 0o777:o}"})
        else:
            result.unchanged += 1
    if tables:
        lacking: dict[str, list[str]] = {}  # tables without the key: their columns in both versions
        keyed = False
        for item in result.modified:
            path = item["path"]
            if _table_suffix(path) is not None and item["content_changed"]:  # same bytes, same rows
                entry, columns = _table_diff(ws, path, (old, new), (a.files[path], b.files[path]), key)
                result.tables[path] = entry
                if columns is not None and key is not None:
                    if all(c in columns for c in key):
                        keyed = True
                    else:
                        lacking[path] = columns
        if lacking and not keyed and not _unchanged_table_has(ws, a, b, key):  # type: ignore[arg-type]
            # A key that fits no table is a typo, not a per-table detail: say so, with the columns
            # there are. (Where an unchanged table has it, each changed table's entry says so instead.)
            listing = "; ".join(f"{path}: {', '.join(cols) or '(none)'}" for path, cols in lacking.items())
            raise InputError(
                f"no compared table has the key column(s) {key} in both versions",
                hint=f"columns in both versions: {listing}; or leave the key out to match rows by hash",
            )
    return result


def _unchanged_table_has(ws: Workspace, a: Any, b: Any, key: list[str]) -> bool:
    """Whether a table the two versions share unchanged has every key column: the key is then
    no typo, only not in the tables that changed. (Read only on this rare path.)"""
    from assay.data._tablediff import _table_columns

    for path in sorted(set(a.files) & set(b.files)):
        suffix = _table_suffix(path)
        if suffix is None or a.files[path].id != b.files[path].id:
            continue
        with tempfile.TemporaryDirectory(dir=ws.tmp_dir) as tmp:
            copy = Path(tmp, "t" + suffix)
            with ws.lock():
                _materialize(ws, a.files[path], copy, path)
            try:
                if all(c in _table_columns(copy, path) for c in key):
                    return True
            except InputError:
                continue
    return False


def _table_suffix(path: str) -> str | None:
    name = path.lower()
    return next((s for s in sorted(TABLE_SUFFIXES, key=len, reverse=True) if name.endswith(s)), None)


def _table_diff(ws: Workspace, path: str, versions: tuple[Version, Version], manifests: tuple[FileManifest, FileManifest],
                key: list[str] | None) -> tuple[dict[str, Any], list[str] | None]:
    """(the table's diff or {"error", "hint"}, its columns in both versions when known)."""
    from assay.data._tablediff import _table_columns, diff_tables

    labels = (f"{versions[0].ref}:{path}", f"{versions[1].ref}:{path}")
    suffix = _table_suffix(path)
    assert suffix is not None
    with tempfile.TemporaryDirectory(dir=ws.tmp_dir) as tmp:
        # The temp files keep the (lower-case) table suffix: it tells the reader the format.
        old_file, new_file = Path(tmp, "old" + suffix), Path(tmp, "new" + suffix)
        with ws.lock():  # their chunks are read: no gc or repair retires a pack meanwhile
            _materialize(ws, manifests[0], old_file, path)
            _materialize(ws, manifests[1], new_file, path)
        try:
            table = diff_tables(old_file, new_file, key=key, labels=labels).to_dict()
            return table, table["compared_columns"]
        except InputError as exc:
            entry = {"error": exc.message, "hint": exc.hint, "unreadable": True}
        if key is None:
            return entry, None
        try:
            cols_old, cols_new = _table_columns(old_file, labels[0]), _table_columns(new_file, labels[1])
        except InputError:
            return entry, None  # unreadable: the error says so
        if not all(c in cols_old and c in cols_new for c in key):
            del entry["unreadable"]  # the table lacks the key: the rows may read, but cannot be matched by it
        # The rows could not be matched, but the columns were read: report their changes too.
        entry["schema"] = {"added": [{"name": c} for c in cols_new if c not in cols_old],
                           "removed": [{"name": c} for c in cols_old if c not in cols_new]}
        return entry, [c for c in cols_new if c in cols_old]


def _materialize(ws: Workspace, manifest: FileManifest, dest: Path, what: str) -> None:
    packs = workspace_packs(ws)
    with open(dest, "wb") as fh:
        fh.writelines(packs.read_chunk(digest, what=what) for digest, _ in manifest.chunks)
