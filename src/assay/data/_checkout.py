"""`assay data checkout`: materialize a version exactly, every chunk verified.

Every file is first written to a temp file beside its destination; only when all
of them are complete and verified are they renamed into place, so a damaged chunk
leaves the target as it was. Destinations are confined to the target folder:
``..``, absolute paths and symlinked parents that lead outside are refused.
"""

from __future__ import annotations

import os
import stat as _stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay._root import (
    CHECKOUT_TMP,
    TMP_TAIL,
    leads_into_protected,
    not_data,
    protected_path,
    under,
)
from assay.config import make_folder
from assay.data._fork import (
    fork_map,
    processes_for,
    quick_handoffs,
    raise_first_failure,
    split,
)
from assay.data._scan import FileStat
from assay.data._statcache import RACY_NS, StatCache
from assay.data._snapshot import FileManifest, Snapshot, check_relpath
from assay.data._versions import (
    Version,
    get_head,
    load_snapshot,
    resolve,
    set_head,
    version_sources,
)
from assay.errors import CorruptionError, InputError, UnsafePathError, UsageError
from assay.progress import bar
from assay.workspace import Workspace

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

__all__ = ["CheckoutResult", "checkout", "confine", "get_head", "set_head"]


@dataclass
class CheckoutResult:
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
            "unchanged": self.unchanged, "removed": self.removed, "skipped": self.skipped,
            "warnings": self.warnings,
        }


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


