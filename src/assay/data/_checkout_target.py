"""What checkout finds where it is to write, checked before anything changes.

Destinations are confined to the target folder (:func:`confine`). In place, local
changes that checkout would overwrite are refused unless forced
(:func:`in_place_changes`); a ``--to`` folder is to hold the version exactly, so its
extra files are removed, but only where a version can give them back and they are not
the workspace's own data (:func:`to_folder_extras`). The rest tells what stands where a
file or folder of the version goes.
"""

from __future__ import annotations

import os
import stat as _stat
from pathlib import Path
from typing import Any

from assay._root import leads_into_protected, not_data, protected_path, under
from assay._wording import counted
from assay.data._snapshot import FileManifest, Snapshot, check_relpath
from assay.data._statcache import StatCache
from assay.data._versions import Version, get_head, kind_of, resolve, sources_on_disk
from assay.errors import CorruptionError, InputError, UnsafePathError, UsageError
from assay.workspace import Workspace


def confine(root: Path, rel: str, *, checked: dict[Path, bool] | None = None) -> Path:
    """``root/rel``, refusing any path whose existing parents lead outside ``root``.

    ``checked`` remembers folders already resolved, so a checkout of many files in
    few folders resolves each folder once.
    """
    check_relpath(rel)
    dest = Path(root, *rel.split("/"))
    if checked is not None and checked.get(dest.parent):
        return dest
    real_root = os.path.realpath(root)
    parent = os.path.realpath(dest.parent)
    if parent != real_root and not parent.startswith(real_root.rstrip(os.sep) + os.sep):
        raise UnsafePathError(f"refusing to write {rel}: a symlinked folder on its way leads outside {root}")
    if leads_into_protected(parent, real_root):
        raise UnsafePathError(f"refusing to write {rel}: a symlinked folder on its way leads into a .assay or "
                              ".git folder, which checkout never writes into")
    if checked is not None:
        checked[dest.parent] = True
    return dest


def refuse_protected_target(ws: Workspace, root: Path, to: str | Path | None, dataset: str) -> None:
    """Refuse a ``--to`` folder inside a ``.assay`` or ``.git`` folder (this workspace's, or
    another's elsewhere): walks never take those folders as data, and a checkout there would
    write among a workspace's ledger, store and temp files or a repository's hooks; and one
    inside a folder that ``dataset`` itself was added from."""
    real, real_ws = os.path.realpath(root), os.path.realpath(ws.root)
    inside = real == real_ws or real.startswith(real_ws.rstrip(os.sep) + os.sep)
    if leads_into_protected(real, real_ws) if inside else protected_path(real.replace(os.sep, "/").strip("/")):
        raise UsageError(f"{to} is inside a .assay or .git folder ({real}), which checkout never writes into",
                         hint="check out into a folder of its own, outside any .assay or .git folder")
    if inside and real != real_ws:
        from assay.data._overlap import find_overlaps

        # A copy written into the dataset's own folder becomes its files: its status lists each as
        # added, and its next add versions the copy inside itself (a/b/out/a/b/f). (Another
        # dataset's folder may be meant: refreshing a copy that is a dataset of its own.)
        rel = os.path.relpath(real, real_ws).replace(os.sep, "/")
        met = [o for o in find_overlaps(ws, "", [rel]) if o.other == dataset and under(rel, [o.theirs])]
        if met:
            raise UsageError(f"{to} is {'the folder' if rel == met[0].theirs else 'inside the folder'} {met[0].theirs} that "
                             f"{met[0].kind} {met[0].other!r} was added from: the files checked out there would become its own "
                             "files (its status would list them as added, its next add would version them)",
                             hint="check out into a folder of its own, outside the datasets' folders")


def in_place_changes(ws: Workspace, version: Version, snapshot: Snapshot, root: Path, *,
                     force: bool) -> tuple[list[str], list[Path]]:
    """Before ``version`` is checked out in place: the folders of the version on disk (where
    status looked) and its files that ``version`` does not have, to be removed. Local changes
    that checkout would overwrite are refused unless ``force``."""
    from assay.data._status import status_against

    removals: list[Path] = []
    head = get_head(ws, version.dataset)
    if head == version.id or (head is None and version.id == resolve(ws, version.dataset).id):
        # Status against the version on disk, which is the one being checked out: its
        # snapshot is already loaded. (With no head recorded, the files on disk are judged
        # against the latest version, as `data status` does.)
        changes = status_against(ws, version.dataset, version=version, base=snapshot)
    else:
        changes = status_against(ws, version.dataset)
    sources = sources_on_disk(ws, changes.against)  # where status looked: the version on disk's folders
    # Missing files lose nothing; modified or new ones would be overwritten or removed.
    at_risk = [p for p in changes.modified + changes.added
               if p not in snapshot.files or snapshot.files[p].id != _current_id(changes, p)]
    if at_risk and not force:
        from assay.data._overlap import held_by_others

        # Another dataset's files, in a folder both were added from: stored, nothing to lose.
        held = held_by_others(ws, version.dataset, {p: _current_id(changes, p) for p in at_risk})
        at_risk = [p for p in at_risk if p not in held]
    if at_risk and not force:
        # (a file the version lacks is removed, not overwritten: said apart, as the user may keep it elsewhere)
        said = [f"{how} {', '.join(paths[:5])}" + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
                for how, paths in (("overwrite", [p for p in at_risk if p in snapshot.files]),
                                   ("remove", [p for p in at_risk if p not in snapshot.files])) if paths]
        raise UsageError(
            f"{version.dataset} has local changes that checkout would lose: it would " + "; it would ".join(said),
            hint=f"add them as a version first (`assay {'model' if kind_of(ws, version.dataset) == 'model' else 'data'} "
                 "add`), or pass --force (force=True) to discard them",
        )
    for rel in sorted(changes.current_ids):
        if rel not in snapshot.files and under(rel, sources):
            removals.append(confine(root, rel))
    return sources, removals


