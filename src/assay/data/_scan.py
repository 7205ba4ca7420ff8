"""Walking the files to version: every regular file under the sources, listed folder by
folder (forked walkers for big trees), with the stat of each. What the stat cache makes of
those stats is :mod:`assay.data._statcache`; the stat signature is :mod:`assay.data._sigwalk`.
"""

from __future__ import annotations

import errno
import os
import stat as _stat
from dataclasses import dataclass, field
from typing import NamedTuple

from assay._root import RENAME_HINT, leads_into_protected, not_utf8, skipped_in_walks
from assay.data._ignore import Ignore, load
from assay.data._sigwalk import _inside, followed, stat_signature
from assay.errors import InputError, UsageError
from assay.workspace import Workspace

__all__ = ["FileStat", "ScanEntry", "ScanResult", "scan", "stat_signature"]


class ScanEntry(NamedTuple):
    # A tuple, not a dataclass: one is built per file of every scan.
    rel: str
    path: str
    st: os.stat_result


class FileStat(NamedTuple):
    """The part of a file's stat that the stat cache keeps, as a forked worker measured it."""

    st_size: int
    st_mtime_ns: int
    st_ino: int
    st_mode: int
    st_ctime_ns: int


@dataclass
class ScanResult:
    files: list[ScanEntry] = field(default_factory=list)
    empty_dirs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Left out by .assayignore: the paths matched (a folder's with a trailing "/", not walked
    # into), and the digest of the file that said so (None: no .assayignore).
    ignored: list[str] = field(default_factory=list)
    ignore_digest: bytes | None = None

    @property
    def total_bytes(self) -> int:
        return sum(e.st.st_size for e in self.files)


def scan(ws: Workspace, sources: list[str], *, missing_ok: bool = False, outside_ok: bool | None = None) -> ScanResult:
    """Every regular file under ``sources`` (workspace-relative paths). ``missing_ok``: a source
    that is not there is left out; ``outside_ok`` (default: as ``missing_ok``, as status reads
    what add recorded): a source that leads outside the workspace is left out with a warning
    instead of refused. What ``.assayignore`` matches is left out (``ignored``), a source too."""
    if outside_ok is None:
        outside_ok = missing_ok
    ignore = load(str(ws.root))
    result = ScanResult(ignore_digest=None if ignore is None else ignore.digest)
    seen: set[str] = set()
    folders: list[tuple[str, str]] = []
    root = str(ws.root)
    for rel in sources:
        path = ws.root / rel
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):  # (a file where a folder on its way was)
            if missing_ok:
                continue
            raise UsageError(f"{rel} does not exist", hint="check the path") from None
        except PermissionError:
            raise InputError(f"cannot read {rel}: permission denied") from None
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            if missing_ok:  # (status: its files are not there)
                continue
            raise UsageError(f"{rel} is a symlink loop: it leads back to itself, to no file or folder",
                             hint="point the symlink at the data, or name the data's own path") from None
        real = os.path.realpath(path)
        if _inside(real, root) and leads_into_protected(real, root):
            raise UsageError(f"{rel} leads into a .assay or .git folder (to {real}), which is never data",
                             hint="name the data files or folders to track")
        if not _inside(real, root):
            # As inside a folder: a symlink out of the workspace is not followed. A version of
            # what it points to could never be checked out in place (checkout never writes
            # through a symlink that leads outside).
            if outside_ok:
                result.warnings.append(f"skipped {rel}: symlink points outside the workspace")
                continue
            raise UsageError(f"{rel} leads outside the workspace (to {os.path.realpath(path)})",
                             hint="move or copy the data under the workspace folder, or run `assay init` above it")
        if ignore is not None and ignore.refusal(rel, is_dir=_stat.S_ISDIR(st.st_mode)) is not None:
            # (add refuses a path named to it that is ignored; status reads what add recorded)
            result.ignored.append(rel + "/" if _stat.S_ISDIR(st.st_mode) else rel)
        elif _stat.S_ISDIR(st.st_mode):
            folders.append((str(path), rel))
        elif _stat.S_ISREG(st.st_mode):
            if rel not in seen:
                seen.add(rel)
                result.files.append(ScanEntry(rel, str(path), st))
        else:
            result.warnings.append(f"skipped {rel}: not a regular file or folder")
    if folders and not _walk_forked(str(ws.root), folders, result, sources, ignore):
        _walk(str(ws.root), folders, result, seen, ignore)
    result.files.sort(key=lambda e: e.rel)
    result.ignored.sort()
    result.empty_dirs.sort()
    result.warnings.sort()  # one order however the walk was shared out
    return result


_Listing = tuple[list[ScanEntry], list[tuple[str, str]], list[str], bool, list[str]]