def checkout(ws: Workspace, ref: str, *, to: str | Path | None = None, force: bool = False,
             _snapshot: Snapshot | None = None, _staged: Staged | None = None) -> CheckoutResult:
    """Write the files of ``ref`` into the workspace (where they were added) or into ``to``.

    ``_staged`` holds files a pull wrote ahead (:func:`stage_big_files`); each one is moved
    into place where the plan writes that file and nothing is there, and removed otherwise.
    """
    staged = dict(_staged or {})
    try:
        with ws.lock():  # the packs it reads stay: no gc or repair retires them meanwhile
            _sweep_killed(ws)
            return _checkout(ws, ref, to, force, _snapshot, staged)
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
        raise UsageError(f"{to} exists and is not a folder")
    make_folder(root, f"cannot check out into {to}", hint="give --to a folder this user can create and write to")
    result = CheckoutResult(version=version, target=str(root))
    from assay.data._chunking import Chunker
    from assay.data._packs import workspace_packs

    cache = StatCache(ws) if in_place else None
    chunker = Chunker(ws.config.data.chunk_avg)

    removals: list[Path] = []
    sources: list[str] = []
    if in_place:
        from assay.data._status import status

        head = get_head(ws, version.dataset)
        if head == version.id or (head is None and version.id == resolve(ws, version.dataset).id):
            # Status against the version on disk, which is the one being checked out: its
            # snapshot is already loaded. (With no head recorded, the files on disk are judged
            # against the latest version, as `data status` does.)
            changes = status(ws, version.dataset, _version=version, _base=snapshot)
        else:
            changes = status(ws, version.dataset)
        sources = version_sources(ws, changes.against)  # where status looked: the version on disk's folders
        # Missing files lose nothing; modified or new ones would be overwritten or removed.
        at_risk = [p for p in changes.modified + changes.added
                   if p not in snapshot.files or snapshot.files[p].id != _current_id(changes, p)]
        if at_risk and not force:
            raise UsageError(
                f"{version.dataset} has local changes that checkout would overwrite: " + ", ".join(at_risk[:5])
                + (f" and {len(at_risk) - 5} more" if len(at_risk) > 5 else ""),
                hint="add them as a version first (`assay data add`), or pass --force to discard them",
            )
        for rel in sorted(changes.current_ids):
            if rel not in snapshot.files and under(rel, sources):
                removals.append(confine(root, rel))

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
            f"{version.ref} holds {len(result.skipped)} file(s) inside a .assay or .git folder, which checkout "
            "never writes into; left out: " + ", ".join(result.skipped[:5])
            + (f" and {len(result.skipped) - 5} more" if len(result.skipped) > 5 else ""))
    extra: list[str] = []
    if not in_place:  # the folder is to hold the version exactly, as the workspace's folders do
        extra, in_the_way = _not_in_version(root, snapshot)
        if extra and not force:  # (a file where the version has a folder is refused below, by name)
            raise UsageError(
                f"{to} holds {len(extra)} file(s) that {version.ref} does not have: " + ", ".join(extra[:5])
                + (f" and {len(extra) - 5} more" if len(extra) > 5 else ""),
                hint="pass --force to remove them (checkout writes the version exactly; only files that are a file of "
                     "some version are removed), or check out into an empty folder")
        # Extra files are removed only where a version can give them back; a file in the way of
        # one of the version's folders is overwritten, as --force overwrites local changes.
        kept = _unstored(ws, root, extra, chunker) if force else []
        extra += in_the_way if force else []
        working = _working_files(ws, root, extra)
        if working:  # another dataset's files (or the workspace itself) are not this checkout's to remove
            raise UsageError(
                f"{to} holds {len(working)} file(s) that {version.ref} does not have and that are the workspace's "
                "own data: " + ", ".join(working[:5]) + (f" and {len(working) - 5} more" if len(working) > 5 else ""),
                hint="check out into a folder of its own (outside the folders the workspace's datasets were added "
                     "from), or check out in place, without --to")
        if kept:  # nothing a user added is lost: --force removes only what a version can give back
            raise UsageError(
                f"{to} holds {len(kept)} file(s) that {version.ref} does not have and whose bytes no version here "
                "holds, so removing them would lose them: " + ", ".join(kept[:5])
                + (f" and {len(kept) - 5} more" if len(kept) > 5 else ""),
                hint="move them out of the folder, or add them as a version first (`assay data add`), or check "
                     "out into an empty folder")
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
                                 hint="move it away and retry" + ("" if in_place else ", or pass --force"))
            if blocker not in blockers:
                blockers.append(blocker)
        absent.add(folder)
    plan: list[_Item] = []
    unknown: list[str] = []  # files in place that no status looked at (outside the dataset's folders), with other content
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
                        hint="pass --force to overwrite it, or check out into an empty folder",
                    )
                if not under(rel, sources):
                    unknown.append(rel)
        plan.append((rel, dest, manifest))
    del targets
    if unknown:
        # The version holds files where the dataset's current folders do not reach (it was
        # added from other paths): what is there now was never compared with any version.
        raise UsageError(
            f"checkout of {version.ref} would overwrite files that are not part of the version on disk: "
            + ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""),
            hint="move them away or add them as a version first, or pass --force to overwrite them",
        )
    empty_dirs = [confine(root, rel) for rel in snapshot.empty_dirs if not protected_path(rel)]  # checked now, made last
    for blocker in blockers:
        os.unlink(blocker)
        leaving.discard(blocker)
    for folder in sorted(absent, key=lambda f: f.count("/")):
        os.makedirs(folder, exist_ok=True)

    packs = workspace_packs(ws)
    umask = _umask()
    written: list[tuple[str, str, str, Any, FileManifest]] = []
    fresh: list[tuple[str, Any, FileManifest]] = []
    marker = _mark_writes(ws, {dest.rpartition("/")[0] for _, dest, _ in plan}) if plan else None
    try:
        rest: list[_Item] = []
        for rel, dest, manifest in plan:
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
            written.extend(_write_in_processes(packs, rest, umask, processes, total))
        elif rest:
            written.extend(_write_in_threads(packs, rest, umask, total))
        settled = time.time_ns() - RACY_NS  # written before this: trusted when the cache is updated below
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
            if cache is not None:
                # The rename moved the file's ctime, which the stat cache compares: the entry
                # takes it from a stat of the file in place (and only if it is still the file
                # written: same inode, size and mtime). A file written within the racy window
                # gets an entry the cache will not trust anyway: no stat for it.
                if st.st_mtime_ns >= settled:
                    fresh.append((rel, st, manifest))
                elif (now := _renamed_stat(dest, st)) is not None:
                    fresh.append((rel, now, manifest))
    finally:
        for tmp, *_ in written:
            _unlink(tmp)
        if marker is not None:
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
    return result


