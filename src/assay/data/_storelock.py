"""Holds on a store, honoured by every workspace that writes it: the store's own lock.

A store may be written by workspaces that share no lock: a team's folder that is also one
workspace's own store, a bucket several workspaces push to. The workspace's lock (a file
in its ``.assay/``) does not reach a push from elsewhere, so gc could delete the packs of
a push that landed after it listed the refs. Each taker therefore puts a marker in the
store itself, ``locks/<kind>-<uuid>.json`` (who, host, pid, workspace, since when), and
then lists the others'. A push, a pull or a verify of a remote holds the store *shared*:
while a gc or a repair holds it, it takes its marker back and waits. A gc, and a repair
retiring the packs it replaced, hold it *exclusive*: gc refuses while another hold is
live, a repair waits for them to end (new shared takers wait behind it); an exclusive marker
says ``"state": "waiting"`` until no other hold is live, then ``"holding"`` (so a push behind a
``gc --wait`` is told it waits, not that it deletes). A gc or a repair waits outside the
workspace's lock, which other workspaces may share (:func:`store_hold_within`). Marker first,
listing second: of two takers at once, at least one sees the other, on a local or
network file system and on S3 (which lists what was written before).

Whether a marker's holder is alive:

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
  time against the taker's own, just written), not this machine's. A holder that could
  not write its marker for most of that time stops before it records or deletes
  anything (:meth:`StoreHold.check`): it may have been judged gone.

An older assay takes no hold and sees none. A store this user cannot write (a read-only
share) is read without a hold: nothing can be written there, so no pull could stop a gc
either; a gc elsewhere could still remove a pack such a pull is about to read, and the
pull then fails on it and succeeds when rerun.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ContextManager

from assay.config import seconds_from_env
from assay.data._versions import maker
from assay.errors import AccessDeniedError, AssayError, ConcurrencyError, InputError, NotFoundError
from assay.ledger import utcnow
from assay.store import LocalStore, ObjectStore
from assay.store._local import host_tag, writer_gone

__all__ = ["LOCKS", "Marker", "StoreHold", "holds_now", "stale_seconds", "store_hold", "store_hold_within", "store_now"]

LOCKS = "locks/"
SHARED_KINDS = ("push", "pull", "verify")  # any other kind (gc, repair, a newer assay's) holds exclusive
STALE_SECONDS = 600.0
MAX_STALE_SECONDS = 86400.0  # a day: also the most another's marker may claim (see declared_stale)
_NAME = re.compile(r"([a-z]{1,16})-([0-9a-f]{32})\.json")
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


class _Unwritable(Exception):
    """The store takes no marker from this user (a read-only share)."""


class _FolderMarkers:
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
                raise _Unwritable() from None
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
            fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=self._dir)
        except OSError as exc:
            if exc.errno in _DENIED:
                raise _Unwritable() from None
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
                os.unlink(name, dir_fd=self._dir)
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
        return os.listdir(self._dir) if self._dir is not None else []

    def look(self, name: str, now: float | None) -> tuple[bool, dict[str, Any]] | None:
        """Whether the holder of ``name`` lives, and its doc; None if it is gone."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._dir)
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
            return os.stat(name, dir_fd=self._dir, follow_symlinks=False).st_mtime
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
            written = os.stat(name, dir_fd=self._dir, follow_symlinks=False).st_mtime
        except FileNotFoundError:
            return False
        pid = doc.get("pid")
        if doc.get("host_tag") == host_tag() and isinstance(pid, int) and not isinstance(pid, bool):
            return writer_gone(pid, written)
        return (now if now is not None else time.time()) - written > MAX_STALE_SECONDS

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self._dir)
        if name == self._own and self._fd is not None:  # this taker's own: its lock goes after it
            os.close(self._fd)
            self._fd = self._own = None

    def kept(self, name: str) -> bool:
        try:
            return os.stat(name, dir_fd=self._dir, follow_symlinks=False).st_ino == self._ino
        except FileNotFoundError:
            return False

    def close(self) -> None:
        for fd in (self._fd, self._dir):  # the marker is removed first: no one finds it unlocked
            if fd is not None:
                os.close(fd)
        self._fd = self._dir = None