def _list_folder(root: str, folder: str, rel_folder: str, ignore: Ignore | None = None) -> _Listing:
    """One folder: its files (stat'ed), subfolders, warnings, whether it is empty, and the
    entries ``ignore`` leaves out (a folder's with a trailing "/")."""
    files: list[ScanEntry] = []
    subdirs: list[tuple[str, str]] = []
    warnings: list[str] = []
    ignored: list[str] = []
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except (FileNotFoundError, NotADirectoryError):
        return [], [], [], False, []  # vanished (or became a file) since its parent was listed: not in this snapshot
    except PermissionError:
        raise InputError(f"cannot list {rel_folder}: permission denied", hint="fix its permissions or leave it out") from None
    for entry in entries:
        name = entry.name
        if skipped_in_walks(name):
            continue
        if not name.isascii() and (shown := not_utf8(name)) is not None:
            where = f"{rel_folder.lstrip('/')}/" if rel_folder.strip("/") else ""
            raise InputError(
                f"{where}{shown}: its name is not valid UTF-8, so assay cannot track it (nor the dataset's folders "
                "holding it)", hint=f"{RENAME_HINT}, or move it out of the dataset's folders")
        rel = f"{rel_folder}/{name}"
        try:
            if entry.is_dir(follow_symlinks=False):
                # Told by the listing itself (d_type) where the file system does: no stat, which
                # cold reads the folder's inode from wherever its block group put it.
                if ignore is not None and ignore.ignored(rel, is_dir=True):
                    ignored.append(rel + "/")
                else:
                    subdirs.append((entry.path, rel))
                continue
            if ignore is not None and ignore.ignored(rel, is_dir=False):
                ignored.append(rel)  # (a symlink to a folder is not followed: a file to the patterns)
                continue
            if entry.is_symlink():
                st, why = followed(entry.path, root)
                if st is None:
                    warnings.append(f"skipped {rel}: {why}")
                    continue
            else:
                st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # vanished between listing and stat: it is not part of this snapshot
        mode = st.st_mode
        if _stat.S_ISREG(mode):
            files.append(ScanEntry(rel, entry.path, st))
        elif _stat.S_ISDIR(mode):
            subdirs.append((entry.path, rel))
        else:
            warnings.append(f"skipped {rel}: not a regular file")
    return files, subdirs, warnings, not entries, ignored


def _walk(root: str, tops: list[tuple[str, str]], result: ScanResult, seen: set[str], ignore: Ignore | None) -> None:
    def take(listing: _Listing, rel_folder: str) -> list[tuple[str, str]]:
        files, subdirs, warnings, empty, ignored = listing
        if empty:
            result.empty_dirs.append(rel_folder)
        result.warnings.extend(warnings)
        result.ignored.extend(ignored)
        for e in files:
            if e.rel not in seen:
                seen.add(e.rel)
                result.files.append(e)
        return subdirs

    # One thread: per entry the interpreter, not the disk, is the cost, and walker
    # threads only contend for it (50,000 files: 0.58 s cold on one, 0.74-1.2 s on 2-8).
    stack = list(tops)
    while stack:
        path, rel = stack.pop()
        stack.extend(take(_list_folder(root, path, rel, ignore), rel))


def _walk_forked(root: str, tops: list[tuple[str, str]], result: ScanResult, sources: list[str],
                 ignore: Ignore | None) -> bool:
    """:func:`_walk` of ``tops``, shared out among forked walkers where the tree is big enough
    (cold, the walk waits on each folder's inodes: 50,000 files take two thirds of the time in
    4 processes), else finished here. False, with ``result`` as it was, where that does not
    apply (no fork, other threads running, nested sources) or a walker failed: then the walk
    runs here, and reports what the walker met. A walker's files come back with a
    :class:`FileStat`, which is all of a stat that is used."""
    from assay.data._fork import can_fork
    from assay.data._sigwalk import _nested, fork_walk, plan_walk

    if not can_fork() or _nested(sources):
        return False
    files: list[ScanEntry] = []
    empty: list[str] = []
    warnings: list[str] = []
    ignored: list[str] = []

    def visit(path: str, rel: str) -> tuple[int, list[tuple[str, str]]]:
        listed, subdirs, said, is_empty, left = _list_folder(root, path, rel, ignore)
        files.extend(listed)
        warnings.extend(said)
        ignored.extend(left)
        if is_empty:
            empty.append(rel)
        return len(listed), subdirs

    frontier, shared = plan_walk(list(tops), visit)
    if not shared:  # a small tree: the rest is walked here, each folder listed once
        while frontier:
            frontier.extend(visit(*frontier.pop())[1])
    else:
        walked = fork_walk(frontier, lambda share: _walker(root, share, ignore))
        if walked is None:
            return False
        base = root.rstrip("/")  # a workspace at / : "/data/x", as the walk here spells it
        for rows, said, emptied, left in walked:
            files.extend(ScanEntry(rel, f"{base}/{rel}", FileStat(size, mtime_ns, ino, mode, ctime_ns))
                         for rel, size, mtime_ns, ino, mode, ctime_ns in rows)
            warnings.extend(said)
            empty.extend(emptied)
            ignored.extend(left)
    result.files += files
    result.warnings += warnings
    result.ignored += ignored
    result.empty_dirs += empty
    return True


def _walker(root: str, tops: list[tuple[str, str]],
            ignore: Ignore | None) -> tuple[list[tuple[str, int, int, int, int, int]], list[str], list[str], list[str]]:
    """A forked walker's part of :func:`_walk_forked`: plain data for the pipe."""
    rows: list[tuple[str, int, int, int, int, int]] = []
    warnings: list[str] = []
    empty: list[str] = []
    ignored: list[str] = []
    stack = list(tops)
    while stack:
        path, rel = stack.pop()
        files, subdirs, said, is_empty, left = _list_folder(root, path, rel, ignore)
        rows += [(e.rel, e.st.st_size, e.st.st_mtime_ns, e.st.st_ino, e.st.st_mode, e.st.st_ctime_ns) for e in files]
        warnings += said
        ignored += left
        if is_empty:
            empty.append(rel)
        stack.extend(subdirs)
    return rows, warnings, empty, ignored