_Item = tuple[str, str, FileManifest]  # rel, destination, manifest
Staged = dict[str, tuple[str, Any, FileManifest]]  # rel -> temp file, its stat, the manifest it holds
_TMP = CHECKOUT_TMP  # + the checking-out process's pid + "-" + random
_Written = tuple[str, str, str, Any, FileManifest]  # path written, destination, rel, stat, manifest


def _write_in_threads(packs: Any, plan: list[_Item], umask: int, total: int) -> list[_Written]:
    # Many small files: creating them is latency-bound, so several writers overlap it,
    # each in its own folder where it can.
    written: list[_Written] = []
    lock = threading.Lock()

    def write_batch(items: list[_Item]) -> None:
        done = _write_batch(packs, items, umask, progress)
        with lock:
            written.extend(done)

    batches = _batches(plan)
    try:
        with quick_handoffs(), bar(total=total, desc="checkout", unit="B") as progress, \
                ThreadPoolExecutor(max_workers=min(_WRITERS, max(1, len(batches)))) as pool:
            list(pool.map(write_batch, batches))
    except BaseException:
        for tmp, *_ in written:
            _unlink(tmp)
        raise
    return written


def _write_in_processes(packs: Any, plan: list[_Item], umask: int, processes: int, total: int) -> list[_Written]:
    """Each forked worker writes a contiguous share of the files (one interpreter lock per
    core) to temp files named after this process. If anything fails (a worker, or this
    process interrupted, when its workers are killed wherever they are), every such temp
    file in the plan's folders is removed, so the target is left as it was."""
    packs.has(b"")  # the index is loaded before the fork, once
    manifests = {rel: manifest for rel, _, manifest in plan}
    tag = os.getpid()
    try:
        outcomes = fork_map(split(plan, processes, lambda item: item[2].size),
                            lambda share, report: _write_share(packs, share, umask, report, tag),
                            total=total, desc="checkout", stop_on_error=False)
        raise_first_failure(outcomes)
    except BaseException:
        _sweep({dest.rpartition("/")[0] for _, dest, _ in plan}, tag)
        raise
    return [(tmp, dest, rel, FileStat(*st), manifests[rel]) for _, rows in outcomes for tmp, dest, rel, st in rows]


def _mark_writes(ws: Workspace, folders: set[str]) -> str | None:
    """Note, for as long as this checkout writes, the folders it writes temp files in
    (``cache/checkouts/<pid>-<random>``): a checkout killed outright (SIGKILL, a power cut)
    cannot remove them, and the next one then can (:func:`_sweep_killed`), also in a
    ``--to`` folder, where no gc looks. None where the note cannot be written."""
    from assay.store._local import host_tag

    folder = ws.cache_dir / "checkouts"
    path = f"{folder}/{os.getpid()}-{host_tag()}-{os.urandom(4).hex()}"  # (a workspace on a file server)
    try:
        folder.mkdir(exist_ok=True)
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write("\n".join(sorted(folders)))
    except OSError:
        return None
    return path


def _sweep_killed(ws: Workspace) -> None:
    """Remove the temp files of checkouts killed outright, in the folders their notes name
    (see :func:`_mark_writes`), and the notes."""
    from assay.store._local import host_tag, writer_gone

    try:
        notes = list(os.scandir(ws.cache_dir / "checkouts"))
    except OSError:
        return
    for note in notes:
        pid, _, rest = note.name.partition("-")
        try:
            if not pid.isdigit() or not rest.startswith(host_tag() + "-"):  # another machine's: its own to sweep
                continue
            if not writer_gone(int(pid), note.stat().st_mtime):
                continue
            with open(note.path, encoding="utf-8", errors="surrogateescape") as fh:
                folders = fh.read().split("\n")
        except OSError:
            continue
        for folder in folders:
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            remove_dead_temps(folder, names)
        _unlink(note.path)


