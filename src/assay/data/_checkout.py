"""`assay data checkout`: materialize a version exactly, every chunk verified.

Every file is first written to a temp file beside its destination, or, in a folder
that is not there yet, under its own name inside that folder made under a temp name;
only when all of them are complete and verified are the new folders and then the
files renamed into place, so a damaged chunk leaves the target as it was.
Destinations are confined to the target folder: ``..``, absolute paths and symlinked
parents that lead outside are refused.

This module plans a checkout and renames its files into place. What it finds in the
target is checked in :mod:`assay.data._checkout_target`, the files are written in
:mod:`assay.data._checkout_write`, and their temp files are named and swept in
:mod:`assay.data._checkout_temps`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay._root import protected_path, under
from assay._warn import warn_user
from assay._wording import counted
from assay.config import make_folder
from assay.data._checkout_target import (
    _clear_folder,
    _compare,
    _file_in_the_way,
    _remove_emptied,
    confine,
    in_place_changes,
    refuse_protected_target,
    to_folder_extras,
)
from assay.data._checkout_temps import (
    _mark_writes,
    _remove,
    _sweep_killed,
    _unlink,
    make_temp_folder,
    move_folder_into_place,
    remove_dead_temps,
)
from assay.data._checkout_write import (
    Staged,
    _Item,
    _umask,
    _write_in_processes,
    _write_in_threads,
    stage_big_files,
)
from assay.data._fork import processes_for
from assay.data._ignore import IGNORE_FILE, load
from assay.data._portable import refuse_collisions
from assay.data._scan import FileStat
from assay.data._snapshot import FileManifest, Snapshot
from assay.data._statcache import RACY_NS, StatCache
from assay.data._versions import Version, get_head, load_snapshot, parse_ref, resolve, set_head
from assay.errors import UsageError
from assay.workspace import Workspace

# remove_dead_temps (gc), checkout_prepared, stage_big_files and Staged (pull) are imported from here.
__all__ = ["CheckoutResult", "Staged", "checkout", "checkout_prepared", "confine", "get_head", "remove_dead_temps",
           "set_head", "stage_big_files"]


@dataclass
class CheckoutResult:
    """What :func:`checkout` did (``assay data checkout --json`` prints :meth:`to_dict`).

    - ``version``: the version checked out; ``target``: the absolute folder written into.
    - ``written``: paths (relative, ``/``-separated) written because they were missing or differed.
    - ``unchanged``: how many files were already there with the right content and were left alone.
    - ``removed``: paths of the version on disk that this one does not have, removed.
    - ``skipped``: paths inside a ``.assay`` or ``.git`` folder, never written.
    - ``warnings``: notes for the user (skipped files, folders shared with another dataset...).

    In :meth:`to_dict` (the ``--json`` output), ``written`` is how many files were written
    (a count, as ``unchanged`` is) and ``written_paths`` the list this attribute holds.
    """

    version: Version
    target: str
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # paths inside a .assay or .git folder, never written
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version.to_dict(), "target": self.target, "written": len(self.written),
            "written_paths": self.written, "unchanged": self.unchanged, "removed": self.removed, "skipped": self.skipped,
            "warnings": self.warnings,
        }


def checkout(ws: Workspace, ref: str, *, to: str | Path | None = None, force: bool = False) -> CheckoutResult:
    """Write the files of ``ref`` (``NAME@REF``, or ``NAME`` for its latest) into the workspace,
    where they were added, or into the folder ``to``.

    Files on disk that the version would overwrite or remove are refused unless
    ``force=True`` (the CLI's ``--force``). Returns a :class:`CheckoutResult`; each of its
    ``warnings`` is also issued as an :class:`~assay.errors.AssayWarning`.

    >>> checkout(ws, "customers@v1").written   # doctest: +SKIP
    ['data/a.csv']
    """
    if to is not None:
        # (Here, not in checkout_prepared: a model's load checks out into the workspace's temp folder.)
        refuse_protected_target(ws, Path(to).resolve(), to, parse_ref(ref)[0])
    result = checkout_prepared(ws, ref, to=to, force=force)
    warn_user(result.warnings)
    return result


def checkout_prepared(ws: Workspace, ref: str, *, to: str | Path | None = None, force: bool = False,
                      snapshot: Snapshot | None = None, staged: Staged | None = None) -> CheckoutResult:
    """:func:`checkout` with what a pull already has: ``snapshot``, the version's snapshot
    already decoded and checked, and ``staged``, files it wrote ahead (:func:`stage_big_files`);
    each one is moved into place where the plan writes that file and nothing is there, and
    removed otherwise."""
    staged = dict(staged or {})
    try:
        with ws.lock():  # the packs it reads stay: no gc or repair retires them meanwhile
            _sweep_killed(ws)
            return _checkout(ws, ref, to, force, snapshot, staged)
    finally:
        for tmp, _, _ in staged.values():
            _unlink(tmp)


def _checkout(ws: Workspace, ref: str, to: str | Path | None, force: bool, _snapshot: Snapshot | None,
              staged: Staged) -> CheckoutResult:
    version = resolve(ws, ref)
    if _snapshot is not None and _snapshot.id == version.snapshot:
        snapshot = _snapshot  # already decoded and Merkle-checked by the caller (pull)
    else:
        snapshot = load_snapshot(ws.store, version.snapshot)
    in_place = to is None
    root = ws.root if in_place else Path(to).resolve()  # type: ignore[arg-type]
    if not in_place and root.exists() and not root.is_dir():
        raise UsageError(f"{to} exists and is not a folder",
                         hint="give --to (to=) a folder, or a path that does not exist yet: it is made")
    make_folder(root, f"cannot check out into {to}", hint="give --to a folder this user can create and write to")
    result = CheckoutResult(version=version, target=str(root))
    from assay.data._chunking import Chunker
    from assay.data._packs import workspace_packs

    cache = StatCache(ws) if in_place else None
    chunker = Chunker(ws.config.data.chunk_avg)

    removals: list[Path] = []
    sources: list[str] = []
    if in_place:
        sources, removals = in_place_changes(ws, version, snapshot, root, force=force)

    # Folders first, once each: a mkdir per file contends for the parent folder's lock.
    # Files in folders that did not exist cannot be there already, so need no lstat.
    # Plain strings, not Paths: this runs once per file. Paths were checked when the
    # snapshot was decoded; symlinked folders are checked once per folder.
    root_s = str(root)
    targets: list[tuple[str, str, FileManifest]] = []
    folders: dict[str, str] = {}
    for rel, manifest in sorted(snapshot.files.items()):
        if protected_path(rel):
            # Never data (walks leave these folders out): a version made before they did, or
            # one from an untrusted remote, may hold such paths. Writing them could change a
            # workspace's settings or plant a git hook; the rest of the version is checked out.
            result.skipped.append(rel)
            continue
        dest = f"{root_s}/{rel}"
        parent = dest.rpartition("/")[0]
        if parent not in folders:
            confine(root, rel)
            folders[parent] = rel
        targets.append((rel, dest, manifest))
    if result.skipped:
        result.warnings.append(
            f"{version.ref} holds {counted(len(result.skipped), 'file')} inside a .assay or .git folder, which checkout "
            "never writes into; left out: " + ", ".join(result.skipped[:5])
            + (f" and {len(result.skipped) - 5} more" if len(result.skipped) > 5 else ""))
    refuse_collisions(root, version.ref, [rel for rel, _, _ in targets])  # (where two would be one name here)
    extra: list[str] = []
    if not in_place:  # the folder is to hold the version exactly, as the workspace's folders do
        extra = to_folder_extras(ws, root, snapshot, version, to, chunker, force=force)
        removals += [Path(root, *rel.split("/")) for rel in extra]
    # Everything is checked before anything changes: a refused checkout leaves the workspace as it was.
    leaving = {str(p) for p in removals}  # files of the version on disk that this one does not have
    absent: set[str] = set()  # folders to make, once every check has passed
    blockers: list[str] = []  # files of the version on disk that stand where this version has a folder
    for folder in sorted(folders, key=lambda f: f.count("/")):
        if folder.rpartition("/")[0] in absent:
            absent.add(folder)
            continue
        if os.path.isdir(folder):
            continue
        blocker = _file_in_the_way(folder)
        if blocker is not None:
            if not (blocker in leaving or (force and not in_place)):
                raise UsageError(f"{blocker} is a file where {version.ref} has a folder",
                                 hint="move it away and retry" + ("" if in_place else ", or pass --force (force=True)"))
            if blocker not in blockers:
                blockers.append(blocker)
        absent.add(folder)
    plan: list[_Item] = []
    unknown: list[str] = []  # files in place that no status looked at (outside the dataset's folders), with other content
    ignore = load(str(root)) if in_place else None  # (status does not look at what it leaves out either)
    for rel, dest, manifest in targets:
        state = "missing" if dest.rpartition("/")[0] in absent else _compare(dest, rel, manifest, cache, chunker)
        if state == "same":
            result.unchanged += 1
            continue
        if state == "other":
            if os.path.isdir(dest) and not os.path.islink(dest) and not _clear_folder(dest, leaving, dry_run=True):
                raise UsageError(f"{dest} is a folder where {version.ref} has a file",
                                 hint="move it away and retry")
            if not force:
                if not in_place:
                    raise UsageError(
                        f"{dest} exists with other content",
                        hint="pass --force (force=True) to overwrite it, or check out into an empty folder",
                    )
                if not under(rel, sources) or (ignore is not None and ignore.refusal(rel, is_dir=False)):
                    unknown.append(rel)
        plan.append((rel, dest, manifest))
    del targets
    if unknown:
        # The version holds files where the dataset's current folders do not reach (it was
        # added from other paths): what is there now was never compared with any version.
        raise UsageError(
            f"checkout of {version.ref} would overwrite files that are not part of the version on disk: "
            + ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""),
            hint="move them away or add them as a version first, or pass --force (force=True) to overwrite them"
                 + (f" (a file that {IGNORE_FILE} leaves out is never part of the version on disk: move it away, "
                    "or pass --force)" if ignore else ""),
        )
    empty_dirs = [confine(root, rel) for rel in snapshot.empty_dirs if not protected_path(rel)]  # checked now, made last
    packs = workspace_packs(ws)
    umask = _umask()
    written: list[tuple[str, str, str, Any, FileManifest]] = []
    fresh: list[tuple[str, Any, FileManifest]] = []
    # A folder that is not there yet is made under a temp name beside it, its files are
    # written inside under their own names, and it is renamed into place whole once every
    # file is written: one rename for the folder instead of one per file.
    tops = _highest_new(absent)  # each new folder -> the highest folder not there on its way
    for blocker in blockers:  # each is the highest on its way: it goes as the folder moves into place
        leaving.discard(blocker)
        if blocker not in tops.values():
            os.unlink(blocker)  # (not expected: a file where a folder is, so nothing is there below it)
    made: dict[str, str] = {}  # each new folder -> where it is made
    moves: dict[str, str] = {}  # each of those highest folders, made under a temp name beside it -> its name
    marker = _mark_writes(ws, {dest.rpartition("/")[0] for _, dest, _ in plan}
                          | {top.rpartition("/")[0] for top in tops.values()}) if plan else None
    interrupted = False
    try:
        for top in sorted(set(tops.values())):
            made[top] = make_temp_folder(top)
            moves[made[top]] = top
        for folder, top in tops.items():
            made[folder] = made[top] + folder[len(top):]
            os.makedirs(made[folder], exist_ok=True)
        own_names = frozenset(made[folder] for folder in absent)
        rest: list[_Item] = []
        for rel, dest, manifest in plan:
            folder, _, name = dest.rpartition("/")
            if folder in made:
                dest = f"{made[folder]}/{name}"
            ahead = staged.pop(rel, None) if in_place else None
            if ahead is not None and ahead[2] == manifest and not os.path.lexists(dest):
                written.append((ahead[0], dest, rel, ahead[1], manifest))
            else:
                if ahead is not None:
                    _unlink(ahead[0])
                rest.append((rel, dest, manifest))
        total = sum(item[2].size for item in rest)
        processes = processes_for(len(rest), total, ws.config.data.jobs)
        if processes:
            written.extend(_write_in_processes(packs, rest, umask, processes, total, own_names))
        elif rest:
            written.extend(_write_in_threads(packs, rest, umask, total, own_names))
        settled = time.time_ns() - RACY_NS  # written before this: trusted when the cache is updated below
        # Files into new folders first, then the folders, then files into folders that were
        # there: a folder that appeared meanwhile stops the checkout before it changed them.
        written.sort(key=lambda w: w[1].rpartition("/")[0] in own_names)  # (popped from the end)
        while written and (item := written[-1])[1].rpartition("/")[0] in own_names:
            tmp, dest, rel, st, manifest = item
            if tmp == dest:
                if cache is not None:
                    fresh.append((rel, st, manifest))  # (renaming its folder keeps a file's ctime)
            else:
                os.replace(tmp, dest)  # a file a pull staged ahead
                if cache is not None and (now := _placed_stat(dest, st, settled)) is not None:
                    fresh.append((rel, now, manifest))
            written.pop()
        while moves:
            temp, folder = next(iter(moves.items()))
            if folder in blockers:
                os.unlink(folder)  # (a damaged chunk, met above, left it)
            move_folder_into_place(temp, folder, version.ref)
            del moves[temp]
        while written:
            tmp, dest, rel, st, manifest = written[-1]
            try:
                os.replace(tmp, dest)  # keeps the inode, size and mtime fstat saw
            except (IsADirectoryError, OSError) as exc:
                # A folder where this version has a file: it goes if all it holds are files
                # of the version on disk that this one does not have (checked when planning).
                if not os.path.isdir(dest) or isinstance(exc, PermissionError) or not _clear_folder(dest, leaving):
                    if os.path.isdir(dest):
                        raise UsageError(f"{dest} is a folder where {version.ref} has a file",
                                         hint="move it away and retry") from None
                    raise
                os.replace(tmp, dest)
            written.pop()
            if cache is not None and (now := _placed_stat(dest, st, settled)) is not None:
                fresh.append((rel, now, manifest))
    except BaseException as exc:
        if isinstance(exc, OSError):  # (a user knows no temp name: the path it stands for is named)
            exc.filename, exc.filename2 = (_real_name(name, made, tops) for name in (exc.filename, exc.filename2))
        # Ctrl-C or a signal: a second one may cut the removal of temp files short (here, or in
        # the writers' own), so the note stays, and the next checkout (this process gone)
        # removes what is left in the folders it names.
        interrupted = not isinstance(exc, Exception)
        raise
    finally:
        for tmp, dest, *_ in written:
            if tmp != dest:
                _unlink(tmp)
        for temp in moves:  # (not moved into place)
            _remove(temp)
        if marker is not None and not interrupted:
            _unlink(marker)
    result.written = [item[0] for item in plan]
    for path in removals:
        if str(path) in leaving:  # not already removed to make way for a folder or a file
            path.unlink(missing_ok=True)
        result.removed.append(os.path.relpath(path, root))
    if extra:
        _remove_emptied(root, extra)
    for folder in empty_dirs:
        folder.mkdir(parents=True, exist_ok=True)
    if in_place:
        if cache is not None:
            cache.update(fresh)
        set_head(ws, version.dataset, version)
        from assay.data._overlap import checkout_note

        # (files another dataset was added from too: that one's status now shows them changed)
        result.warnings += checkout_note(ws, version, snapshot, result.written, result.removed)
    return result


def _highest_new(absent: set[str]) -> dict[str, str]:
    """For each folder of ``absent`` (folders not there), the highest folder on its way
    from the nearest one that is there: the folder made under a temp name and moved into
    place whole."""
    tops: dict[str, str] = {}
    for folder in sorted(absent, key=lambda f: f.count("/")):
        parent = folder.rpartition("/")[0]
        if parent in tops:
            tops[folder] = tops[parent]
            continue
        top = folder
        while (up := top.rpartition("/")[0]) and not os.path.isdir(up):
            top = up
        tops[folder] = top
    return tops


def _real_name(path: Any, made: dict[str, str], tops: dict[str, str]) -> Any:
    """``path`` (an error's file name) with a new folder's temp name read as that folder's."""
    if not isinstance(path, str):
        return path
    for top in set(tops.values()):
        temp = made.get(top)
        if temp is not None and (path == temp or path.startswith(temp + "/")):
            return top + path[len(temp):]
    return path


def _placed_stat(dest: str, written: Any, settled: int) -> Any:
    """The stat cache's entry for a file renamed into place at ``dest``, whose stat when
    written was ``written``. The rename moved the file's ctime, which the stat cache
    compares: the entry takes it from a stat of the file in place (and only if it is still
    the file written: same inode, size and mtime). A file written within the racy window
    (from ``settled`` on) gets an entry the cache will not trust anyway: no stat for it."""
    if written.st_mtime_ns >= settled:
        return written
    return _renamed_stat(dest, written)


def _renamed_stat(dest: str, written: Any) -> FileStat | None:
    try:
        st = os.stat(dest, follow_symlinks=False)
    except OSError:
        return None
    if (st.st_ino, st.st_size, st.st_mtime_ns) != (written.st_ino, written.st_size, written.st_mtime_ns):
        return None
    return FileStat(st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode, st.st_ctime_ns)
