"""The stat signature of a big tree, walked by forked processes.

Cold, the walk of 50,000 files waits on the disk for their inodes; processes, unlike
threads (which convoy on the interpreter lock), keep several of those reads in flight.
Each child lists and stats the folders it is given, exactly as the in-process scan
does, and sends back only one digest per folder (see `_scan.stat_signature`): nothing
per file crosses the pipe (pickling 50,000 stat results back cost more than the walk).
"""

from __future__ import annotations

import gc
import marshal
import os
import signal
import stat as _stat
import threading

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
    if not _can_fork() or _nested(sources):
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


def _can_fork() -> bool:
    # Only a single-threaded process: a forked child has only the forking thread, and a lock
    # another thread held stays held in it (assay's server and monitor walk in-process).
    if not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1  # threads Python did not start count too
    except OSError:
        return False  # no /proc to ask: not Linux, where the gain was measured


def _nested(sources: list[str]) -> bool:
    """Whether a source repeats or lies inside another (`scan` keeps the first of a file found twice)."""
    known = set(sources)
    return len(known) != len(sources) or any(
        rel[:i] in known for rel in sources for i, c in enumerate(rel) if c == "/")


def _fork_walkers(root: str, folders: list[tuple[str, str]]) -> list[_Group] | None:
    """The folder digests of everything under ``folders``, from forked children; None if one failed."""
    children: list[tuple[int, int]] = []  # pid, read end of its pipe
    outputs: list[bytes] = []
    try:
        for i in range(min(_WALKERS, len(folders))):
            r, w = os.pipe()
            # Signals wait until the child is on the books (so it is always reaped) and, in
            # the child, until it is inside the code that ends in os._exit.
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
            try:
                pid = os.fork()
                if pid == 0:
                    try:
                        _walker(root, folders[i::_WALKERS], w, [r, *(fd for _, fd in children)], mask)
                    finally:
                        os._exit(1)
                children.append((pid, r))
            except OSError:  # no fork: no more processes or memory
                os.close(r)
                return None
            finally:
                os.close(w)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for _, r in children:
            chunks = []
            while chunk := os.read(r, 1 << 16):
                chunks.append(chunk)
            outputs.append(b"".join(chunks))
    finally:
        interrupted = len(outputs) < len(children)
        failed = not _reap(children, kill=interrupted)
    if interrupted or failed:
        return None
    try:
        return [group for data in outputs for group in marshal.loads(data)]
    except (EOFError, ValueError, TypeError):
        return None


def _walker(root: str, folders: list[tuple[str, str]], out: int, inherited: list[int], mask: set[int]) -> None:
    """In a forked child: digest every folder under ``folders``, write the digests to ``out``, exit."""
    code = 1
    try:
        gc.disable()  # a collection here could run finalizers of the parent's objects (flush its files)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for fd in inherited:
            os.close(fd)
        groups: list[_Group] = []
        stack = list(folders)
        while stack:
            path, rel = stack.pop()
            files, subdirs, _, _ = _list_folder(root, path, rel)
            if files:
                groups.append((rel, len(files), _folder_digest(files)))
            stack.extend(subdirs)
        data = memoryview(marshal.dumps(groups))
        while data:
            data = data[os.write(out, data):]
        code = 0
    finally:
        os._exit(code)  # never back into the parent's code (no atexit, no buffered output flushed twice)


def _reap(children: list[tuple[int, int]], *, kill: bool) -> bool:
    """Close the pipes and wait for every child (killed first if ``kill``); whether all exited 0."""
    ok = True
    for pid, r in children:
        os.close(r)
        if kill:
            os.kill(pid, signal.SIGKILL)  # ours, and not yet waited for: the pid is still its own
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped by someone else (SIGCHLD ignored): its status is lost
            ok = False
            continue
        ok = ok and os.waitstatus_to_exitcode(status) == 0
    return ok