def remove_dead_temps(folder: str, names: list[str], *, dry_run: bool = False) -> tuple[int, int]:
    """Remove (with ``dry_run``, count) the checkout temp files among ``names`` in ``folder``
    whose writer is gone: named exactly ``.assay-tmp-<pid>-<8 hex digits>`` (any other name
    is a user's file), by a process that has ended. ``(files, bytes)`` found."""
    from assay.store._local import writer_gone

    found = size = 0
    for name in names:
        if not not_data(name, False):
            continue
        path = os.path.join(folder, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if writer_gone(int(name[len(_TMP):].partition("-")[0]), st.st_mtime):
            found += 1
            size += st.st_size
            if not dry_run:
                _unlink(path)
    return found, size


def _sweep(folders: set[str], tag: int) -> None:
    """Remove the temp files a checkout by process ``tag`` (or its workers) left in ``folders``."""
    prefix = f"{_TMP}{tag}-"
    for folder in folders:
        try:
            with os.scandir(folder) as it:
                leftovers = [e.path for e in it if e.name.startswith(prefix) and not_data(e.name, False)]
        except OSError:
            continue
        for path in leftovers:
            _unlink(path)


def _write_share(packs: Any, share: list[_Item], umask: int, report: Callable[[int], None],
                 tag: int) -> list[tuple[str, str, str, tuple[int, int, int, int, int]]]:
    progress = _Reported(report)
    done: list[_Written] = []
    try:
        for items in _batches(share):
            done.extend(_write_batch(packs, items, umask, progress, tag))
    except BaseException:
        for tmp, *_ in done:
            _unlink(tmp)
        raise
    return [(tmp, dest, rel, (st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode, st.st_ctime_ns))
            for tmp, dest, rel, st, _ in done]


class _Reported:
    """A progress bar's ``update`` that reports a forked worker's running total."""

    def __init__(self, report: Callable[[int], None]) -> None:
        self._report = report
        self._done = 0
        self._lock = threading.Lock()  # a big file's stripes are written by several threads

    def update(self, n: int) -> None:
        with self._lock:  # and in order: the total only grows
            self._done += n
            self._report(self._done)


def _renamed_stat(dest: str, written: Any) -> FileStat | None:
    try:
        st = os.stat(dest, follow_symlinks=False)
    except OSError:
        return None
    if (st.st_ino, st.st_size, st.st_mtime_ns) != (written.st_ino, written.st_size, written.st_mtime_ns):
        return None
    return FileStat(st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode, st.st_ctime_ns)


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
            if protected_path(rel) or (os.path.islink(os.path.join(parent, name)) and rel in needed):
                continue
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
    from assay.data._versions import all_versions, load_snapshot

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
                    known = {m.chunks for snap in {v.snapshot for v in all_versions(ws)}
                             for m in load_snapshot(ws.store, snap).files.values()}
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
            if os.path.islink(os.path.join(parent, name)):
                return False
    if dry_run:
        return True
    for path in files:
        os.unlink(path)
        leaving.discard(path)
    for path in sorted(folders, key=lambda f: -f.count("/")):
        os.rmdir(path)
    return True


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


_WRITERS = 4
_SMALL = 1 << 20  # files up to this size are fetched per batch, bigger ones chunk by chunk
_BIG_FILE = 64 << 20  # files from this size are written by one thread per core (_write_striped)
_STRIPE = 16 << 20
_MAX_STRIPERS = 8  # threads per big file: each holds a read and a decompression buffer
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _umask() -> int:
    # Read, not set-and-restore: os.umask changes it for every thread of the process.
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o777  # unknown: always set the mode explicitly


def _batches(plan: list[_Item], *, max_files: int = 128, max_bytes: int = 2 << 20) -> list[list[_Item]]:
    """Consecutive files of one folder, bounded in count and bytes (the bytes are held at once)."""
    out: list[list[_Item]] = []
    current: list[_Item] = []
    folder = ""
    size = 0
    for item in plan:
        parent = item[1].rpartition("/")[0]
        if current and (parent != folder or len(current) >= max_files or size + item[2].size > max_bytes):
            out.append(current)
            current, size = [], 0
        current.append(item)
        folder = parent
        size += item[2].size
    if current:
        out.append(current)
    return out


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write_batch(packs: Any, items: list[_Item], umask: int, progress: Any, tag: int = 0) -> list[_Written]:
    """Write each file of ``items`` to a temp file beside it, named after process ``tag``
    (default: this one); every chunk is hash-checked first."""
    tag = tag or os.getpid()
    small = [m.chunks[0][0] for _, _, m in items if m.size <= _SMALL and len(m.chunks) == 1]
    errors: list[tuple[bytes, CorruptionError]] = []
    fetched = dict(packs.read_many(small, errors=errors)) if small else {}  # neighbours in one read
    out: list[_Written] = []
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC
    try:
        for rel, dest, manifest in items:
            parent = dest.rpartition("/")[0]
            mode = (manifest.mode & 0o777) or 0o644  # never set-id or sticky bits (a manifest holds none)
            for attempt in range(8):
                tmp = f"{parent}/{_TMP}{tag}-{os.urandom(TMP_TAIL // 2).hex()}"
                try:
                    fd = os.open(tmp, flags, mode)
                except FileNotFoundError:
                    os.makedirs(parent, exist_ok=True)  # removed since the folders were made
                    fd = os.open(tmp, flags, mode)
                except FileExistsError:  # 32 random bits: with thousands of files in one folder, it happens
                    if attempt == 7:
                        raise
                    continue
                break
            try:
                out.append((tmp, dest, rel, os.fstat(fd), manifest))  # replaced below, after the writes
                if manifest.size >= _BIG_FILE and _CORES > 1:
                    _write_striped(packs, fd, manifest, rel, progress)
                else:
                    for digest, _ in manifest.chunks:
                        raw = fetched.pop(digest, None) if len(manifest.chunks) == 1 else None
                        if raw is None:
                            raw = packs.read_chunk(digest, what=rel, reuse=True)  # hash-checked, written at once
                        _write_all(fd, raw)
                        progress.update(len(raw))
                if mode & umask:
                    os.fchmod(fd, mode)  # the umask took bits the version has
                out[-1] = (tmp, dest, rel, os.fstat(fd), manifest)
            finally:
                os.close(fd)
    except CorruptionError as exc:
        for tmp, *_ in out:
            _unlink(tmp)
        raise _cannot_check_out(rel, exc) from None
    except BaseException:
        for tmp, *_ in out:
            _unlink(tmp)
        raise
    return out


def stage_big_files(ws: Workspace, snapshot: Snapshot, source: Any) -> Staged:
    """Write the big files of ``snapshot`` that are missing from the workspace to temp files
    in ``.assay/tmp``, reading their chunks from ``source`` (any object with the pack
    store's ``read_chunk``, which must hash-check each chunk).

    A pull that will check a version out reads each new chunk of its big files once,
    checks it, stores it and writes it into place in one go, instead of storing it now
    and decompressing and checking it again in checkout. Nothing in the workspace changes
    here: :func:`checkout` decides, with its usual checks, which staged files go into
    place. Staged files are named after this process, so a killed pull's are removed the
    next time the workspace opens. A file whose folder is on another file system than
    ``.assay/tmp`` (a mount inside the workspace) is not staged: a rename could not move it.
    """
    tmp_dir = ws.tmp_dir
    device = os.stat(tmp_dir).st_dev
    root = str(ws.root)
    items = [(rel, m) for rel, m in sorted(snapshot.files.items())
             if m.size >= _BIG_FILE and not os.path.lexists(f"{root}/{rel}") and _device_of(f"{root}/{rel}") == device]
    if not items:
        return {}
    umask = _umask()
    staged: Staged = {}
    rel = ""
    try:
        with bar(total=sum(m.size for _, m in items), desc="checkout", unit="B") as progress:
            for rel, manifest in items:
                mode = (manifest.mode & 0o777) or 0o644  # never set-id or sticky bits (a manifest holds none)
                tmp = f"{tmp_dir}/{os.getpid()}-stage-{os.urandom(6).hex()}"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, mode)
                staged[rel] = (tmp, None, manifest)
                try:
                    _write_striped(source, fd, manifest, rel, progress)
                    if mode & umask:
                        os.fchmod(fd, mode)
                    staged[rel] = (tmp, os.fstat(fd), manifest)
                finally:
                    os.close(fd)
    except BaseException as exc:
        for tmp, _, _ in staged.values():
            _unlink(tmp)
        if isinstance(exc, CorruptionError):
            raise _cannot_check_out(rel, exc) from None
        raise
    return staged


