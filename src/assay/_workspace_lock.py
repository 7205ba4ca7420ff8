"""How :meth:`assay.workspace.Workspace.lock` is taken, and which locks this thread holds.

A lock file in ``.assay/`` serves the processes of one machine, with a gate before it so that a
waiting gc goes before readers that come after it. Workspaces on several machines may share one
PostgreSQL ledger and one store. Their lock files in ``.assay/`` do not reach each other, so the
lock also holds an advisory lock in the ledger's server, which every one of them shares. It is
named after the store's URL for an object store, and after the ledger's id for a folder store
outside ``.assay/`` (an NFS share): machines may mount that folder at different paths, and a lock
named after the path would not meet its twin; a ledger keeps its versions in one store (see
:meth:`assay.workspace.Workspace._register_in_store`), so "this ledger's folder store" names one
store for all of them. A SQLite ledger, or a store inside ``.assay/``, takes no such lock: the
single-machine path does no extra work.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.workspace import Workspace

__all__ = ["Busy", "check_store_lock", "flock_holders", "holds", "open_lock_file", "store_lock", "take"]

_thread = threading.local()


class Busy(Exception):
    """A lock asked for without waiting (``wait=False``) is held by another."""


def holds() -> dict[tuple[str, Any], str]:
    """The locks this thread holds, whichever workspace object took them: ``("file", path)``
    and ``("store", advisory key)`` to ``"shared"`` or ``"exclusive"``."""
    held = getattr(_thread, "holds", None)
    if held is None:
        held = _thread.holds = {}
    return held


def _sessions() -> dict[int, Any]:
    """This thread's PostgreSQL sessions holding a store's advisory lock, by key."""
    sessions = getattr(_thread, "sessions", None)
    if sessions is None:
        sessions = _thread.sessions = {}
    return sessions


def open_lock_file(path: Path) -> int:
    """The lock file at ``path``, open. One this user may only read is opened read-only (``flock``
    works on it, shared or exclusive); one that cannot be opened at all stops the command,
    as going on without the lock could delete what another command relies on."""
    from assay.errors import InputError

    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
    try:
        return os.open(path, os.O_RDONLY)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.ENOENT):
            raise
        raise InputError(f"cannot open the workspace lock {path}: {exc.strerror}",
                         hint="this user needs read access to it (or write access to .assay/ to create it)") from None


def take(fd: int, mode: int, said: bool, message: str, *, wait: bool = True) -> bool:
    """``flock(fd, mode)``, saying ``message`` on stderr first if it has to wait more than a
    moment (unless ``said``: a wait was said already; readers pass the gate in a moment),
    with the processes that hold the lock where they can be found (:func:`flock_holders`).
    Returns whether a wait was said. Without ``wait``: :class:`Busy` if it is held."""
    deadline = time.monotonic() + 0.2
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return said
        except BlockingIOError:
            if not wait:
                raise Busy() from None
            if time.monotonic() >= deadline:
                break
            time.sleep(0.005)
    if not said:
        who = flock_holders(fd)
        _say(message + (f"; held by {', '.join(who[:3])}" + (f" and {len(who) - 3} more" if len(who) > 3 else "")
                        if who else ""))
    fcntl.flock(fd, mode)
    return True


def flock_holders(fd: int) -> list[str]:
    """The processes that hold ``flock`` on the file open at ``fd``, each as ``assay data
    push ds (pid 123, alice@host)``, as far as this machine's kernel says (Linux's
    ``/proc/locks``; the waiters it lists are left out): none elsewhere, nor for holders in
    another PID namespace or on another machine (a network file system)."""
    try:
        st = os.fstat(fd)
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    where = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids: list[int] = []
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF"; a waiter's has "->" after the number
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == where and fields[4].isdigit():
            pid = int(fields[4])
            if pid not in pids and pid != os.getpid():
                pids.append(pid)
    return [_process(pid) for pid in pids]


def _process(pid: int) -> str:
    """``assay data push ds (pid 123, alice@host)``: the command a process runs, and whose."""
    import pwd
    import socket

    try:
        args = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
        uid = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return f"pid {pid}"
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    for i, arg in enumerate(args):  # "python -m assay data push" or ".../bin/assay data push"
        if (arg == "assay" and i and args[i - 1] == "-m") or os.path.basename(arg) == "assay":
            args = ["assay", *args[i + 1:]]
            break
    else:
        args[:1] = [os.path.basename(args[0])] if args else []
    command = "".join(c if c.isprintable() else "?" for c in " ".join(args))  # (no terminal escapes)
    command = command if len(command) <= 80 else command[:30] + "..." + command[-47:]  # (a script's name is last)
    return f"{command or '?'} (pid {pid}, {user}@{socket.gethostname()})"


def _say(message: str) -> None:
    """A note for the person waiting, on stderr (never stdout, which may carry --json)."""
    import sys

    if sys.stderr is not None:
        print(message, file=sys.stderr, flush=True)


def _store_key(ws: Workspace) -> int | None:
    """The PostgreSQL advisory lock key of the workspace's store, where one is taken (see
    the module's doc): named after the store's URL for an object store, after the ledger
    for a folder outside ``.assay/`` (each machine may mount it at another path)."""
    ledger, store = ws.config.ledger or "", ws.config.store
    if not ledger.startswith(("postgresql://", "postgres://")):
        return None
    import hashlib

    from assay.store import folder_of

    folder = folder_of(store, ws.dir)
    if folder is None:
        name = store.rstrip("/")  # one store, however its URL is spelt
        for alias, scheme in (("s3a://", "s3://"), ("gcs://", "gs://"), ("abfs://", "az://"), ("abfss://", "az://")):
            if name.startswith(alias):
                name = scheme + name[len(alias):]
        name = f"store {name}"
    elif _inside(folder, ws.dir):
        return None  # this workspace's own store: its lock file is enough
    else:
        _refuse_another_workspaces_own(folder)
        name = f"folder store of ledger {ws.ledger_id}"
    return int.from_bytes(hashlib.blake2b(f"assay {name}".encode(), digest_size=8).digest(), "big", signed=True)


def _refuse_another_workspaces_own(folder: Path) -> None:
    """Refuse a store that lies in another workspace's ``.assay/``: that workspace holds it
    with its lock file alone (see :func:`_store_key`), which this one does not take, so a gc
    from here could delete the chunks of an add there that are not recorded yet."""
    from assay.errors import UsageError

    real = Path(os.path.realpath(folder))
    for top in (real, *real.parents):
        if top.name == ".assay" and (top / "config.toml").is_file():
            raise UsageError(
                f"the store {folder} is the workspace {top.parent}'s own (it lies in its .assay/ folder): that "
                "workspace locks it with its lock file only, not in the PostgreSQL ledger, so a gc from here could "
                "delete the chunks of an add there before it records them",
                hint=f"move {top.parent}'s store to a folder outside .assay/ and name that folder as `store` in the "
                     ".assay/config.toml of both workspaces")


@contextlib.contextmanager
def store_lock(ws: Workspace, exclusive: bool, *, wait: bool = True) -> Iterator[None]:
    """The advisory lock on the workspace's store in its PostgreSQL ledger's server, where one
    is taken (see the module's doc); held on where this thread holds it already. Without
    ``wait``: :class:`Busy` if another session holds it."""
    key = _store_key(ws)
    if key is None:
        yield
        return
    held_here, sessions = holds(), _sessions()
    held = held_here.get(("store", key))
    if held is not None and (not exclusive or held == "exclusive"):
        yield  # this thread holds it already (another workspace on the same store)
        return
    if held is not None:
        raise RuntimeError("the exclusive store lock was asked for while this thread holds the shared one")
    from assay.extras import import_optional
    from assay.ledger._advisory import holders, lock_session, taking_failed

    psycopg = import_optional("psycopg", "postgres")
    ledger, store = ws.config.ledger or "", ws.config.store
    conn = lock_session(ledger, ws.root)
    try:  # held by this session: the server lets it go when the session ends, a killed process's too
        trying = "pg_try_advisory_lock" if exclusive else "pg_try_advisory_lock_shared"
        if not conn.execute(f"SELECT {trying}(%s)", (key,)).fetchone()[0]:
            if not wait:
                conn.close()
                raise Busy()
            holder = "work that adds to it or reads it" if exclusive else "a gc or a repair"
            who = holders(conn, key)
            held_by = (f" ({'; '.join(who[:3])}" + (f" and {len(who) - 3} more" if len(who) > 3 else "")
                       + ")") if who else ""
            _say(f"waiting for the lock on {store}: {holder} in another workspace holds it or waits for it"
                 + held_by)
            conn.execute("SELECT pg_advisory_lock(%s)" if exclusive else "SELECT pg_advisory_lock_shared(%s)",
                         (key,))
    except psycopg.Error as exc:
        failed = taking_failed(conn, exc, store, ws.ledger_server())
        conn.close()
        raise failed from None
    held_here[("store", key)] = "exclusive" if exclusive else "shared"
    sessions[key] = conn
    try:
        yield
    finally:
        del held_here[("store", key)]
        sessions.pop(key, None)
        # Let go at once: the server ends a closed session, and its locks, only a moment later,
        # and a gc that asks without waiting (see Workspace.lock) would find it held still.
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT pg_advisory_unlock(%s)" if exclusive else "SELECT pg_advisory_unlock_shared(%s)",
                         (key,))
        conn.close()


def check_store_lock(ws: Workspace) -> None:
    """Raise if this thread's hold of the workspace's store lock was lost with its PostgreSQL
    session (see :meth:`assay.workspace.Workspace.check_lock`)."""
    from assay.errors import ConcurrencyError

    key = _store_key(ws)
    if key is None:
        return
    conn = _sessions().get(key)
    if conn is None:
        raise RuntimeError("check_lock() was called by a thread that does not hold the store's lock")
    try:
        conn.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - whatever ended the session, the lock went with it
        raise ConcurrencyError(
            "the lock on the shared store was lost (its PostgreSQL session ended); this step was stopped "
            "before it recorded or deleted anything",
            hint="rerun; if it happens again, check whether the PostgreSQL server restarted or ends sessions "
                 "(an administrator, a connection pooler) and the network between here and it",
        ) from None


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies in it, links followed."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))
