"""Holds on a store, honoured by every workspace that writes it: the store's own lock.

A store may be written by workspaces that share no lock: a team's folder that is also one
workspace's own store, a bucket several workspaces push to. The workspace's lock (a file
in its ``.assay/``) does not reach a push from elsewhere, so gc could delete the packs of
a push that landed after it listed the refs. Each taker therefore puts a marker in the
store itself, ``locks/<kind>-<uuid>.json`` (who, host, pid, workspace, since when), and
then lists the others'. A push, a pull or a verify of a remote holds the store *shared*:
while a gc or a repair holds it, it takes its marker back and waits. A gc, and a repair
retiring the packs it replaced, hold it *exclusive*: gc refuses while another hold is
live, a repair (and ``gc --wait``) waits for them to end (new shared takers wait behind it; of
two exclusive takers, one that may have been missed by the other yields to it); an exclusive marker
says ``"state": "waiting"`` until no other hold is live, then ``"holding"`` (so a push behind a
``gc --wait`` is told it waits, not that it deletes). A taker that holds the workspace's lock
too (which other workspaces may share) waits outside it: a gc or a repair, and a push, a pull
or a verify for one (:func:`store_hold_within`). Marker first, listing second: of two takers
at once, at least one sees the other, on a local or network file system and on S3 (which
lists what was written before).

Whether a marker's holder is alive (a lock the kernel holds for it in a folder store, a
heartbeat elsewhere) is :mod:`assay.data._storemarkers`'s. A holder that could not renew its
marker in time stops before it records or deletes anything (:meth:`StoreHold.check`): it
may have been judged gone.

An older assay takes no hold and sees none. A store this user cannot write (a read-only
share) is read without a hold: nothing can be written there, so no pull could stop a gc
either; a gc elsewhere could still remove a pack such a pull is about to read, and the
pull then fails on it and succeeds when rerun.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ContextManager

from assay._process import host_tag
from assay.data._storemarkers import (
    LOCKS,
    MARKER_NAME,
    SHARED_KINDS,
    Marker,
    Unwritable,
    declared_stale,
    markers_of,
    remove_left_probes,
    stale_seconds,
)
from assay.data._versions import maker
from assay.errors import AssayError, ConcurrencyError, InputError
from assay.ledger import utcnow
from assay.store import LocalStore, ObjectStore

__all__ = ["LOCKS", "Marker", "StoreHold", "stale_seconds", "store_hold", "store_hold_within"]

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
        self.markers = markers_of(store)
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
        self._listed: set[str] = set()  # the names its last look found in locks/
        self.depth = 0  # how many times this thread holds it through store_hold (see _again)

    def _data(self) -> bytes:
        return json.dumps({**self._doc, "refreshed_at": utcnow(), "stale_after": self.stale}).encode()

    def _others(self) -> list[Marker]:
        """The other live markers that matter to this taker (an exclusive one: every one; a
        shared one: the exclusive ones). Markers whose holders are gone (a push killed) it
        removes, whatever their kind: a store that no gc runs on (a team's remote) would
        otherwise collect them. An exclusive one also removes the clock probes killed looks left."""
        listed = self.markers.listed()
        self._listed = set(listed)
        kinds = {name: match.group(1) for name in listed if (match := MARKER_NAME.fullmatch(name)) and name != self.name}
        probes = self.exclusive and any(name.startswith("clock-") for name in listed)  # (see remove_left_probes)
        now = self.markers.now(self.name) if kinds or probes else None  # the store's clock: asked only if needed
        if probes and now is not None:
            remove_left_probes(self.store, listed, now)  # (not markers: not counted in stale_removed)
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
                    if others and not wait:
                        self.met = others
                        raise self._refused(next((m for m in others if m.exclusive), others[0]))
                    # Another exclusive taker listed before this marker may have missed it: this one
                    # yields to it (marker taken back, written anew after a while). One whose marker a
                    # listing of this one's missed lists after this marker was written, finds it, and
                    # yields (or refuses, without wait): this one goes on, marker in place.
                    before = {m.name for m in others if m.exclusive}
                    while not (yields := [m for m in others if m.exclusive and (m.name in before or not m.waiting)]):
                        shared = [m for m in others if not m.exclusive]
                        if not shared:
                            if settle:
                                self.settle()
                            return
                        said = self._waiting(shared[0], said)  # with its marker in place: new takers wait behind it
                        if self._lost:  # its marker lapsed meanwhile (see _beating): written anew, then listing
                            break
                        others = self._others()
                        before &= self._listed
                    self.release(close=False)
                    if yields:  # after a while (random, so that two that yield to each other part)
                        said = self._waiting(yields[0], said, scatter=True)
                    continue
                if not others:
                    return
                if not wait:  # (a shared taker inside the workspace's lock: see store_hold_within)
                    self.met = others
                    raise self._refused(others[0])
                self.release(close=False)  # out of the way of the gc or repair it waits for
                said = self._waiting(others[0], said)
        except Unwritable as exc:
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

    def _waiting(self, other: Marker, said: bool, *, scatter: bool = False) -> bool:
        if not said:
            _note(f"waiting for {self.where}: {other.holder()} {other.doing()}; the {self.kind} goes on when that "
                  "has ended")
        pause = 0.2 if self.stale is None else min(2.0, self.stale / 5)
        time.sleep(pause * random.uniform(0.5, 1.5) if scatter else pause)
        return True

    def _beating(self) -> None:
        assert self.stale is not None
        while not self._stop.wait(self.stale / 5):
            began = _clock()
            try:
                with self._writing:
                    kept = self.markers.refresh(self.name, self._data())
            except Exception:  # noqa: BLE001 - the network: tried again at the next beat; check() says when too late
                continue
            # A write that lands once check() would say lapsed (held up, or the process paused) may
            # put back a marker a gc judged stale and removed (between refresh's look and its write):
            # that gc went on, so the hold stays lapsed.
            if not kept or _clock() > self._fresh_until - self.stale / 5:
                self._lost = True
                return
            self._fresh_until = began + self.stale

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
        wait = " (or with --wait)" if self.kind == "gc" else ""
        return ConcurrencyError(f"refusing to {self.kind} {self.where}: {why}",
                                hint=f"rerun the {self.kind} when that has ended{wait}; a process that was killed stops holding "
                                     f"the store {gone}, and the next taker there removes its marker")

    def _unwritable(self) -> InputError:
        return InputError(f"cannot {self.kind} {self.where}: this user cannot write its {LOCKS} folder",
                          hint=f"a {self.kind} needs write access to the store and the folders in it")


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
    outer = held.get(key)  # (a shared hold this one could not nest in, were it taken after all)
    held[key], hold.depth = hold, 1
    try:
        yield hold
    finally:
        if outer is None:
            del held[key]
        else:
            held[key] = outer
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


_KEEP_FOR_LOCK = 30.0  # seconds an exclusive taker tries a busy workspace lock with its marker kept
_LOCK_POLL = 0.1


@contextlib.contextmanager
def _lock_soon(lock: Callable[..., ContextManager[Any]], seconds: float) -> Iterator[None]:
    """``lock(wait=False)``, tried again until it is taken or ``seconds`` have passed (then
    :class:`assay._workspace_lock.Busy`, as it raised)."""
    from assay._workspace_lock import Busy

    end = time.monotonic() + seconds
    pause = _LOCK_POLL
    while True:
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(lock(wait=False))
        except Busy:
            if time.monotonic() >= end:
                raise
            time.sleep(pause)
            pause = min(pause * 1.5, 1.0)  # (each try on a PostgreSQL ledger is a new session: not ten a second)
            continue
        with stack:
            yield
        return


@contextlib.contextmanager
def store_hold_within(lock: Callable[..., ContextManager[Any]], store: ObjectStore, kind: str, *, where: str,
                      workspace: Path | None = None, wait: bool = True, optional: bool = False) -> Iterator[StoreHold]:
    """Hold ``store`` for ``kind`` inside ``lock()``, the workspace's lock (exclusive for a gc or
    a repair, shared for a push, a pull or a verify; ``lock(wait=False)``: taken only if free
    now, else :class:`assay._workspace_lock.Busy`), without waiting for the store's other holds
    while inside it: on a PostgreSQL ledger that lock is an advisory lock that every workspace
    on the store shares, and their commands would stall behind a taker that only waits (a
    push waiting for a gc of its remote: a gc of this store queues behind the push, and every
    add behind the gc).

    The order: the lock, then the hold without waiting. Refused by other holds, with
    ``wait``, it lets the lock go and waits for them outside it, its marker saying "waiting"
    if exclusive (new shared takers wait behind it; a shared taker waits with no marker in
    place, as :func:`store_hold`'s does). Once they have ended, it takes the lock if it is
    free now, marker kept: nothing can have come in between. If the lock is held, an exclusive
    taker keeps its marker while it tries the lock again for a while (``_KEEP_FOR_LOCK``: an
    add or a checkout ends, and the pushes that came meanwhile wait behind the marker, so a
    stream of adds and pushes cannot put a ``gc --wait`` off for ever); then, or at once for
    a shared taker, it lets its marker go before it waits for the lock (a taker that holds the
    lock shared and waits for a marker, an older assay's verify, would wait for ever with
    it), and starts again. So no taker waits for a marker while it holds the lock, nor for
    the lock, beyond that while, while it holds a marker.
    Whatever the path, a gc deletes only while it holds both, with no other hold live when
    its marker last looked, and a push holds its marker from before it looks at the store
    until it ends. Another exclusive hold (a gc, a repair) is waited for too, with ``wait``;
    ``optional`` as for :func:`store_hold` (a shared kind's)."""
    held = _nests(store, kind)
    if held is not None:
        with _again(held, kind, optional) as hold, lock():
            yield hold
        return
    wait = wait and _store_id(store) not in _held_here()  # (held shared: refused at once, see _nests)
    from assay._workspace_lock import Busy

    while True:
        # (the marker goes before the lock, on every path: a taker queued for the lock finds it gone)
        with contextlib.ExitStack() as stack:
            stack.enter_context(lock())
            hold = StoreHold(store, kind, where, workspace)
            stack.callback(hold.release)
            try:
                hold.acquire(wait=False, optional=optional)
            except ConcurrencyError:
                if not (wait and hold.met):
                    raise
            else:
                with _registered(hold):
                    yield hold
                return
        # (out of the lock) wait for the holds it met, then the lock if free now
        with contextlib.ExitStack() as stack:
            hold = StoreHold(store, kind, where, workspace)
            # (from before it is taken to the end, whatever comes between, a KeyboardInterrupt
            # too: a marker left with its lock or heartbeat kept would hold off gc for good)
            stack.callback(hold.release)
            hold.acquire(wait=True, optional=optional, settle=False)  # (lets its marker go if it fails)
            try:
                stack.enter_context(_lock_soon(lock, _KEEP_FOR_LOCK if hold.exclusive else 0.0))
            except Busy:
                continue  # (the marker goes first, then the lock is waited for)
            stack.callback(hold.release)  # (again: now before the lock goes)
            if hold.exclusive:
                hold.settle()
            with _registered(hold):
                yield hold
            return