def _cannot_check_out(rel: str, exc: CorruptionError) -> CorruptionError:
    """Damage met writing ``rel``, naming the file once: the reader's "(needed by rel)" goes."""
    message = exc.message.removesuffix(f" (needed by {rel})")
    return CorruptionError(f"cannot check out {rel}: {message}", key=exc.key, hint=exc.hint)


def _device_of(path: str) -> int | None:
    """The file system a file created at ``path`` would land on: that of its nearest folder
    that exists (None if that cannot be told)."""
    folder = os.path.dirname(path)
    while True:
        try:
            return os.stat(folder).st_dev
        except FileNotFoundError:
            parent = os.path.dirname(folder)
            if parent == folder:
                return None
            folder = parent
        except OSError:
            return None


def _write_striped(packs: Any, fd: int, manifest: FileManifest, rel: str, progress: Any) -> None:
    """Write one big file's chunks from one thread per core, each chunk at its offset.

    Decompressing and hash-checking a chunk (zstd and BLAKE3 release the interpreter
    lock) costs more than writing it, so one thread leaves the other cores idle. The
    threads take consecutive stripes of ~16 MiB in turn, so the file still fills up
    from the front, as the kernel's writeback likes it.
    """
    stripes: list[list[tuple[bytes, int, int]]] = [[]]
    offset = filled = 0
    for digest, size in manifest.chunks:
        if filled >= _STRIPE:
            stripes.append([])
            filled = 0
        stripes[-1].append((digest, offset, size))
        offset += size
        filled += size
    turn = iter(stripes)
    lock = threading.Lock()
    failed = threading.Event()

    def work(own: int) -> None:
        # Each thread writes through its own descriptor and closes it: one that outlived
        # this call (a second Ctrl-C) could never write into a file that reused ``fd``.
        try:
            while not failed.is_set():
                with lock:
                    stripe = next(turn, None)
                if stripe is None:
                    return
                for digest, at, size in stripe:
                    raw = packs.read_chunk(digest, what=rel, reuse=True)  # hash-checked, written at once
                    if len(raw) != size:
                        raise CorruptionError(f"chunk {digest.hex()} of {rel} has {len(raw)} bytes where the "
                                              f"version's manifest says {size}", key=digest.hex())
                    _pwrite_all(own, raw, at)
                    progress.update(size)
        except BaseException:
            failed.set()  # the other threads stop at their next stripe
            raise
        finally:
            os.close(own)

    threads = min(_CORES, _MAX_STRIPERS, len(stripes))
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="assay-checkout")
    futures = []
    try:
        with quick_handoffs():
            for _ in range(threads):
                own = os.dup(fd)
                try:
                    futures.append(pool.submit(work, own))
                except BaseException:
                    os.close(own)
                    raise
            wait(futures)
    finally:
        failed.set()  # interrupted: the threads stop at their next stripe
        pool.shutdown(wait=True)
    errors = [exc for exc in (f.exception() for f in futures) if exc is not None]
    if errors:
        raise errors[0]


def _pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
