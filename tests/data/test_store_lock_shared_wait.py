"""A push, a pull (or a verify) that must wait for a gc or a repair holding the store it uses
waits without holding the workspace's lock: on a PostgreSQL ledger that lock is an advisory
lock every workspace on the store shares, and a gc there queued behind the waiting push, and
every add behind the gc (found by review). A `gc --wait` is not starved by pushes that come
while it waits: they queue behind its marker."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assay.data import add, add_remote, push, verify
from assay.data._remote import open_remote
from assay.data._storelock import LOCKS, StoreHold, store_hold
from assay.data._versions import all_versions
from assay.workspace import Workspace
from tests._lines import line_within

ASSAY = [sys.executable, "-m", "assay"]
ENV = {**os.environ, "ASSAY_PROGRESS": "0"}


def _lines_until(proc: subprocess.Popen[str], seen: str, within: float = 30) -> str:
    """stderr of ``proc`` until a line holding ``seen``, or its end (it exited)."""
    out = ""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        line = line_within(proc.stderr, deadline - time.monotonic())
        out += line
        if not line or seen in line:
            break
    return out


def _until(what, within: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not what():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _markers(folder: Path, kind: str) -> list[str]:
    return [p.name for p in (folder / LOCKS).iterdir() if p.name.startswith(f"{kind}-")] if (folder / LOCKS).is_dir() else []


@pytest.mark.parametrize("verb", ["push", "pull"])
def test_an_add_elsewhere_goes_on_while_a_push_waits_for_a_gc_of_the_remote(tmp_path: Path, pg_database: str,
                                                                          verb: str) -> None:
    store, team = str(tmp_path / "shared"), tmp_path / "remote"
    here = Workspace.init(tmp_path / "a", ledger=pg_database, store=store)
    there = Workspace.init(tmp_path / "b", ledger=pg_database, store=store)
    (here.root / "x.txt").write_text("x\n")
    add(here, [here.root / "x.txt"], name="x")
    add_remote(here, "origin", str(team), default=True)
    push(here, "x")
    (here.root / "z.txt").write_text("z\n")
    add(here, [here.root / "z.txt"], name="z")  # something left to push
    (there.root / "y.txt").write_text("y\n")
    collecting = StoreHold(open_remote(here, "origin")[1], "gc", "the store", tmp_path / "bob")  # a gc of the remote
    collecting.acquire(wait=False, optional=False)
    waiting = subprocess.Popen([*ASSAY, "data", verb], cwd=here.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=ENV)
    gc = None
    try:
        assert "waiting for remote origin" in _lines_until(waiting, "waiting for remote origin")
        # a gc of the shared store from another workspace: queued behind a push holding the ledger's
        # lock, it held up every add after it
        gc = subprocess.Popen([*ASSAY, "data", "gc"], cwd=there.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=ENV)
        said = _lines_until(gc, "waiting for the lock on", within=20)
        started = time.monotonic()
        adding = subprocess.run([*ASSAY, "data", "add", "y.txt", "--name", "y"], cwd=there.root, capture_output=True,
                                text=True, env=ENV, timeout=30)
        assert adding.returncode == 0, adding.stderr
        assert time.monotonic() - started < 20 and "waiting for the lock on" not in adding.stderr
        assert "waiting for the lock on" not in said
        _, err = gc.communicate(timeout=30)
        assert gc.returncode == 0, err
        assert waiting.poll() is None  # the push (pull) still waits for the gc of the remote
    finally:
        collecting.release()
        if gc is not None and gc.poll() is None:
            gc.kill()
    _, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert sorted(v.dataset for v in all_versions(there)) == ["x", "y", "z"]
    assert verify(there, all_objects=True).ok
    assert verify(here, remote="origin").ok
    here.close()
    there.close()


def test_the_ledger_s_lock_is_free_while_a_push_waits_for_a_gc_of_the_remote(tmp_path: Path, pg_database: str) -> None:
    from assay._workspace_lock import Busy

    store = str(tmp_path / "shared")
    here = Workspace.init(tmp_path / "a", ledger=pg_database, store=store)
    there = Workspace.init(tmp_path / "b", ledger=pg_database, store=store)
    (here.root / "x.txt").write_text("x\n")
    add(here, [here.root / "x.txt"], name="x")
    (tmp_path / "remote").mkdir()  # (a remote not pushed to yet is made by its first push, not by `remote add`)
    add_remote(here, "origin", str(tmp_path / "remote"), default=True)
    collecting = StoreHold(open_remote(here, "origin")[1], "gc", "the store", tmp_path / "bob")
    collecting.acquire(wait=False, optional=False)
    done: list[object] = []
    thread = threading.Thread(target=lambda: done.append(push(here, "x")))
    try:
        thread.start()
        time.sleep(1.0)  # the push has met the gc's marker (it polls every 0.2 s)
        assert not done
        try:
            with there.lock(exclusive=True, wait=False):  # what a gc of the shared store takes
                pass
        except Busy:
            pytest.fail("the push held the ledger's lock while it waited for the gc of the remote")
    finally:
        collecting.release()
    thread.join(60)
    assert done and done[0].versions == ["x@v1"]  # type: ignore[attr-defined]
    here.close()
    there.close()


def test_a_verify_of_the_store_waits_for_a_repair_there_outside_the_lock(tmp_path: Path, pg_database: str) -> None:
    # a repair of this store as another workspace's remote (`push --repair`) holds it without
    # this ledger's lock: a verify here waited for it inside that lock
    from assay._workspace_lock import Busy

    store = str(tmp_path / "shared")
    here = Workspace.init(tmp_path / "a", ledger=pg_database, store=store)
    there = Workspace.init(tmp_path / "b", ledger=pg_database, store=store)
    (here.root / "x.txt").write_text("x\n")
    add(here, [here.root / "x.txt"], name="x")
    mending = StoreHold(here.store, "repair", "remote team", tmp_path / "bob")
    mending.acquire(wait=False, optional=False)
    done: list[object] = []
    thread = threading.Thread(target=lambda: done.append(verify(here, all_objects=True)))
    try:
        thread.start()
        time.sleep(1.0)
        assert not done
        try:
            with there.lock(exclusive=True, wait=False):
                pass
        except Busy:
            pytest.fail("the verify held the ledger's lock while it waited for the repair")
    finally:
        mending.release()
    thread.join(60)
    assert done and done[0].ok  # type: ignore[attr-defined]
    here.close()
    there.close()


def test_a_gc_wait_goes_before_the_pushes_that_come_while_it_waits(tmp_path: Path) -> None:
    # the store is another workspace's remote: pushes keep coming, each (but the first) after
    # the gc began to wait; none of them may take the store before the gc has run
    ws = Workspace.init(tmp_path / "w")
    (ws.root / "x.txt").write_text("x\n")
    add(ws, [ws.root / "x.txt"], name="x")
    pusher = Workspace.init(tmp_path / "p")
    add_remote(pusher, "team", str(ws.store.root), default=True)
    first = StoreHold(ws.store, "push", "remote team", tmp_path / "alice")
    first.acquire(wait=True, optional=False)
    gc = subprocess.Popen([*ASSAY, "data", "gc", "--wait"], cwd=ws.root, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=ENV)
    came: list[tuple[str, list[str]]] = []  # each later push, and the gc markers there when it got in

    def holding(name: str) -> None:
        with store_hold(ws.store, "push", where="remote team", workspace=tmp_path / name):
            came.append((name, _markers(ws.store.root, "gc")))
            time.sleep(0.3)  # overlapping the next one

    def pushing(i: int) -> None:
        (pusher.root / f"p{i}.txt").write_text(f"{i}\n")
        add(pusher, [pusher.root / f"p{i}.txt"], name=f"p{i}")
        push(pusher, f"p{i}")
        came.append((f"push {i}", []))

    threads: list[threading.Thread] = []
    try:
        _until(lambda: _markers(ws.store.root, "gc"))
        for i in range(4):  # a stream of takers, each arriving while the one before is still waiting
            threads.append(threading.Thread(target=holding, args=(f"bob{i}",)))
            threads[-1].start()
            time.sleep(0.3)
        threads.append(threading.Thread(target=pushing, args=(0,)))
        threads[-1].start()
        time.sleep(1.0)
        assert not came, came  # all queued behind the waiting gc
        assert gc.poll() is None
    finally:
        first.release()
    out, err = gc.communicate(timeout=60)
    assert gc.returncode == 0, err
    for thread in threads:
        thread.join(60)
    assert len(came) == 5
    assert all(not markers for _, markers in came), came  # none got in while the gc held or waited
    assert verify(pusher, remote="team").ok
    ws.close()
    pusher.close()


@pytest.mark.parametrize("kind", ["push", "gc"])
@pytest.mark.parametrize("waited", [False, True])
def test_the_marker_goes_before_the_lock(tmp_path: Path, kind: str, waited: bool) -> None:
    # a taker queued for the lock (a plain gc behind a verify) found the marker of the one
    # before it still there, and refused
    import contextlib

    from assay.data._storelock import store_hold_within
    from assay.store import LocalStore

    store = LocalStore(tmp_path / "s")
    events: list[str] = []

    @contextlib.contextmanager
    def lock(**kw):  # type: ignore[no-untyped-def]
        events.append("lock")
        yield
        events.append(f"unlock ({len(_markers(store.root, kind))} marker)")

    other = StoreHold(store, "gc" if kind == "push" else "push", "the store", tmp_path / "bob")
    if waited:  # met under the lock: waited for outside it, then the lock taken without waiting
        other.acquire(wait=False, optional=False)
        threading.Timer(0.5, other.release).start()
    with store_hold_within(lock, store, kind, where="the store", workspace=tmp_path / "w"):
        assert len(_markers(store.root, kind)) == 1
    assert events == (["lock", "unlock (0 marker)"] * (1 + waited))


def test_a_gc_wait_that_waits_for_the_lock_keeps_the_pushes_behind_it(tmp_path: Path) -> None:
    # Its marker went while it waited for the lock (an add under way), and a push that came
    # then went first: with adds and pushes that never stop, gc --wait could wait for ever.
    # It keeps its marker while it tries the lock for a while (_KEEP_FOR_LOCK).
    ws = Workspace.init(tmp_path / "w")
    (ws.root / "x.txt").write_text("x\n")
    add(ws, [ws.root / "x.txt"], name="x")
    first = StoreHold(ws.store, "push", "remote team", tmp_path / "alice")
    first.acquire(wait=True, optional=False)
    gc = subprocess.Popen([*ASSAY, "data", "gc", "--wait"], cwd=ws.root, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=ENV)
    inside, leave = threading.Event(), threading.Event()

    def adding() -> None:  # an add (or a checkout) of this workspace, under way
        with ws.lock():
            inside.set()
            leave.wait(60)

    reader = threading.Thread(target=adding)
    later = StoreHold(ws.store, "push", "remote team", tmp_path / "bob")
    got_in: list[list[str]] = []
    pushing = threading.Thread(target=lambda: (later.acquire(wait=True, optional=False),
                                               got_in.append(_markers(ws.store.root, "gc"))))
    try:
        _until(lambda: _markers(ws.store.root, "gc"))
        reader.start()
        assert inside.wait(30)
        first.release()  # the gc's wait for pushes ends; the lock is held
        time.sleep(1.0)
        pushing.start()
        time.sleep(1.0)
        assert not got_in, "a push came in while the gc waited for the workspace's lock"
    finally:
        first.release()
        leave.set()
        reader.join(30)
        out, err = gc.communicate(timeout=60)
        if pushing.ident is not None:
            pushing.join(30)  # the push goes in once the gc has ended (released from here, it took the hold on)
        later.release()
    assert gc.returncode == 0, err
    assert got_in == [[]]  # in after the gc, whose marker was gone
    ws.close()


def test_a_gc_wait_lets_its_marker_go_if_the_lock_stays_held_by_a_taker_waiting_for_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An older assay's verify holds the workspace's lock (shared) and waits for a gc's marker
    # to go: a gc that kept its marker while it waited for that lock would wait with it for
    # ever. It keeps it only for _KEEP_FOR_LOCK, then lets it go and waits for the lock.
    from assay.data import _storelock, gc

    monkeypatch.setattr(_storelock, "_KEEP_FOR_LOCK", 1.0)
    ws = Workspace.init(tmp_path / "w")
    (ws.root / "x.txt").write_text("x\n")
    add(ws, [ws.root / "x.txt"], name="x")
    root = ws.root
    ws.close()
    first = StoreHold(Workspace.open(root).store, "push", "remote team", tmp_path / "alice")
    first.acquire(wait=True, optional=False)
    done: list[object] = []

    def collecting() -> None:
        mine = Workspace.open(root)
        try:
            done.append(gc(mine, wait=True))
        except BaseException as exc:  # noqa: BLE001 - said by the assertion below
            done.append(exc)
        finally:
            mine.close()

    collector = threading.Thread(target=collecting)
    collector.start()
    gone: list[float] = []
    try:
        _until(lambda: _markers(root / ".assay" / "objects", "gc"))
        other = Workspace.open(root)
        with other.lock():  # the older verify: the lock held, then a wait for the gc's marker
            first.release()  # the gc's wait for pushes ends; the lock is held
            began = time.monotonic()
            _until(lambda: not _markers(root / ".assay" / "objects", "gc"), within=20)
            gone.append(time.monotonic() - began)
        other.close()
    finally:
        first.release()
        collector.join(60)
    assert not collector.is_alive() and len(done) == 1 and not isinstance(done[0], BaseException), done
    assert 0.5 < gone[0] < 15, gone  # kept for about _KEEP_FOR_LOCK, then let go


def test_markers_closed_by_another_thread_are_not_written_in_the_current_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A hold released by another thread while its taker was still taking it wrote the
    # taker's marker (push-<id>.json) into the process's current folder.
    from assay.data._storemarkers import FolderMarkers

    ws = Workspace.init(tmp_path / "w")
    monkeypatch.chdir(tmp_path)
    markers = FolderMarkers(ws.store)
    markers.open()
    markers.close()
    with pytest.raises(RuntimeError, match="are closed"):
        markers.write("push-x.json", b"{}")
    with pytest.raises(RuntimeError, match="are closed"):
        markers.look("push-x.json", None)
    assert not list(tmp_path.glob("*.json"))
    ws.close()


def test_markers_closed_list_nothing_only_by_refusing(tmp_path: Path) -> None:
    # A closed folder's listing read as empty: an exclusive taker whose markers were closed
    # under it (a hold released by another thread, as above) found no other hold, and a gc
    # would have gone on to delete.
    from assay.data._storemarkers import FolderMarkers

    ws = Workspace.init(tmp_path / "w")
    markers = FolderMarkers(ws.store)
    markers.open()
    markers.close()
    with pytest.raises(RuntimeError, match="are closed"):
        markers.listed()
    ws.close()


def test_an_interrupt_once_the_lock_is_taken_after_a_wait_lets_the_marker_go(tmp_path: Path) -> None:
    # After waiting for a gc outside the lock, a taker takes the lock, then ties its marker's
    # release to it: a KeyboardInterrupt between the two left the marker (locked, or kept
    # beating on an object store) for as long as the process lived, and every gc refused.
    import inspect

    from assay.data._storelock import store_hold_within

    ws = Workspace.init(tmp_path / "w")
    gc = StoreHold(ws.store, "gc", "the store", None)
    gc.acquire(wait=False, optional=False)
    threading.Timer(0.5, gc.release).start()
    lines, first = inspect.getsourcelines(store_hold_within)
    after_wait = next(i for i, line in enumerate(lines) if "_lock_soon(" in line)
    target = first + next(i for i in range(after_wait, len(lines)) if "stack.callback(hold.release)" in lines[i])
    code = store_hold_within.__wrapped__.__code__  # type: ignore[attr-defined]

    def tracer(frame, event, arg):  # type: ignore[no-untyped-def]
        if frame.f_code is not code:
            return None

        def line(frame, event, arg):  # type: ignore[no-untyped-def]
            if event == "line" and frame.f_lineno == target:
                sys.settrace(None)
                raise KeyboardInterrupt
            return line
        return line

    sys.settrace(tracer)
    try:
        with pytest.raises(KeyboardInterrupt):
            with store_hold_within(ws.lock, ws.store, "push", where="the store"):
                pass
    finally:
        sys.settrace(None)
    assert _markers(ws.store.root, "push") == []
    with ws.lock(exclusive=True, wait=False):  # the lock went too
        pass
    ws.close()
