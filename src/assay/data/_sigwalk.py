"""The stat signature of a tree: one digest over the path and stat of every file.

``status`` compares it with the one recorded for a clean tree, and a big tree is walked
by forked processes (cold, the walk of 50,000 files waits on the disk for their inodes;
processes, unlike threads, which convoy on the interpreter lock, keep several of those
reads in flight). Each child (:func:`assay.data._fork.fork_map`) lists and stats the
folders it is given, exactly as the in-process scan (:mod:`assay.data._scan`) does, and
sends back one digest per folder: nothing per file crosses the pipe (pickling 50,000
stat results back cost more than the walk).

Light on purpose: only ``os`` and builtins (the fork helper loads when a walk forks), so that
`assay`'s entry point can walk, or start this walk, before the rest of the command has loaded
(:mod:`assay.data._replay`, :mod:`assay.data._prefetch`).
"""

from __future__ import annotations

import errno
import marshal
import os
import stat as _stat

from assay._root import leads_into_protected, skipped_in_walks
from assay.data._ignore import GROUP, load
from assay.errors import InputError, UsageError

try:  # what hashlib.blake2b is, without hashlib loading OpenSSL (10-20 ms of a cold start)
    from _blake2 import blake2b
except ImportError:  # a Python built without it
    from hashlib import blake2b

TYPE_CHECKING = False  # typing itself is not loaded for this (see above)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import TypeVar

    from assay.data._ignore import Ignore
    from assay.data._scan import ScanEntry

    T = TypeVar("T")

__all__ = ["followed", "fork_walk", "plan_walk", "signature", "stat_groups", "stat_signature", "walk_groups", "walk_here", "walk_signature"]


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def followed(path: str, root: str) -> tuple[os.stat_result | None, str]:
    """What a walk makes of the symlink at ``path``: ``(stat of its target, "")`` if it is
    taken (it leads to a file inside the workspace, outside any .assay or .git folder),
    else ``(None, why it is skipped)``: one that leads nowhere (dangling, or a loop) is skipped
    too, and said. Raises FileNotFoundError where the symlink itself is gone (removed mid-walk)."""
    target = os.path.realpath(path)
    if not _inside(target, root):
        return None, "symlink points outside the workspace"
    if leads_into_protected(target, root):
        return None, "symlink points into a .assay or .git folder"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.lexists(path):
            return None, "dangling symlink (what it points to does not exist)"
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # (a crash with exit 3, before)
            return None, "symlink loop (it leads back to itself)"
        raise
    if _stat.S_ISDIR(st.st_mode):
        return None, "symlink to a folder (not followed)"
    return st, ""


# -- stat signatures ----------------------------------------------------------------------
# A digest over (path, size, mtime_ns, inode, permission bits, ctime_ns) of every file of a
# scan: per folder first, so that walker processes (below) can each digest the folders they list;
# the folders' digests, sorted by folder, make the signature. The stat cache compares the
# same fields (ctime among them: no tool sets it back, so an in-place rewrite whose size and
# mtime were restored still changes it), and both give one answer.

_Group = tuple[str, int, bytes]  # folder, number of files, digest of their stats


def stat_signature(files: Iterable[ScanEntry], ignore: bytes | None = None) -> tuple[str, int]:
    """``(signature, number of files)`` of scanned files: equal only for the same paths with the same stats."""
    return signature(stat_groups(files, ignore))


def stat_groups(files: Iterable[ScanEntry], ignore: bytes | None = None) -> list[_Group]:
    """``(folder, number of files, digest)`` of scanned files, per folder that holds any: what
    the signature is made of, and what tells which folders a change is in. ``ignore``: the
    digest of the .assayignore the scan honoured (``ScanResult.ignore_digest``), a group of its own."""
    return _groups(files) + _ignore_group(ignore)


def _ignore_group(digest: bytes | None) -> list[_Group]:
    # No group without a .assayignore: signatures recorded before there was one still hold.
    return [] if digest is None else [(GROUP, 0, digest)]


def signature(groups: list[_Group]) -> tuple[str, int]:
    """``(signature, number of files)`` from the folders' groups (sorts them)."""
    return _combine(groups)


def _groups(files: Iterable[ScanEntry]) -> list[_Group]:
    folders: dict[str, list[ScanEntry]] = {}
    for entry in files:
        folders.setdefault(entry[0].rpartition("/")[0], []).append(entry)
    return [(folder, len(entries), _folder_digest(entries)) for folder, entries in folders.items()]


def _folder_digest(files: list[ScanEntry]) -> bytes:
    stats = [(rel, st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode & 0o777, st.st_ctime_ns) for rel, _, st in files]
    stats.sort()
    # marshal's version 2 is a plain, reference-free encoding (1.5x faster than text lines).
    return blake2b(marshal.dumps(stats, 2), digest_size=32).digest()


