"""The markers of the store's holds (see :mod:`assay.data._storelock`): where they are kept,
what they say, and whether their holders live; also what the store's clock says now.

A marker is ``locks/<kind>-<uuid>.json``, written by its holder (who, host, pid, workspace,
since when). Whether a marker's holder is alive:

- in a folder store its holder keeps ``flock`` on it, which the kernel lets go when the
  process ends, however it ends: a killed push never blocks a gc (and the next taker
  removes its marker: at once if exclusive; if shared, at once where its process was on
  this machine, else after a day). Within one kernel this
  holds through bind mounts and containers sharing the folder. On NFS, Linux turns
  ``flock`` into the server's byte-range locks (NLM, NFSv4): it holds across machines,
  and a lock of a machine that died goes when the server's lease ends (about 90 s with
  NFSv4); mounted with ``nolock`` or ``local_lock=flock`` it holds on one machine only.
- an object store has no such locks: the holder writes its marker again every fifth of
  its stale time (a heartbeat, one PUT), and a marker not written for that long (the
  time the marker itself names; ``ASSAY_LOCK_STALE_SECONDS``, 600 by default) is stale:
  ignored, and removed by the next taker. Ages are read off the store's clock (a marker's
  time against the taker's own, just written; a look without a hold writes a probe for
  it: :func:`store_now`), not this machine's.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from assay._process import host_tag, writer_gone
from assay.config import seconds_from_env
from assay.errors import AccessDeniedError, AssayError, InputError, NotFoundError
from assay.store import LocalStore, ObjectStore

__all__ = ["LOCKS", "MARKER_NAME", "MAX_STALE_SECONDS", "SHARED_KINDS", "STALE_SECONDS", "FolderMarkers", "Marker",
           "ObjectMarkers", "Unwritable", "declared_stale", "holds_now", "markers_of", "remove_left_probes",
           "stale_seconds", "store_now"]

LOCKS = "locks/"
SHARED_KINDS = ("push", "pull", "verify")  # any other kind (gc, repair, a newer assay's) holds exclusive
STALE_SECONDS = 600.0
MAX_STALE_SECONDS = 86400.0  # a day: also the most another's marker may claim (see declared_stale)
MARKER_NAME = re.compile(r"([a-z]{1,16})-([0-9a-f]{32})\.json")
_CLOCK_PROBE = re.compile(r"clock-[0-9a-f]{32}\.tmp")  # (see store_now)
_DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)


def stale_seconds() -> float:
    """How long a marker in an object store stays live without being written again."""
    # (inf and nan are refused too: a marker that never goes stale blocks a store for good)
    return seconds_from_env("ASSAY_LOCK_STALE_SECONDS", STALE_SECONDS, low=1.0, high=MAX_STALE_SECONDS,
                            unset="600 seconds", example="600")


@dataclass
class Marker:
    """Another taker's marker, as listed: ``doc`` is what it says of itself (untrusted)."""

    name: str
    kind: str
    live: bool
    doc: dict[str, Any]

    @property
    def exclusive(self) -> bool:
        return self.kind not in SHARED_KINDS

    @property
    def waiting(self) -> bool:
        """An exclusive holder that still waits for others to end (its marker says so while it
        waits; one of an older assay says nothing, and counts as at work)."""
        return self.exclusive and self.doc.get("state") == "waiting"

    def doing(self) -> str:
        """What the holder does to the store, for messages."""
        if not self.exclusive:
            return "is using it"
        return f"is waiting to {self.kind} it" if self.waiting else "is deleting from it"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "holder": self.holder(), "exclusive": self.exclusive, "waiting": self.waiting}

    def holder(self) -> str:
        d = self.doc
        said = [f"{k} {str(d[k])[:200]}" for k in ("pid", "workspace") if d.get(k) is not None]
        if d.get("started_at"):
            said.append(f"since {str(d['started_at'])[:40]}")
        who = str(d.get("by") or "an unknown user")[:200]
        return f"a {self.kind} by {who}" + (f" ({', '.join(said)})" if said else "") + f" ({LOCKS}{self.name})"


class Unwritable(Exception):
    """The store takes no marker from this user (a read-only share)."""