class _ObjectMarkers:
    """Markers in an object store, kept live by being written again (see the module's doc)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def open(self, *, create: bool = True) -> None:
        pass

    def write(self, name: str, data: bytes) -> None:
        if self.store.url.startswith(("http://", "https://")):  # a web server's files: read-only by nature
            raise _Unwritable()
        try:
            self.store.put_bytes(LOCKS + name, data)
        except (AccessDeniedError, PermissionError, NotImplementedError) as exc:
            # Only a refusal: a store that cannot be reached now (a time-out, no credentials)
            # fails the command, or the push would go on unseen by a gc there.
            raise _Unwritable() from exc

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


def _clock() -> float:
    """Seconds that keep running while the machine sleeps (a laptop's lid shut counts)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME) if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic()


def _note(message: str) -> None:
    """A note for the person waiting, on stderr (never stdout, which may carry --json)."""
    if sys.stderr is not None:
        print(message, file=sys.stderr, flush=True)


class StoreHold:
    """A hold on one store (see the module's doc); ``held`` is False where the store takes
    no marker from this user (a read-only share), which is then read without one."""

    def __init__(self, store: ObjectStore, kind: str, where: str, workspace: Path | None) -> None:
        self.store, self.kind, self.where, self.exclusive = store, kind, where, kind not in SHARED_KINDS
        self.markers = _FolderMarkers(store) if isinstance(store, LocalStore) else _ObjectMarkers(store)
        self.stale = stale_seconds() if not isinstance(store, LocalStore) else None
        self.name = f"{kind}-{uuid.uuid4().hex}.json"
        self.held = False
        self.stale_removed = 0  # markers of holders gone, removed by an exclusive taker
        self._doc = {"kind": kind, "mode": "exclusive" if self.exclusive else "shared", "by": maker(),
                     "host": socket.gethostname(), "host_tag": host_tag(), "pid": os.getpid(),
                     "workspace": str(workspace) if workspace is not None else None, "started_at": utcnow()}
        if self.exclusive:  # "holding" once no other hold is live (see Marker.waiting); the same length
            self._doc["state"] = "waiting"
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        # A beat's bytes and its write, one at a time with a change of state: a beat that made
        # its bytes before would write "waiting" back over "holding".
        self._writing = threading.Lock()
        self._fresh_until = float("inf")
        self._lost = False
        self.met: list[Marker] = []  # the live holds it refused for, if it did
        self.depth = 0  # how many times this thread holds it through store_hold (see _again)

    def _data(self) -> bytes:
        return json.dumps({**self._doc, "refreshed_at": utcnow(), "stale_after": self.stale}).encode()

    def _others(self) -> list[Marker]:
        """The other live markers that matter to this taker (an exclusive one: every one; a
        shared one: the exclusive ones). Markers whose holders are gone (a push killed) it
        removes, whatever their kind: a store that no gc runs on (a team's remote) would
        otherwise collect them."""
        kinds = {name: match.group(1) for name in self.markers.listed()
                 if (match := _NAME.fullmatch(name)) and name != self.name}
        now = self.markers.now(self.name) if kinds else None  # the store's clock: asked only if needed
        found = []
        for name, kind in sorted(kinds.items()):
            seen = self.markers.look(name, now)
            if seen is None:
                continue
            live, doc = seen
            if live:
                if self.exclusive or kind not in SHARED_KINDS:
                    found.append(Marker(name, kind, live, doc))
            elif self.exclusive:
                self.markers.remove(name)  # its holder is gone (killed, or its machine down)
                self.stale_removed += 1
            elif self.markers.settled(name, doc, now):
                with contextlib.suppress(AssayError, OSError):  # a tidy-up: no reason to fail a push
                    self.markers.remove(name)
                    self.stale_removed += 1
        return found

    def acquire(self, *, wait: bool, optional: bool, settle: bool = True) -> None:
        """Take the hold (see :func:`store_hold`). ``settle=False`` (an exclusive taker's wait
        alone, see :func:`store_hold_within`): the marker says "waiting" to the end."""
        try:
            self.markers.open()
            said = False
            while True:
                self.markers.write(self.name, self._data())
                self._held()
                others = self._others()
                if self.exclusive:
                    if others and (not wait or any(m.exclusive for m in others)):
                        self.met = others
                        raise self._refused(next((m for m in others if m.exclusive), others[0]))
                    while others:  # a repair waits with its marker in place: new takers wait behind it
                        said = self._waiting(others[0], said)
                        others = self._others()
                        if any(m.exclusive for m in others):
                            self.met = others
                            raise self._refused(next(m for m in others if m.exclusive))
                    if settle:
                        self.settle()
                    return
                if not others:
                    return
                self.release(close=False)  # out of the way of the gc or repair it waits for
                said = self._waiting(others[0], said)
        except _Unwritable as exc:
            self.release()
            if not optional:
                raise (exc.__cause__ or self._unwritable()) from None
        except BaseException:
            self.release()
            raise

    def settle(self) -> None:
        """Say "holding" in an exclusive taker's marker: no other hold was live when it last
        looked, and takers that find it now wait for its deletions."""
        with self._writing:
            self._doc["state"] = "holding"
            if not self.markers.update(self.name, self._data()):
                self._lost = True  # removed as stale meanwhile: check() says so

    def _held(self) -> None:
        self.held, self._lost = True, False
        if self.stale is not None:
            self._fresh_until = _clock() + self.stale
            self._beat = threading.Thread(target=self._beating, name=f"assay-{self.kind}-hold", daemon=True)
            self._beat.start()

    def _waiting(self, other: Marker, said: bool) -> bool:
        if not said:
            _note(f"waiting for {self.where}: {other.holder()} {other.doing()}; the {self.kind} goes on when that "
                  "has ended")
        time.sleep(0.2 if self.stale is None else min(2.0, self.stale / 5))
        return True

    def _beating(self) -> None:
        assert self.stale is not None
        while not self._stop.wait(self.stale / 5):
            try:
                with self._writing:
                    kept = self.markers.refresh(self.name, self._data())
                if not kept:
                    self._lost = True
                    return
            except Exception:  # noqa: BLE001 - the network: tried again at the next beat; check() says when too late
                continue
            self._fresh_until = _clock() + self.stale

    def check(self, *, confirm: bool = False) -> None:
        """Raise before a step that relies on the hold (a deletion, a ref written) if it may
        have lapsed: its marker removed, or (object store) not written again for most of
        its stale time. ``confirm`` asks the store whether the marker is still there."""
        if not self.held:
            return
        lapsed = self._lost or _clock() > self._fresh_until - (self.stale or 0) / 5
        if not lapsed and confirm:
            lapsed = not self.markers.kept(self.name)
        if lapsed:
            raise ConcurrencyError(
                f"the hold on {self.where} lapsed ({LOCKS}{self.name} was removed or not renewed in time: was this "
                f"process paused, or the store out of reach?); this {self.kind} stopped before it recorded or deleted "
                "anything more", hint=f"rerun the {self.kind}")

    def release(self, *, close: bool = True) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
            self._beat = None
        if self.held:
            self.held = False
            with contextlib.suppress(AssayError, OSError):  # left behind, it goes stale and a gc removes it
                self.markers.remove(self.name)
        if close:
            self.markers.close()
        self._stop = threading.Event()

    def _refused(self, other: Marker) -> ConcurrencyError:
        if self.exclusive and not other.exclusive:
            why = (f"{other.holder()} is using it; a {self.kind} now could delete the packs it writes or reads")
        else:
            why = f"{other.holder()} {other.doing()}"
        gone = ("at once" if self.stale is None else
                f"after {declared_stale(other.doc):g} s without a heartbeat (ASSAY_LOCK_STALE_SECONDS)")
        wait = " (or with --wait)" if self.kind == "gc" and not other.exclusive else ""
        return ConcurrencyError(f"refusing to {self.kind} {self.where}: {why}",
                                hint=f"rerun the {self.kind} when that has ended{wait}; a process that was killed stops holding "
                                     f"the store {gone}, and the next taker there removes its marker")

    def _unwritable(self) -> InputError:
        return InputError(f"cannot {self.kind} {self.where}: this user cannot write its {LOCKS} folder",
                          hint=f"a {self.kind} needs write access to the store and the folders in it")


def store_now(store: ObjectStore) -> float:
    """The store's clock now: the time it gives a probe written now (``locks/clock-*.tmp``,
    removed at once; a name no taker reads as a marker), so that ages read off its objects'
    times are not off by this machine's clock. This machine's clock where the store takes
    no write from this user (a read-only share, a web server) or tells no times."""
    if store.url.startswith(("http://", "https://")):
        return time.time()
    key = f"{LOCKS}clock-{uuid.uuid4().hex}.tmp"
    try:
        store.put_bytes(key, b"")
    except (AccessDeniedError, PermissionError, NotImplementedError):
        return time.time()
    except OSError as exc:
        if exc.errno in _DENIED:
            return time.time()
        raise
    try:
        return store.modified(key)
    except (NotFoundError, NotImplementedError):
        return time.time()
    finally:
        with contextlib.suppress(AssayError, OSError):
            store.delete(key)


def holds_now(store: ObjectStore) -> list[Marker]:
    """The live holds on ``store`` now, looked at without taking one (what ``gc --dry-run``
    says a gc would meet): nothing is written, removed or waited for (but a clock probe,
    :func:`store_now`). A folder's marker is live if its holder's lock is (tried without
    waiting, and let go at once, as each taker does); an object store's, if written within
    its stale time by the store's clock, as a gc judges it."""
    markers = _FolderMarkers(store) if isinstance(store, LocalStore) else _ObjectMarkers(store)
    try:
        markers.open(create=False)
    except (_Unwritable, FileNotFoundError):  # no locks/ folder (no hold ever taken), or not readable
        return []
    try:
        found = []
        names = [(name, match) for name in sorted(markers.listed()) if (match := _NAME.fullmatch(name))]
        now = store_now(store) if names and not isinstance(store, LocalStore) else None  # (a folder's: by flock)
        for name, match in names:
            seen = markers.look(name, now)
            if seen is not None and seen[0]:
                found.append(Marker(name, match.group(1), True, seen[1]))
        return found
    finally:
        markers.close()


_thread = threading.local()


def _held_here() -> dict[str, StoreHold]:
    """The stores this thread holds (through :func:`store_hold`), by :func:`_store_id`."""
    held = getattr(_thread, "holds", None)
    if held is None:
        held = _thread.holds = {}
    return held


def _store_id(store: ObjectStore) -> str:
    if isinstance(store, LocalStore):
        return "folder " + os.path.realpath(store.root)
    return "url " + store.url.rstrip("/")


@contextlib.contextmanager
def _again(held: StoreHold, kind: str, optional: bool) -> Iterator[StoreHold]:
    """A thread's hold taken again by that thread: the one it holds, counted. A second
    marker would wait for the first (a verify inside a gc, for ever) or refuse it (a repair
    inside a gc); one marker serves both, and goes when the outer hold ends."""
    assert held.exclusive or kind in SHARED_KINDS  # (see _nests)
    if not held.held and not optional:  # the outer one went on without a marker (a read-only share)
        raise held._unwritable()
    held.depth += 1
    try:
        yield held
    finally:
        held.depth -= 1


def _nests(store: ObjectStore, kind: str) -> StoreHold | None:
    """The hold this thread has on ``store`` that a hold for ``kind`` nests in: any for a
    shared kind, an exclusive one for an exclusive kind. An exclusive hold inside a shared
    one is a hold of its own, which refuses at once (never waits: it would wait for itself),
    naming the shared one, as another process's would."""
    held = _held_here().get(_store_id(store))
    return held if held is not None and (held.exclusive or kind in SHARED_KINDS) else None


@contextlib.contextmanager
def _registered(hold: StoreHold) -> Iterator[StoreHold]:
    key, held = _store_id(hold.store), _held_here()
    held[key], hold.depth = hold, 1
    try:
        yield hold
    finally:
        del held[key]
        hold.depth = 0


@contextlib.contextmanager
def store_hold(store: ObjectStore, kind: str, *, where: str, workspace: Path | None = None, wait: bool = True,
               optional: bool = False) -> Iterator[StoreHold]:
    """Hold ``store`` for ``kind`` (``push``, ``pull``, ``verify``: shared; ``gc``, ``repair``:
    exclusive) until the block ends. A shared taker waits while an exclusive hold is live;
    an exclusive one waits for the others to end (``wait``) or refuses at once
    (:class:`ConcurrencyError`, naming the holder). ``optional``: a store this user may not
    write is used without a hold. ``where`` names the store in messages.

    A thread that holds the store already holds it on (counted in ``depth``; an exclusive
    hold inside a shared one refuses at once, see :func:`_nests`). Another thread of the
    same process meets the hold as another process would."""
    held = _nests(store, kind)
    if held is not None:
        with _again(held, kind, optional) as hold:
            yield hold
        return
    hold = StoreHold(store, kind, where, workspace)
    hold.acquire(wait=wait and _store_id(store) not in _held_here(), optional=optional)
    try:
        with _registered(hold):
            yield hold
    finally:
        hold.release()


@contextlib.contextmanager
def store_hold_within(lock: Callable[..., ContextManager[Any]], store: ObjectStore, kind: str, *, where: str,
                      workspace: Path | None = None, wait: bool = True) -> Iterator[StoreHold]:
    """Hold ``store`` exclusive for ``kind`` (a gc, a repair) inside ``lock()``, the workspace's
    exclusive lock (``lock(wait=False)``: taken only if free now, else
    :class:`assay._workspace_lock.Busy`), without waiting for the store's other holds while
    inside it: on a PostgreSQL ledger that lock is an advisory lock that every workspace on
    the store shares, and their commands would stall behind a taker that only waits.

    The order: the lock, then the hold without waiting. Refused by shared holds, with
    ``wait``, it lets the lock go and waits for them outside it, its marker saying "waiting"
    (new shared takers wait behind it). Once they have ended, it takes the lock if it is free
    now, marker kept: nothing can have come in between. If the lock is held, it lets its
    marker go before it waits for the lock (a verify of this store holds the lock shared
    while it waits for a marker: both would wait for ever), and starts again. Whatever the
    path, it deletes only while it holds both, with no other hold live when its marker last
    looked; an exclusive hold of another (a gc, a repair) refuses it, as ever."""
    held = _nests(store, kind)
    if held is not None:
        with _again(held, kind, False) as hold, lock():
            yield hold
        return
    wait = wait and _store_id(store) not in _held_here()  # (held shared: refused at once, see _nests)
    from assay._workspace_lock import Busy

    while True:
        with contextlib.ExitStack() as stack:
            hold = StoreHold(store, kind, where, workspace)
            stack.callback(hold.release)
            stack.enter_context(lock())
            try:
                hold.acquire(wait=False, optional=False)
            except ConcurrencyError:
                if not (wait and hold.met and not any(m.exclusive for m in hold.met)):
                    raise
            else:
                with _registered(hold):
                    yield hold
                return
        # (out of the lock) wait for the shared holds, marker in place, then the lock if free now
        with contextlib.ExitStack() as stack:
            hold = StoreHold(store, kind, where, workspace)
            stack.callback(hold.release)
            hold.acquire(wait=True, optional=False, settle=False)
            try:
                stack.enter_context(lock(wait=False))
            except Busy:
                continue  # (the marker goes first, then the lock is waited for)
            hold.settle()
            with _registered(hold):
                yield hold
            return