def _combine(groups: list[_Group]) -> tuple[str, int]:
    groups.sort()
    return blake2b(marshal.dumps(groups, 2), digest_size=32).hexdigest(), sum(g[1] for g in groups)


# -- the forked walk -----------------------------------------------------------------------

_FORK_MIN_FOLDERS = 16  # fewer folders to share out: the walk is too short to pay for the forks
_FORK_LEVELS = 3  # how deep the parent lists folders itself, looking for that many
_SAMPLE = 4  # folders the parent lists first, to guess how big the rest is
# The forks cost 8-10 ms: 16 folders of 100 files walk in 9 ms warm, 20 ms cold here (28 ms
# forked), 16 of 300 in 34 ms and 55-98 ms (28-47 ms forked). A wrong guess costs little one
# way (10 ms) and much the other (0.15 s at 50,000 files), so the bar is low.
_FORK_MIN_ENTRIES = 2000
_WALKERS = 4  # cold, the walk waits on the disk: 4 processes beat 2 even on 2 cores, 8 or 16 do no better


def walk_signature(root: str, sources: list[str], *, small: bool = False) -> tuple[str, int] | None:
    """``stat_signature`` of what ``scan`` finds under the workspace ``root`` (``missing_ok``), walked by forked processes.

    None where that does not apply (no fork, other threads running, nested sources, and
    unless ``small``, few folders) or anything failed: the caller then scans in-process,
    which also raises whatever error the walk met. With ``small`` a tree too small to
    share out is walked here (the early walk's child: the caller is loading meanwhile).
    """
    groups = walk_groups(root, sources, small=small)
    return None if groups is None else _combine(groups)


def walk_groups(root: str, sources: list[str], *, small: bool = False) -> list[_Group] | None:
    """:func:`stat_groups` of what ``scan`` finds, walked as :func:`walk_signature` says."""
    from assay.data._fork import can_fork

    try:
        ignore = load(root)
    except UsageError:
        return None  # the in-process scan says what is wrong with it
    found = _sources(root, sources, ignore) if can_fork() else None
    if found is None:
        return None
    named, frontier = found
    groups: list[_Group] = _ignore_group(None if ignore is None else ignore.digest)

    def visit(path: str, rel: str) -> tuple[int, list[tuple[str, str]]]:
        count, digest, subdirs = _digest_folder(root, path, rel, ignore)
        if count:
            groups.append((rel, count, digest))
        return count, subdirs

    try:
        frontier, shared = plan_walk(frontier, visit)
        if not shared:
            if not small:
                return None
            return groups + _groups(named) + _walk_share(root, frontier, ignore)
    except (OSError, InputError):
        return None
    walked = fork_walk(frontier, lambda share: _walk_share(root, share, ignore))
    if walked is None:
        return None
    return groups + _groups(named) + [group for share in walked for group in share]


def plan_walk(frontier: list[tuple[str, str]],
              visit: Callable[[str, str], tuple[int, list[tuple[str, str]]]]) -> tuple[list[tuple[str, str]], bool]:
    """Where a forked walk of the folders ``frontier`` (``(path, rel)``) starts: folders are
    listed here, level by level, by ``visit(path, rel) -> (files found, subfolders)``, until
    there are enough to share out, then a few more to guess how big the rest are. Returns the
    folders not yet listed and whether forked walkers would pay for them (else the caller
    walks them here). Shared by the scan and the signature walk."""
    for _ in range(_FORK_LEVELS):
        if len(frontier) >= _FORK_MIN_FOLDERS:
            break
        deeper: list[tuple[str, str]] = []
        for path, rel in frontier:
            deeper.extend(visit(path, rel)[1])
        frontier = deeper
    if len(frontier) < _FORK_MIN_FOLDERS:
        return frontier, False
    folders = len(frontier)
    frontier = sorted(frontier)  # the same sample and shares every time, whatever order the listing had
    sample, frontier = frontier[:_SAMPLE], frontier[_SAMPLE:]
    entries = 0
    for path, rel in sample:
        count, subdirs = visit(path, rel)
        entries += count + len(subdirs)
        frontier.extend(subdirs)
    return frontier, entries * folders >= _FORK_MIN_ENTRIES * len(sample)  # guessing the others hold as many


