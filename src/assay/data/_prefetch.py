"""The walk of a clean ``assay data status``, started before the command line has loaded.

Cold, a clean status of 50,000 files is about 0.07 s of interpreter start, 0.25 s of
imports, ledger and stat cache, and 0.3 s of walking the tree for its stat signature
(:mod:`assay.data._sigwalk`). The walk needs only the workspace root and the dataset's
sources, so when a signature is recorded the sources are also left in a small file
(``.assay/cache/status-walks``), and `assay`'s entry point, seeing ``data status``,
forks one process that walks them (:func:`prefetch_status`) while this one loads the
command line, opens the ledger and resolves the version. (Where a recorded answer can be
checked instead, :mod:`assay.data._replay` walks first and hands a walk that finds a change
over with :func:`walked`.) ``status`` then takes the result (:func:`take`) only if the
workspace and the sources it read from the ledger are the ones walked; otherwise it walks
itself, as it would have. The file is a hint: missing, stale or unreadable, it costs only
the head start.

Only the standard library's builtins, :mod:`assay._root` and the fork helper (which the
child's walk needs anyway) are loaded before the fork, and the child never returns into
the caller's code: whatever happens, it ends in ``os._exit``.
"""

from __future__ import annotations

import marshal
import os
import sys

from assay._root import WORKSPACE_DIR, find_root
from assay.data._fork import can_fork
from assay.data._hints import read_hint, write_hint
from assay.errors import WorkspaceNotFoundError

__all__ = ["prefetch_status", "remember", "take", "unwanted", "walked"]

HINTS = "status-walks"


class _Walk:
    """A walk running in a child: the sources it walks per dataset, and its pipe."""

    def __init__(self, root: str, sources: dict[str, list[str]], pid: int, fd: int) -> None:
        self.root, self.sources, self.pid, self.fd = root, sources, pid, fd
        self.results: dict[str, list[tuple[str, int, bytes]] | None] | None = None

    @classmethod
    def finished(cls, root: str, sources: dict[str, list[str]],
                 results: dict[str, list[tuple[str, int, bytes]] | None]) -> _Walk:
        """A walk this process has done already (no child)."""
        walk = cls(root, sources, -1, -1)
        walk.results = results
        return walk

    def collect(self) -> dict[str, list[tuple[str, int, bytes]] | None]:
        """The child's results (waiting for them), once; empty if it failed."""
        if self.results is None:
            data = bytearray()
            try:
                while piece := os.read(self.fd, 1 << 16):
                    data += piece
            finally:
                os.close(self.fd)
                os.waitpid(self.pid, 0)
            try:
                results = marshal.loads(bytes(data)) if data else {}
            except (EOFError, ValueError, TypeError):
                results = {}  # cut short: the child died while reporting
            self.results = results if isinstance(results, dict) else {}
        return self.results

    def abandon(self) -> None:
        """Stop and reap the child (its walk is of no use)."""
        if self.results is None:
            os.close(self.fd)
            try:
                os.kill(self.pid, 9)  # SIGKILL: it only reads
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            self.results = {}


_pending: _Walk | None = None


def prefetch_status(names: list[str] | None = None) -> bool:
    """Start walking, in a forked child, the datasets ``names`` (default: all with a hint)
    of the workspace found from here; whether a walk started.

    Meant for a command line's first moments: only a Linux process with a single thread
    forks, and only once.
    """
    global _pending
    if _pending is not None or not can_fork():
        return False
    try:
        root = find_root()
    except (WorkspaceNotFoundError, OSError):
        return False
    hints = _read(os.path.join(root, WORKSPACE_DIR, "cache", HINTS))
    sources = {n: hints[n] for n in (hints if names is None else names) if n in hints}
    if not sources:
        return False
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # closed when the command started
            continue
        try:
            stream.flush()  # the child must not inherit (and later repeat) buffered output
        except (OSError, ValueError):
            pass
    import _signal  # the C module behind `signal`: no enum to import

    rfd, wfd = os.pipe()
    parent = os.getpid()
    # Signals wait until the child is on the books (so that it is always reaped, or left
    # to finish its short walk) and, in the child, until it is inside the code that ends
    # in os._exit: an interrupt never runs the caller's code in the child.
    mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, _signal.valid_signals())
    try:
        try:
            pid = os.fork()
        except OSError:
            os.close(rfd)
            os.close(wfd)
            return False  # no fork (no processes or memory left): status walks itself
        if pid == 0:  # pragma: no cover - runs in the child, which reports through the pipe
            try:
                _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)
                os.close(rfd)
                _walk_and_report(root, sources, wfd)
            finally:
                os._exit(0)
        os.close(wfd)
        _pending = _Walk(root, sources, pid, rfd)
    finally:
        if os.getpid() == parent:
            _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)
    return True


def walked(root: str, sources: list[str], dataset: str, groups: list[tuple[str, int, bytes]]) -> None:
    """``dataset``'s folder groups, walked in this process with ``sources`` before the command
    line loaded (by :mod:`assay.data._replay`'s check): its status takes them as it would an early walk's."""
    global _pending
    if _pending is None:
        _pending = _Walk.finished(root, {dataset: list(sources)}, {dataset: groups})


def take(root: str, dataset: str, sources: list[str]) -> list[tuple[str, int, bytes]] | None:
    """The prefetched folder groups (``_sigwalk.walk_groups``) of ``dataset`` if it was walked in
    ``root`` with exactly these ``sources``, else None (also when the walk did not apply or failed)."""
    global _pending
    walk = _pending
    if walk is None:
        return None
    if walk.root != root or walk.sources.get(dataset, sources) != sources:
        walk.abandon()  # walking what the ledger no longer says: no later question will match either
        _pending = None
        return None
    if dataset not in walk.sources:
        return None  # not walked (no hint for it): the walk may still serve the other datasets
    return walk.collect().pop(dataset, None)  # once: a later status of it in this process walks afresh


def unwanted(dataset: str) -> None:
    """``dataset``'s status will not take the early walk (no signature to compare it with):
    stop it, unless it walks other datasets too, so that it does not compete for the disk."""
    global _pending
    walk = _pending
    if walk is not None and set(walk.sources) <= {dataset}:
        walk.abandon()
        _pending = None


def remember(cache_dir: str | os.PathLike[str], dataset: str, sources: list[str]) -> None:
    """Leave ``dataset``'s sources for the next status's early walk (if they changed)."""
    path = os.path.join(cache_dir, HINTS)
    hints = _read(path)
    if hints.get(dataset) != sources:
        hints[dataset] = list(sources)
        write_hint(path, hints)


def _read(path: str) -> dict[str, list[str]]:
    hints = read_hint(path)
    if not isinstance(hints, dict):
        return {}
    return {k: v for k, v in hints.items()
            if isinstance(k, str) and isinstance(v, list) and all(isinstance(s, str) for s in v)}


def _walk_and_report(root: str, sources: dict[str, list[str]], fd: int) -> None:  # pragma: no cover - in the child
    """In the child: walk each dataset and write ``{dataset: its folders' groups or None}`` to ``fd``."""
    # Nothing for the terminal from here, and no pipe of the caller's held open by this child.
    null = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(null, std)
    os.close(null)
    from assay.data._sigwalk import walk_groups

    results: dict[str, list[tuple[str, int, bytes]] | None] = {}
    for dataset, paths in sources.items():
        try:
            results[dataset] = walk_groups(root, paths, small=True)
        except Exception:  # noqa: BLE001 - the parent walks again and reports what it meets
            results[dataset] = None
    view = memoryview(marshal.dumps(results))
    while view:
        view = view[os.write(fd, view):]