class FolderMarkers:
    """Markers in a folder store, each held with ``flock`` by its holder while it lives."""

    def __init__(self, store: LocalStore) -> None:
        self.path = store.root / LOCKS.rstrip("/")
        self._dir: int | None = None
        self._fd: int | None = None  # this taker's own marker, locked
        self._own: str | None = None
        self._ino = 0

    def open(self, *, create: bool = True) -> None:
        try:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(self.path)
            self._dir = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno in _DENIED:
                raise Unwritable() from None
            if exc.errno in (errno.ELOOP, errno.ENOTDIR) and self.path.is_symlink():
                raise InputError(f"{self.path} is a symlink (to {os.readlink(self.path)}): assay writes only into the "
                                 f"store {self.path.parent}'s own folders, not through links to others",
                                 hint="replace the link with a folder of its own, or remove it, then rerun") from None
            if exc.errno == errno.ENOTDIR:
                raise InputError(f"{self.path} is a file where the store {self.path.parent} keeps a folder",
                                 hint="move the file aside (it is not one assay writes), then rerun") from None
            raise

    def write(self, name: str, data: bytes) -> None:
        try:
            fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=self._at())
        except OSError as exc:
            if exc.errno in _DENIED:
                raise Unwritable() from None
            raise
        try:
            # Locked before this taker lists: another that finds it unlocked (a moment at most)
            # lists after this one, so this one sees its marker, and yields or refuses.
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, f"no space left for {self.path / name}")
            self._fd, self._ino, self._own = fd, os.fstat(fd).st_ino, name
        except BaseException:  # (a full disk): no half marker, and no locked handle left open
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=self._at())
            os.close(fd)
            raise

    def refresh(self, name: str, data: bytes) -> bool:
        return True  # the kernel keeps a folder's lock: nothing to renew

    def update(self, name: str, data: bytes) -> bool:
        """Say ``data`` in this taker's own marker instead (in place: its lock stays)."""
        assert name == self._own and self._fd is not None
        os.pwrite(self._fd, data, 0)  # (the same length as before: a reader finds the old or the new)
        os.ftruncate(self._fd, len(data))
        return True

    def listed(self) -> list[str]:
        return os.listdir(self._at())  # (closed: refused, not "none listed", which a gc would go on from)

    def look(self, name: str, now: float | None) -> tuple[bool, dict[str, Any]] | None:
        """Whether the holder of ``name`` lives, and its doc; None if it is gone."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._at())
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            doc = _doc(os.read(fd, 8192))
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True, doc
            return False, doc
        finally:
            os.close(fd)

    def now(self, name: str) -> float | None:
        """The file server's clock (a network folder's mtimes are its): when this taker's own
        marker was written."""
        try:
            return os.stat(name, dir_fd=self._at(), follow_symlinks=False).st_mtime
        except FileNotFoundError:
            return None

    def settled(self, name: str, doc: dict[str, Any], now: float | None) -> bool:
        """Whether a marker found unlocked is surely a dead holder's, for a shared taker to
        remove (an exclusive one removes it at once: its new holder lists after, and yields).
        Unlocked, it may also be a holder's between creating and locking it, or, on a file
        server mounted without shared locks (NFS ``nolock``, ``local_lock=flock``), a live
        holder's on another machine. So: a process of this machine (its host tag) that is
        gone, or a marker a day old by the store's clock (``now``, :meth:`now`)."""
        try:
            written = os.stat(name, dir_fd=self._at(), follow_symlinks=False).st_mtime
        except FileNotFoundError:
            return False
        pid = doc.get("pid")
        if doc.get("host_tag") == host_tag() and isinstance(pid, int) and not isinstance(pid, bool):
            return writer_gone(pid, written)
        return (now if now is not None else time.time()) - written > MAX_STALE_SECONDS

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self._at())
        if name == self._own and self._fd is not None:  # this taker's own: its lock goes after it
            os.close(self._fd)
            self._fd = self._own = None

    def kept(self, name: str) -> bool:
        try:
            return os.stat(name, dir_fd=self._at(), follow_symlinks=False).st_ino == self._ino
        except FileNotFoundError:
            return False

    def _at(self) -> int:
        """The locks folder's handle: every name is opened relative to it. Closed, a name would
        be taken relative to the current folder: refused (a hold released by another thread
        while this one still takes it)."""
        if self._dir is None:
            raise RuntimeError(f"the markers of {self.path} are closed")
        return self._dir

    def close(self) -> None:
        for fd in (self._fd, self._dir):  # the marker is removed first: no one finds it unlocked
            if fd is not None:
                os.close(fd)
        self._fd = self._dir = None


