"""Checkout's write path: the files of a plan written to temp files beside their
destinations (in a folder the checkout made, under their own names), every chunk
hash-checked on the way.

Many small files are written by a few threads, batch by batch; a large plan by forked
workers, one interpreter lock per core; a big file by one thread per core, stripe by
stripe. A pull that will check a version out stages its big files ahead
(:func:`stage_big_files`). Nothing here renames a file into place: that is
:func:`assay.data._checkout.checkout`'s, once every file is written.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from assay._root import TMP_TAIL
from assay.data._checkout_temps import _TMP, _sweep, _unlink
from assay.data._fork import fork_map, quick_handoffs, raise_first_failure, split
from assay.data._scan import FileStat
from assay.data._snapshot import FileManifest, Snapshot
from assay.errors import CorruptionError
from assay.progress import bar
from assay.workspace import Workspace

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

_Item = tuple[str, str, FileManifest]  # rel, destination, manifest
Staged = dict[str, tuple[str, Any, FileManifest]]  # rel -> temp file, its stat, the manifest it holds
_Written = tuple[str, str, str, Any, FileManifest]  # path written, destination, rel, stat, manifest

_WRITERS = 4
_SMALL = 1 << 20  # files up to this size are fetched per batch, bigger ones chunk by chunk
_BIG_FILE = 64 << 20  # files from this size are written by one thread per core (_write_striped)
_STRIPE = 16 << 20
_MAX_STRIPERS = 8  # threads per big file: each holds a read and a decompression buffer
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _write_in_threads(packs: Any, plan: list[_Item], umask: int, total: int,
                      own_names: frozenset[str] = frozenset()) -> list[_Written]:
    # Many small files: creating them is latency-bound, so several writers overlap it,
    # each in its own folder where it can.
    written: list[_Written] = []
    lock = threading.Lock()

    def write_batch(items: list[_Item]) -> None:
        done = _write_batch(packs, items, umask, progress, own_names=own_names)
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


def _write_in_processes(packs: Any, plan: list[_Item], umask: int, processes: int, total: int,
                        own_names: frozenset[str] = frozenset()) -> list[_Written]:
    """Each forked worker writes a contiguous share of the files (one interpreter lock per
    core) to temp files named after this process. If anything fails (a worker, or this
    process interrupted, when its workers are killed wherever they are), every such temp
    file in the plan's folders is removed, so the target is left as it was."""
    packs.has(b"")  # the index is loaded before the fork, once
    manifests = {rel: manifest for rel, _, manifest in plan}
    tag = os.getpid()
    try:
        outcomes = fork_map(split(plan, processes, lambda item: item[2].size),
                            lambda share, report: _write_share(packs, share, umask, report, tag, own_names),
                            total=total, desc="checkout", stop_on_error=False)
        raise_first_failure(outcomes)
    except BaseException:
        _sweep({dest.rpartition("/")[0] for _, dest, _ in plan}, tag)
        raise
    return [(tmp, dest, rel, FileStat(*st), manifests[rel]) for _, rows in outcomes for tmp, dest, rel, st in rows]


def _write_share(packs: Any, share: list[_Item], umask: int, report: Callable[[int], None],
                 tag: int, own_names: frozenset[str]) -> list[tuple[str, str, str, tuple[int, int, int, int, int]]]:
    progress = _Reported(report)
    done: list[_Written] = []
    try:
        for items in _batches(share):
            done.extend(_write_batch(packs, items, umask, progress, tag, own_names))
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


def _write_batch(packs: Any, items: list[_Item], umask: int, progress: Any, tag: int = 0,
                 own_names: frozenset[str] = frozenset()) -> list[_Written]:
    """Write each file of ``items`` to a temp file beside it, named after process ``tag``
    (default: this one), or, in one of the folders ``own_names`` (new folders that a
    checkout makes under a temp name and moves into place whole), under its own name;
    every chunk is hash-checked first. Each row's path written equals its destination
    where the file was written under its own name."""
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
                if parent in own_names:
                    tmp = dest  # (a name taken twice in a new folder is refused: O_EXCL)
                else:
                    tmp = f"{parent}/{_TMP}{tag}-{os.urandom(TMP_TAIL // 2).hex()}"
                try:
                    fd = os.open(tmp, flags, mode)
                except FileNotFoundError:
                    os.makedirs(parent, exist_ok=True)  # removed since the folders were made
                    fd = os.open(tmp, flags, mode)
                except FileExistsError:  # 32 random bits: with thousands of files in one folder, it happens
                    if attempt == 7 or tmp == dest:
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
