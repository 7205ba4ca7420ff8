"""The stat signature of a big tree, walked by forked processes.

Cold, the walk of 50,000 files waits on the disk for their inodes; processes, unlike
threads (which convoy on the interpreter lock), keep several of those reads in flight.
Each child (:func:`assay.data._fork.fork_map`) lists and stats the folders it is given,
exactly as the in-process scan does, and sends back only one digest per folder (see
`_scan.stat_signature`): nothing per file crosses the pipe (pickling 50,000 stat results
back cost more than the walk).
"""

from __future__ import annotations

import os
import stat as _stat

from assay.data._fork import can_fork, fork_map
from assay.data._scan import (
    ScanEntry,
    _combine,
    _folder_digest,
    _Group,
    _groups,
    _list_folder,
)
from assay.errors import InputError
from assay.workspace import Workspace

__all__ = ["walk_signature"]

_FORK_MIN_FOLDERS = 16  # fewer folders to share out: the walk is too short to pay for the forks
_FORK_LEVELS = 3  # how deep the parent lists folders itself, looking for that many
_SAMPLE = 4  # folders the parent lists first, to guess how big the rest is
# The forks cost 8-10 ms: 16 folders of 100 files walk in 9 ms warm, 20 ms cold here (28 ms
# forked), 16 of 300 in 34 ms and 55-98 ms (28-47 ms forked). A wrong guess costs little one
# way (10 ms) and much the other (0.15 s at 50,000 files), so the bar is low.
_FORK_MIN_ENTRIES = 2000
_WALKERS = 4  # cold, the walk waits on the disk: 4 processes beat 2 even on 2 cores, 8 or 16 do no better


def walk_signature(ws: Workspace, sources: list[str]) -> tuple[str, int] | None:
    """``stat_signature`` of what ``scan(ws, sources, missing_ok=True)`` finds, walked by forked processes.

    None where that does not apply (no fork, other threads running, few folders, nested
    sources) or anything failed: the caller then scans in-process, which also raises
    whatever error the walk met.
    """
    if not can_fork() or _nested(sources):
        return None
    root = str(ws.root)
    named: list[ScanEntry] = []  # files given as sources
    groups: list[_Group] = []
    frontier: list[tuple[str, str]] = []
    try:
        for rel in sources:
            path = str(ws.root / rel)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            if _stat.S_ISDIR(st.st_mode):
                frontier.append((path, rel))
            elif _stat.S_ISREG(st.st_mode):
                named.append(ScanEntry(rel, path, st))
        for _ in range(_FORK_LEVELS):
            if len(frontier) >= _FORK_MIN_FOLDERS:
                break
            deeper: list[tuple[str, str]] = []
            for path, rel in frontier:
                files, subdirs, _, _ = _list_folder(root, path, rel)
                if files:
                    groups.append((rel, len(files), _folder_digest(files)))
                deeper.extend(subdirs)
            frontier = deeper
        folders = len(frontier)
        if folders < _FORK_MIN_FOLDERS:
            return None
        frontier.sort()  # the same sample and shares every time, whatever order the listing had
        sample, frontier = frontier[:_SAMPLE], frontier[_SAMPLE:]
        entries = 0
        for path, rel in sample:
            files, subdirs, _, _ = _list_folder(root, path, rel)
            if files:
                groups.append((rel, len(files), _folder_digest(files)))
            entries += len(files) + len(subdirs)
            frontier.extend(subdirs)
        if entries * folders < _FORK_MIN_ENTRIES * len(sample):  # guessing the others hold as many
            return None
    except (OSError, InputError):
        return None
    walked = _fork_walkers(root, frontier)
    if walked is None:
        return None
    return _combine(groups + _groups(named) + walked)


def _nested(sources: list[str]) -> bool:
    """Whether a source repeats or lies inside another (`scan` keeps the first of a file found twice)."""
    known = set(sources)
    return len(known) != len(sources) or any(
        rel[:i] in known for rel in sources for i, c in enumerate(rel) if c == "/")


def _fork_walkers(root: str, folders: list[tuple[str, str]]) -> list[_Group] | None:
    """The folder digests of everything under ``folders``, from forked children; None if one failed."""
    shares = [folders[i::_WALKERS] for i in range(min(_WALKERS, len(folders)))]
    try:
        outcomes = fork_map(shares, lambda share, report: _walk_share(root, share), die_with_parent=False)
    except OSError:  # no fork: no more processes or memory
        return None
    if not all(ok for ok, _ in outcomes):
        return None  # the in-process scan meets the same error and reports it
    return [group for _, groups in outcomes for group in groups]


def _walk_share(root: str, folders: list[tuple[str, str]]) -> list[_Group]:
    """In a forked child: the digest of every folder under ``folders``."""
    groups: list[_Group] = []
    stack = list(folders)
    while stack:
        path, rel = stack.pop()
        files, subdirs, _, _ = _list_folder(root, path, rel)
        if files:
            groups.append((rel, len(files), _folder_digest(files)))
        stack.extend(subdirs)
    return groups
