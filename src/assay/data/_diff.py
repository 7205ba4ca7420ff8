"""`assay data diff`: file-level changes between two versions, table changes inside them."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay._wording import noun_for
from assay.data._packs import workspace_packs
from assay.data._snapshot import FileManifest
from assay.data._tablesource import check_key_names
from assay.data._versions import Version, load_snapshot, resolve
from assay.errors import InputError, UsageError
from assay.workspace import Workspace

__all__ = ["DatasetDiff", "diff"]

# What `_tablediff` reads (its _PARQUET_SUFFIXES + _CSV_SUFFIXES; a test keeps them equal),
# repeated here so that a diff without tables never imports it (NumPy).
TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".csv.gz", ".tsv.gz")


WORKING = "working files"  # what a diff against the files on disk calls its new side


@dataclass
class DatasetDiff:
    """What :func:`diff` found between ``old`` and ``new`` (``assay data diff --json`` prints :meth:`to_dict`).

    - ``old``: the version compared from; ``new``: the one compared to, or None for the files on disk.
    - ``added``, ``removed``: ``{"path", "size"}`` per file (size in bytes).
    - ``modified``: per file ``path``, ``old_size`` and ``new_size`` (bytes), ``chunks_shared`` and
      ``chunks_new`` (content-defined chunks kept and new), ``content_changed`` (False: only the
      mode changed), ``old_mode``/``new_mode`` (octal permission bits, as ``"644"``).
    - ``unchanged``: how many files are the same in both.
    - ``tables``: per Parquet/CSV/TSV path in both, the row-level comparison (or its ``error`` and ``hint``).
    - ``folders_added``, ``folders_removed``: empty folders (a snapshot keeps them, and checkout
      makes them) that only one of two versions has; a diff with the files on disk leaves them out.
    - ``changed`` (property): any file added, removed or modified, or an empty folder added or
      removed; ``tables_failed``: tables whose rows did not read.
    """

    old: Version
    new: Version | None  # None: the dataset's files on disk (see :func:`diff`)
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    modified: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    tables: dict[str, Any] = field(default_factory=dict)
    folders_added: list[str] = field(default_factory=list)
    folders_removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        # (Two versions whose files match can still differ in their empty folders: their
        # snapshots, and so their ids, differ, and a checkout of each makes other folders.)
        return bool(self.added or self.removed or self.modified or self.folders_added or self.folders_removed)

    @property
    def tables_failed(self) -> list[str]:
        """The tables whose rows could not be read (not one that only lacks the key): the
        table part of the diff is incomplete, and the command exits 2 after printing it."""
        return [path for path, entry in self.tables.items() if entry.get("unreadable")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old.ref, "new": self.new.ref if self.new else WORKING, "changed": self.changed, "added": self.added,
            "removed": self.removed, "modified": self.modified, "unchanged": self.unchanged, "tables": self.tables,
            "tables_failed": self.tables_failed, "folders_added": self.folders_added, "folders_removed": self.folders_removed,
        }


def diff(ws: Workspace, old_ref: str, new_ref: str | None = None, *, key: list[str] | str | None = None,
         tables: bool = True) -> DatasetDiff:
    """Compare two versions, or with no ``new_ref`` a version with the dataset's files on disk
    (``old_ref`` a bare NAME: the version checked out there, as ``assay data status`` does).
    For Parquet/CSV/TSV files present in both, also compare their rows.

    A table that cannot be compared gets `{"error": ..., "hint": ...}` in `tables`, with
    `"unreadable": True` where its rows did not read (see `tables_failed`). A `key`
    (a column, or a list of them) that no table held by both sides has (changed or not:
    a table that did not change counts, so a key only it has is no error) is an
    `InputError` naming the columns there are, whether or not any table changed; a `key`
    for versions that hold no table at all (no Parquet/CSV/TSV file) is a `UsageError`:
    no table was compared.
    """
    if isinstance(key, str):  # one column (a name may hold a comma: it is not split here)
        key = [key]
    if key is not None:
        check_key_names(key)
        if not tables:  # the key matches table rows, which this diff leaves out: said, not ignored
            raise UsageError(f"key {', '.join(key)} given with tables=False: no table rows are compared",
                             hint="leave out the key (`--key`), or the file-only switch (`--no-tables`)")
    if new_ref is None:
        return _diff_working(ws, old_ref, key, tables)
    old, new = resolve(ws, old_ref), resolve(ws, new_ref)
    a, b = load_snapshot(ws.store, old.snapshot), load_snapshot(ws.store, new.snapshot)
    if tables and key is not None:
        _refuse_key_without_tables(key, set(a.files) | set(b.files), f"neither {old.ref} nor {new.ref}")
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
    result.folders_added = sorted(set(b.empty_dirs) - set(a.empty_dirs))
    result.folders_removed = sorted(set(a.empty_dirs) - set(b.empty_dirs))
    if tables:
        _tables(ws, result, a, b, key)
    return result


def _tables(ws: Workspace, result: DatasetDiff, a: Any, b: Any, key: list[str] | None) -> None:
    """The row diffs of the modified tables (``b`` None: the new side is on disk)."""
    lacking: dict[str, list[str]] = {}  # tables without the key: their columns in both versions
    keyed = False
    for item in result.modified:
        path = item["path"]
        if _table_suffix(path) is not None and item["content_changed"]:  # same bytes, same rows
            entry, columns = _table_diff(ws, path, (result.old, result.new),
                                         (a.files[path], b.files[path] if b is not None else None), key)
            result.tables[path] = entry
            if columns is not None and key is not None:
                if all(c in columns for c in key):
                    keyed = True
                else:
                    lacking[path] = columns
    if key is not None and not keyed:
        _refuse_unknown_key(ws, result, a, key, lacking)


def _refuse_unknown_key(ws: Workspace, result: DatasetDiff, a: Any, key: list[str],
                        lacking: dict[str, list[str]]) -> None:
    """No row-compared table has the key (``lacking``: those read, with their columns): it is a
    typo unless a table both sides hold with the same rows has it (each changed table's entry
    then says it lacks the key). Checked whether or not a table changed, so that a misspelled
    key is not passed over when nothing did."""
    removed = {f["path"] for f in result.removed}
    same = [p for p in a.files if p not in removed and p not in result.tables and _table_suffix(p) is not None]
    columns = _unchanged_table_columns(ws, a, same, key)
    if columns is None:
        return  # an unchanged table has it: no typo
    lacking = {**lacking, **columns}
    if not lacking:
        return  # no table in both sides whose columns read (only added or removed ones): nothing to match against
    # A key that fits no table is a typo, not a per-table detail: say so, with the columns there are.
    listing = "; ".join(f"{path}: {', '.join(cols) or '(none)'}" for path, cols in sorted(lacking.items()))
    raise InputError(
        f"no compared table has the key {noun_for(len(key), 'column')} {key} in both versions",
        hint=f"columns in both versions: {listing}; or leave the key out to match rows by hash",
    )


def _diff_working(ws: Workspace, ref: str, key: list[str] | None, tables: bool) -> DatasetDiff:
    """A version against the dataset's files on disk: the files as ``assay data status`` finds
    them (its stat cache: only suspect files are hashed), and the rows of each modified table
    read straight from disk."""
    from assay.data._status import status

    found = status(ws, ref)
    if not found.checked_out and found.ignored_sources:
        why, fix = found.ignored_notes()[0]
        raise InputError(f"{why}, so none of {found.against.ref}'s files are compared with the files here",
                         hint=f"{fix} to compare them, or compare two versions: "
                              f"`assay data diff {found.dataset}@A {found.dataset}@B`")
    if not found.checked_out:
        raise InputError(
            f"none of {found.against.ref}'s files are on disk here, so there is nothing to compare it with",
            hint=f"check it out (`assay data checkout {found.against.ref}`), or compare two versions: "
                 f"`assay data diff {found.dataset}@A {found.dataset}@B`",
        )
    snapshot = None
    if tables and key is not None:  # (the snapshot is read for this only when a key is given)
        snapshot = load_snapshot(ws.store, found.against.snapshot)
        _refuse_key_without_tables(key, set(snapshot.files) | set(found.added),
                                   f"neither {found.against.ref} nor its {WORKING}")
    result = DatasetDiff(old=found.against, new=None, unchanged=found.unchanged)
    if not found.dirty:
        if snapshot is not None and key is not None:  # a misspelled key is an error when nothing changed too
            _refuse_unknown_key(ws, result, snapshot, key, {})
        return result  # (status may have answered from its cache, without decoding the snapshot)
    a = snapshot if snapshot is not None else load_snapshot(ws.store, found.against.snapshot)
    for path in found.added:
        result.added.append({"path": path, "size": _size_on_disk(ws, path)})
    for path in found.removed:
        result.removed.append({"path": path, "size": a.files[path].size})
    for path in found.modified:
        was = a.files[path]
        mode = found.modes.get(path)
        new_mode = mode["new"] if mode else f"{was.mode & 0o777:o}"
        result.modified.append({"path": path, "old_size": was.size, "new_size": _size_on_disk(ws, path),
                                "chunks_shared": None, "chunks_new": None,
                                "content_changed": mode["content_changed"] if mode else True,
                                "old_mode": f"{was.mode & 0o777:o}", "new_mode": new_mode})
    if tables:
        _tables(ws, result, a, None, key)
    return result


def _refuse_key_without_tables(key: list[str], paths: set[str], sides: str) -> None:
    """A key for two sides with no table between them matches nothing: said, not an empty
    ``tables`` (as a key that no compared table has is an error too)."""
    if not any(_table_suffix(p) is not None for p in paths):
        raise UsageError(
            f"key {', '.join(key)} given, but no table was compared: {sides} holds a Parquet, CSV or TSV file "
            f"({', '.join(TABLE_SUFFIXES)})",
            hint="leave the key out: it matches the rows of tables, and the file diff needs none")


def _size_on_disk(ws: Workspace, path: str) -> int | None:
    try:
        return (ws.root / path).stat().st_size
    except OSError:  # gone since status looked
        return None


def _unchanged_table_columns(ws: Workspace, a: Any, unchanged: list[str], key: list[str]) -> dict[str, list[str]] | None:
    """None if a table the two sides share with the same rows (``unchanged``, table paths in
    ``a``) has every key column: the key is then no typo, only not in the tables that changed.
    Else the columns of each of them that reads. (Read only on this rare path: a key that
    no changed table has.)"""
    from assay.data._tablediff import _table_columns

    found: dict[str, list[str]] = {}
    for path in sorted(unchanged):
        suffix = _table_suffix(path)
        assert suffix is not None
        with tempfile.TemporaryDirectory(dir=ws.tmp_dir) as tmp:
            copy = Path(tmp, "t" + suffix)
            with ws.lock():
                whole = not _materialize_header(ws, a.files[path], copy, path, suffix)
            try:
                columns = _table_columns(copy, path)
            except InputError:
                if whole:
                    continue
                with ws.lock():  # the header ran past the part written: read it whole
                    _materialize(ws, a.files[path], copy, path)
                try:
                    columns = _table_columns(copy, path)
                except InputError:
                    continue
        if all(c in columns for c in key):
            return None
        found[path] = columns
    return found


def _table_suffix(path: str) -> str | None:
    name = path.lower()
    return next((s for s in sorted(TABLE_SUFFIXES, key=len, reverse=True) if name.endswith(s)), None)


def _table_diff(ws: Workspace, path: str, versions: tuple[Version, Version | None],
                manifests: tuple[FileManifest, FileManifest | None],
                key: list[str] | None) -> tuple[dict[str, Any], list[str] | None]:
    """(the table's diff or {"error", "hint"}, its columns in both versions when known). A new
    side of None is the file on disk, read where it is."""
    from assay.data._tablediff import _table_columns, diff_tables

    labels = (f"{versions[0].ref}:{path}", f"{versions[1].ref if versions[1] else WORKING}:{path}")
    suffix = _table_suffix(path)
    assert suffix is not None
    with tempfile.TemporaryDirectory(dir=ws.tmp_dir) as tmp:
        # The temp files keep the (lower-case) table suffix: it tells the reader the format.
        old_file, new_file = Path(tmp, "old" + suffix), Path(tmp, "new" + suffix)
        with ws.lock():  # their chunks are read: no gc or repair retires a pack meanwhile
            _materialize(ws, manifests[0], old_file, path)
            if manifests[1] is not None:
                _materialize(ws, manifests[1], new_file, path)
        if manifests[1] is None:
            on_disk = ws.root / path
            if on_disk.name.lower().endswith(suffix):
                new_file = on_disk
            else:  # a capitalised suffix: the reader tells the format by the lower-case one
                os.symlink(on_disk, new_file)
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


HEADER_BYTES = 1 << 20  # a CSV's header and first row are looked for in the chunks that hold its first MiB


def _materialize_header(ws: Workspace, manifest: FileManifest, dest: Path, what: str, suffix: str) -> bool:
    """Write as much of the stored file as its column names need: a Parquet file's footer (the
    rest of the file a hole of its size), a plain CSV's first chunks (at least HEADER_BYTES, and up
    to the end of its first row). False when the whole file was written (a compressed table, or a
    small one)."""
    packs = workspace_packs(ws)
    chunks, total = manifest.chunks, manifest.size
    if suffix == ".parquet" or suffix == ".pq":
        needed, at, tail = 8, total, []
        for digest, size in reversed(chunks):  # the footer's length is in the file's last 8 bytes
            if total - at >= needed:
                break
            data = packs.read_chunk(digest, what=what)
            at -= size
            tail.append((at, data))
            if needed == 8 and total - at >= 8:
                ends = b"".join(d for _, d in reversed(tail))
                needed = 8 + int.from_bytes(ends[-8:-4], "little")
        if at == 0:
            _materialize(ws, manifest, dest, what)
            return False
        with open(dest, "wb") as fh:
            fh.truncate(total)
            for offset, data in tail:
                fh.seek(offset)
                fh.write(data)
        return True
    if suffix in (".csv", ".tsv") and total > HEADER_BYTES:
        with open(dest, "wb") as fh:
            written = lines = 0
            for digest, size in chunks:
                data = packs.read_chunk(digest, what=what)
                fh.write(data)
                written += size
                lines += data.count(b"\n")
                if written >= HEADER_BYTES and lines >= 2:  # the header and the first row end in what is written
                    break
        return written < total
    _materialize(ws, manifest, dest, what)
    return False


def _materialize(ws: Workspace, manifest: FileManifest, dest: Path, what: str) -> None:
    packs = workspace_packs(ws)
    with open(dest, "wb") as fh:
        fh.writelines(packs.read_chunk(digest, what=what) for digest, _ in manifest.chunks)