def to_folder_extras(ws: Workspace, root: Path, snapshot: Snapshot, version: Version, to: str | Path | None,
                     chunker: Any, *, force: bool) -> list[str]:
    """The files a ``--to`` folder ``root`` holds that ``version`` does not, to be removed.
    Refused unless ``force``; even then, refused where one is the workspace's own data or
    where no version could give it back."""
    extra, in_the_way = _not_in_version(root, snapshot)
    if extra and not force:  # (a file where the version has a folder is refused by name, later)
        raise UsageError(
            f"{to} holds {counted(len(extra), 'file')} that {version.ref} does not have: " + ", ".join(extra[:5])
            + (f" and {len(extra) - 5} more" if len(extra) > 5 else ""),
            hint="pass --force (force=True) to remove them (checkout writes the version exactly; only files that are a file of "
                 "some version are removed), or check out into an empty folder")
    # Extra files are removed only where a version can give them back; a file in the way of
    # one of the version's folders is overwritten, as --force overwrites local changes.
    kept = _unstored(ws, root, extra, chunker) if force else []
    extra += in_the_way if force else []
    working = _working_files(ws, root, extra)
    if working:  # another dataset's files (or the workspace itself) are not this checkout's to remove
        raise UsageError(
            f"{to} holds {counted(len(working), 'file')} that {version.ref} does not have and that "
            f"{'is' if len(working) == 1 else 'are'} the workspace's "
            "own data: " + ", ".join(working[:5]) + (f" and {len(working) - 5} more" if len(working) > 5 else ""),
            hint="check out into a folder of its own (outside the folders the workspace's datasets were added "
                 "from), or check out in place, without --to")
    if kept:  # nothing a user added is lost: --force removes only what a version can give back
        raise UsageError(
            f"{to} holds {counted(len(kept), 'file')} that {version.ref} does not have and whose bytes no version here "
            f"holds, so removing {'it would lose it' if len(kept) == 1 else 'them would lose them'}: " + ", ".join(kept[:5])
            + (f" and {len(kept) - 5} more" if len(kept) > 5 else ""),
            hint="move them out of the folder, or add them as a version first (`assay data add`), or check "
                 "out into an empty folder")
    return extra


def _current_id(changes: object, path: str) -> str | None:
    return getattr(changes, "current_ids", {}).get(path)


def _file_in_the_way(folder: str) -> str | None:
    """The nearest path at or above ``folder`` that exists and is not a folder (None: none)."""
    path = folder
    while path and path != "/":
        if os.path.lexists(path):
            return None if os.path.isdir(path) else path  # a folder, or a symlink to one (confine checks where it leads)
        path = os.path.dirname(path)
    return None


def _not_in_version(root: Path, snapshot: Snapshot) -> tuple[list[str], list[str]]:
    """The files in a ``--to`` folder that ``snapshot`` does not have, relative to it: those
    elsewhere, and those where it has a folder (as walks of a dataset's folders see them: a
    checkout's temp files are no data). Symlinks count as files and are never followed
    out; .assay and .git folders are left alone, and so is a symlinked folder the version
    writes through (checked by :func:`confine`)."""
    needed = {rel.rpartition("/")[0] for rel in [*snapshot.files, *(f"{d}/" for d in snapshot.empty_dirs)]}
    needed |= {"/".join(parts[:i]) for rel in needed for parts in [rel.split("/")] for i in range(1, len(parts))}
    extra: list[str] = []
    for parent, dirs, names in os.walk(root):
        prefix = os.path.relpath(parent, root).replace(os.sep, "/") + "/"
        prefix = "" if prefix == "./" else prefix
        kept = []
        for name in dirs:
            rel = prefix + name
            if protected_path(rel) or not_data(name, False) or (os.path.islink(os.path.join(parent, name))
                                                                and rel in needed):
                continue  # (a temp folder: a checkout's new folder, its writer's)
            if os.path.islink(os.path.join(parent, name)):
                extra.append(rel)  # the link goes, never what it leads to
            else:
                kept.append(name)
        dirs[:] = kept
        extra += [prefix + name for name in names  # a checkout's temp files are its writer's (swept when dead)
                  if prefix + name not in snapshot.files and not protected_path(prefix + name)
                  and not not_data(name, False)]
    return sorted(rel for rel in extra if rel not in needed), sorted(rel for rel in extra if rel in needed)