def fork_walk(folders: list[tuple[str, str]], walk: Callable[[list[tuple[str, str]]], T]) -> list[T] | None:
    """``walk(share)`` of each of ``_WALKERS`` shares of ``folders``, in forked children; None
    if one failed (the caller then walks here and meets the same error) or no fork was possible."""
    from assay.data._fork import fork_map

    shares = [folders[i::_WALKERS] for i in range(min(_WALKERS, len(folders)))]
    try:
        outcomes = fork_map(shares, lambda share, report: walk(share), die_with_parent=False)
    except OSError:  # no fork: no more processes or memory
        return None
    if not all(ok for ok, _ in outcomes):
        return None
    return [result for _, result in outcomes]


def walk_here(root: str, sources: list[str]) -> list[_Group] | None:
    """:func:`stat_groups` of what ``scan`` finds, walked in this process and nothing else
    loaded (a small tree, at the entry point); None where the walk does not apply (nested
    sources, no listing by descriptor) or met an error, which the in-process scan then reports."""
    if os.scandir not in os.supports_fd:  # (listing by descriptor: not on Windows)
        return None
    try:
        ignore = load(root)
    except UsageError:
        return None
    found = _sources(root, sources, ignore)
    if found is None:
        return None
    try:
        return (_ignore_group(None if ignore is None else ignore.digest) + _groups(found[0])
                + _walk_share(root, found[1], ignore))
    except (OSError, InputError):
        return None


def _sources(root: str, sources: list[str],
             ignore: Ignore | None) -> tuple[list[tuple[str, str, os.stat_result]], list[tuple[str, str]]] | None:
    """The files named as sources (as ``ScanEntry`` fields) and the folders to walk, less what
    ``ignore`` leaves out; None for nested sources or an error (which the in-process scan then reports)."""
    if _nested(sources):
        return None
    named: list[tuple[str, str, os.stat_result]] = []
    folders: list[tuple[str, str]] = []
    for rel in sources:
        path = os.path.join(root, rel)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        except OSError:
            return None
        real = os.path.realpath(path)
        if not _inside(real, root) or leads_into_protected(real, root):
            return None  # the in-process scan leaves it out (with a warning) or refuses it
        if ignore is not None and ignore.refusal(rel, is_dir=_stat.S_ISDIR(st.st_mode)) is not None:
            continue
        if _stat.S_ISDIR(st.st_mode):
            folders.append((path, rel))
        elif _stat.S_ISREG(st.st_mode):
            named.append((rel, path, st))
    return named, folders


def _nested(sources: list[str]) -> bool:
    """Whether a source repeats or lies inside another (`scan` keeps the first of a file found twice)."""
    known = set(sources)
    return len(known) != len(sources) or any(
        rel[:i] in known for rel in sources for i, c in enumerate(rel) if c == "/")


def _walk_share(root: str, folders: list[tuple[str, str]], ignore: Ignore | None = None) -> list[_Group]:
    """The digest of every folder under ``folders`` (in a forked walker, or in the one process)."""
    groups: list[_Group] = []
    stack = list(folders)
    while stack:
        path, rel = stack.pop()
        count, digest, subdirs = _digest_folder(root, path, rel, ignore)
        if count:
            groups.append((rel, count, digest))
        stack.extend(subdirs)
    return groups


def _digest_folder(root: str, folder: str, rel_folder: str,
                   ignore: Ignore | None = None) -> tuple[int, bytes, list[tuple[str, str]]]:
    """``_folder_digest(_list_folder(...) files)`` with its file count, and the subfolders, made leaner:
    the folder is listed by descriptor, so each file's stat is looked up from it rather than
    along its whole path (a quarter less time, warm); no entry or warning is kept."""
    stats = []
    subdirs: list[tuple[str, str]] = []
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return 0, b"", subdirs  # as _list_folder: vanished (or became a file) since its parent was listed
    except PermissionError:
        raise InputError(f"cannot list {rel_folder}: permission denied") from None
    try:
        with os.scandir(fd) as it:
            for entry in it:
                name = entry.name
                if skipped_in_walks(name):
                    continue
                rel = f"{rel_folder}/{name}"
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if ignore is None or not ignore.ignored(rel, is_dir=True):
                            subdirs.append((f"{folder}/{name}", rel))
                        continue
                    if ignore is not None and ignore.ignored(rel, is_dir=False):
                        continue
                    if entry.is_symlink():  # rare: followed as _list_folder does
                        st, _ = followed(f"{folder}/{name}", root)
                        if st is None:
                            continue
                    else:
                        st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                mode = st.st_mode
                if _stat.S_ISREG(mode):
                    stats.append((rel, st.st_size, st.st_mtime_ns, st.st_ino, mode & 0o777, st.st_ctime_ns))
                elif _stat.S_ISDIR(mode):
                    subdirs.append((f"{folder}/{name}", rel))
    finally:
        os.close(fd)
    stats.sort()
    return len(stats), blake2b(marshal.dumps(stats, 2), digest_size=32).digest(), subdirs