class ObjectMarkers:
    """Markers in an object store, kept live by being written again (see the module's doc)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def open(self, *, create: bool = True) -> None:
        pass

    def write(self, name: str, data: bytes) -> None:
        if self.store.url.startswith(("http://", "https://")):  # a web server's files: read-only by nature
            raise Unwritable()
        try:
            self.store.put_bytes(LOCKS + name, data)
        except (AccessDeniedError, PermissionError, NotImplementedError) as exc:
            # Only a refusal: a store that cannot be reached now (a time-out, no credentials)
            # fails the command, or the push would go on unseen by a gc there.
            raise Unwritable() from exc

    def refresh(self, name: str, data: bytes) -> bool:
        if not self.store.exists(LOCKS + name):
            return False  # a gc judged it stale and removed it: not written again
        self.store.put_bytes(LOCKS + name, data)
        return True

    def update(self, name: str, data: bytes) -> bool:
        return self.refresh(name, data)  # (one removed as stale is not written back: see check)

    def listed(self) -> list[str]:
        return [key[len(LOCKS):] for key in self.store.list(LOCKS)]

    def look(self, name: str, now: float | None) -> tuple[bool, dict[str, Any]] | None:
        try:
            age = (now if now is not None else time.time()) - self.store.modified(LOCKS + name)
            doc = _doc(self.store.get_bytes(LOCKS + name))
        except NotFoundError:
            return None
        return age <= declared_stale(doc), doc

    def settled(self, name: str, doc: dict[str, Any], now: float | None) -> bool:
        return True  # stale by age already: its holder, were it alive, is judged gone

    def now(self, name: str) -> float | None:
        """The store's clock: when this taker's own marker was written."""
        try:
            return self.store.modified(LOCKS + name)
        except (NotFoundError, NotImplementedError):
            return None

    def remove(self, name: str) -> None:
        self.store.delete(LOCKS + name)

    def kept(self, name: str) -> bool:
        return self.store.exists(LOCKS + name)

    def close(self) -> None:
        pass


def declared_stale(doc: dict[str, Any]) -> float:
    """The stale time a marker names for itself (its holder's setting), else the default."""
    stale = doc.get("stale_after")
    if not isinstance(stale, (int, float)) or isinstance(stale, bool) or stale != stale:  # (nan != nan)
        return STALE_SECONDS
    return min(MAX_STALE_SECONDS, max(1.0, float(stale)))  # a marker cannot hold a store for longer than a day


def _doc(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def markers_of(store: ObjectStore) -> FolderMarkers | ObjectMarkers:
    """The markers of ``store``: held with ``flock`` in a folder, kept live by writes elsewhere."""
    return FolderMarkers(store) if isinstance(store, LocalStore) else ObjectMarkers(store)


def store_now(store: ObjectStore) -> float:
    """The store's clock now: the time it gives a probe written now (``locks/clock-*.tmp``,
    removed at once, as are those a day old that a killed look left: :func:`remove_left_probes`;
    a name no taker reads as a marker), so that ages read off its objects' times are not off by
    this machine's clock. This machine's clock where the store takes no write from this user
    (a read-only share, a web server, a full disk) or tells no times."""
    if store.url.startswith(("http://", "https://")):
        return time.time()
    key = f"{LOCKS}clock-{uuid.uuid4().hex}.tmp"
    try:
        store.put_bytes(key, b"")
    except (AccessDeniedError, PermissionError, NotImplementedError):
        return time.time()
    except OSError as exc:
        if exc.errno in (*_DENIED, errno.ENOSPC, errno.EDQUOT):  # (a look at a full store still reads)
            return time.time()
        raise
    try:
        now = store.modified(key)
    except (NotFoundError, NotImplementedError):
        return time.time()
    finally:
        with contextlib.suppress(AssayError, OSError):
            store.delete(key)
    with contextlib.suppress(AssayError, OSError):  # a tidy-up: one listing of locks/
        remove_left_probes(store, [k[len(LOCKS):] for k in store.list(LOCKS)], now)
    return now


def remove_left_probes(store: ObjectStore, names: list[str], now: float) -> int:
    """Remove, of ``names`` in ``locks/``, the probes of :func:`store_now` a look left when it was
    killed, once a day old by the store's clock (``now``): a younger one may be a live look's,
    paused between its write and its read. A tidy-up: nothing fails for it. How many went."""
    removed = 0
    for name in names:
        if _CLOCK_PROBE.fullmatch(name):
            with contextlib.suppress(AssayError, OSError):
                if now - store.modified(LOCKS + name) > MAX_STALE_SECONDS:
                    store.delete(LOCKS + name)
                    removed += 1
    return removed


def holds_now(store: ObjectStore) -> list[Marker]:
    """The live holds on ``store`` now, looked at without taking one (what ``gc --dry-run``
    says a gc would meet): nothing is written, removed or waited for (but a clock probe,
    :func:`store_now`). A folder's marker is live if its holder's lock is (tried without
    waiting, and let go at once, as each taker does); an object store's, if written within
    its stale time by the store's clock, as a gc judges it."""
    markers = markers_of(store)
    try:
        markers.open(create=False)
    except (Unwritable, FileNotFoundError):  # no locks/ folder (no hold ever taken), or not readable
        return []
    try:
        found = []
        names = [(name, match) for name in sorted(markers.listed()) if (match := MARKER_NAME.fullmatch(name))]
        now = store_now(store) if names and not isinstance(store, LocalStore) else None  # (a folder's: by flock)
        for name, match in names:
            seen = markers.look(name, now)
            if seen is not None and seen[0]:
                found.append(Marker(name, match.group(1), True, seen[1]))
        return found
    finally:
        markers.close()