def _working_files(ws: Workspace, root: Path, rels: list[str]) -> list[str]:
    """Those of ``rels`` (under a ``--to`` folder ``root``) that are the workspace's own data:
    every one, where ``root`` is the workspace or holds it; else those inside a folder or
    file a dataset of the workspace was added from."""
    workspace = ws.root.resolve()
    if root == workspace or workspace.is_relative_to(root):
        return list(rels)
    if not root.is_relative_to(workspace):
        return []
    from assay.data._versions import dataset_sources, list_datasets

    sources = [src for d in list_datasets(ws) for src in dataset_sources(ws, d["name"])]
    inside = root.relative_to(workspace).as_posix()
    return [rel for rel in rels if under(f"{inside}/{rel}", sources)]


def _unstored(ws: Workspace, root: Path, rels: list[str], chunker: Any) -> list[str]:
    """Those of ``rels`` (files under ``root``) that no version could give back: not a symlink
    (only the link is removed) and not a regular file whose content (its chunks, in order) is
    a file of some version of the workspace's, so that gc keeps it."""
    from assay.data._versions import all_versions, each_snapshot

    known: set[tuple[Any, ...]] | None = None
    kept = []
    for rel in rels:
        path = Path(root, *rel.split("/"))
        try:
            st = os.lstat(path)
            if _stat.S_ISLNK(st.st_mode):
                continue
            if _stat.S_ISREG(st.st_mode):
                chunks = tuple((d, len(data)) for d, data in chunker.chunks(path))
                if known is None:  # every version's file contents, read once, only when needed
                    known = {m.chunks for _, snap, _ in each_snapshot(ws.store, dict.fromkeys(v.snapshot for v in all_versions(ws)))
                             for m in snap.files.values()}
                if chunks in known:
                    continue
        except FileNotFoundError:
            continue
        except (OSError, InputError, CorruptionError):
            pass  # unreadable, or a version that does not load: cannot be known to be kept
        kept.append(rel)
    return kept


def _remove_emptied(root: Path, removed: list[str]) -> None:
    """Remove the folders under ``root`` that the removal of ``removed`` left empty."""
    folders = {"/".join(parts[:i]) for rel in removed for parts in [rel.split("/")] for i in range(1, len(parts))}
    for rel in sorted(folders, key=lambda f: -f.count("/")):
        folder = Path(root, *rel.split("/"))
        if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            folder.rmdir()


def _clear_folder(folder: str, leaving: set[str], *, dry_run: bool = False) -> bool:
    """Remove ``folder`` if every file under it is one of ``leaving`` (then removed too);
    whether it is gone (with ``dry_run``: whether it would go, changing nothing). Anything
    else in it (a file no version on disk holds, a symlink to a folder) keeps it."""
    files: list[str] = []
    folders: list[str] = []
    for parent, dirs, names in os.walk(folder):
        folders.append(parent)
        for name in names:
            path = os.path.join(parent, name)
            if path not in leaving:
                return False
            files.append(path)
        for name in dirs:
            if os.path.islink(os.path.join(parent, name)) or _live_temp_folder(parent, name):
                return False
    if dry_run:
        return True
    for path in files:
        os.unlink(path)
        leaving.discard(path)
    for path in sorted(folders, key=lambda f: -f.count("/")):
        os.rmdir(path)
    return True


def _live_temp_folder(parent: str, name: str) -> bool:
    """Whether ``parent/name`` is the temp folder of a checkout still running (just made, so
    maybe still empty): it is not this checkout's to remove."""
    from assay.data._checkout_temps import temp_writer_gone

    if not not_data(name, False):
        return False
    try:
        mtime = os.lstat(os.path.join(parent, name)).st_mtime
    except OSError:
        return False
    return not temp_writer_gone(name, mtime)


def _compare(dest: str, rel: str, manifest: FileManifest, cache: StatCache | None, chunker: Any) -> str:
    """``"missing"``, ``"same"`` (content and mode) or ``"other"``."""
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        return "missing"
    if not _stat.S_ISREG(st.st_mode) or st.st_size != manifest.size:
        return "other"
    if cache is not None:
        cached = cache.lookup(rel, st)
        if cached is not None:
            return "same" if cached.id == manifest.id else "other"
    try:
        chunks = tuple((d, len(data)) for d, data in chunker.chunks(Path(dest)))
    except InputError:
        return "other"
    return "same" if chunks == manifest.chunks and (st.st_mode & 0o777) == manifest.mode else "other"
