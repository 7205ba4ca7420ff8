"""`gc --wait` (and a repair) wait for the store's other holds without holding the workspace's
lock: on a PostgreSQL ledger that lock is an advisory lock every workspace on the store
shares, so commands elsewhere stalled behind a gc that was only waiting (found by review)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from assay.data import add, verify
from assay.data._storelock import LOCKS, StoreHold
from assay.data._versions import all_versions
from assay.workspace import Workspace
from tests._lines import line_within

ASSAY = [sys.executable, "-m", "assay"]
ENV = {**os.environ, "ASSAY_PROGRESS": "0"}


def _first_line(proc: subprocess.Popen[str], within: float = 30) -> str:
    return line_within(proc.stderr, within)


def test_an_add_elsewhere_goes_on_while_a_gc_waits_for_a_push(tmp_path: Path, pg_database: str) -> None:
    store = str(tmp_path / "shared")
    here = Workspace.init(tmp_path / "a", ledger=pg_database, store=store)
    there = Workspace.init(tmp_path / "b", ledger=pg_database, store=store)
    (here.root / "x.txt").write_text("x\n")
    add(here, [here.root / "x.txt"], name="x")
    (there.root / "y.txt").write_text("y\n")
    push = StoreHold(here.store, "push", "remote origin", tmp_path / "alice")  # a push from a third workspace
    push.acquire(wait=True, optional=False)
    gc = subprocess.Popen([*ASSAY, "data", "gc", "--wait"], cwd=here.root, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert "waiting for the store" in _first_line(gc)
        started = time.monotonic()
        adding = subprocess.run([*ASSAY, "data", "add", "y.txt", "--name", "y"], cwd=there.root, capture_output=True,
                                text=True, env=ENV, timeout=60)
        assert adding.returncode == 0, adding.stderr
        assert time.monotonic() - started < 30 and "waiting for the lock on" not in adding.stderr
        assert gc.poll() is None  # the gc still waits for the push
        names = [p.name for p in (Path(store) / LOCKS).iterdir()]
        assert any(n.startswith("gc-") for n in names)  # with its marker in place: new pushes wait behind it
    finally:
        push.release()
    out, err = gc.communicate(timeout=60)
    assert gc.returncode == 0, err
    assert sorted(v.dataset for v in all_versions(there)) == ["x", "y"]
    assert verify(there, all_objects=True).ok  # nothing of the add lost
    here.close()
    there.close()


def test_a_lock_elsewhere_is_taken_while_a_repair_waits_for_a_push(tmp_path: Path, pg_database: str) -> None:
    from assay.data import repair

    store = str(tmp_path / "shared")
    here = Workspace.init(tmp_path / "a", ledger=pg_database, store=store)
    there = Workspace.init(tmp_path / "b", ledger=pg_database, store=store)
    (here.root / "x.txt").write_text("x\n")
    add(here, [here.root / "x.txt"], name="x")
    push = StoreHold(here.store, "push", "remote origin", tmp_path / "alice")
    push.acquire(wait=True, optional=False)
    done: list[object] = []
    thread = threading.Thread(target=lambda: done.append(repair(here)))
    try:
        thread.start()
        deadline = time.monotonic() + 30
        while not any(p.name.startswith("repair-") for p in (Path(store) / LOCKS).iterdir()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        taken = threading.Event()

        def elsewhere() -> None:  # another workspace's command on the same ledger and store (its own session)
            with there.lock():
                taken.set()

        locker = threading.Thread(target=elsewhere, daemon=True)
        locker.start()
        assert taken.wait(15), "the repair held the ledger's lock while it waited for the push"
        assert not done
    finally:
        push.release()
    thread.join(60)
    locker.join(60)
    assert done and done[0].after.ok  # type: ignore[attr-defined]
    here.close()
    there.close()


def test_a_gc_that_waited_keeps_its_marker_into_a_free_lock(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # the store free and the workspace's lock too: the marker that waited is the one that
    # deletes, so no push can come in between the wait and the lock
    from assay.data import _gc, gc

    ws = Workspace.init(tmp_path / "w")
    (ws.root / "x.txt").write_text("x\n")
    add(ws, [ws.root / "x.txt"], name="x")
    locks = ws.store.root / LOCKS
    seen: list[list[str]] = []
    real = _gc._collect

    def collect(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(sorted(p.name for p in locks.iterdir()))
        return real(*args, **kwargs)

    monkeypatch.setattr(_gc, "_collect", collect)
    push = StoreHold(ws.store, "push", "remote origin", tmp_path / "alice")
    push.acquire(wait=True, optional=False)
    thread = threading.Thread(target=lambda: gc(ws, wait=True))
    try:
        thread.start()
        deadline = time.monotonic() + 30
        while not (waiting := [p.name for p in locks.iterdir() if p.name.startswith("gc-")]):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        push.release()
    thread.join(60)
    assert seen == [waiting]
    ws.close()


def test_a_lock_asked_for_without_waiting_is_refused_while_another_holds_it(tmp_path: Path, pg_database: str) -> None:
    import pytest

    from assay._workspace_lock import Busy

    store = str(tmp_path / "shared")
    here = Workspace.init(tmp_path / "a", ledger=pg_database, store=store)
    there = Workspace.init(tmp_path / "b", ledger=pg_database, store=store)
    for holder in (there, here):  # the ledger's advisory lock (another workspace), then the lock file
        taken, done = threading.Event(), threading.Event()

        def holding(ws: Workspace = holder) -> None:
            with ws.lock():
                taken.set()
                done.wait(30)

        thread = threading.Thread(target=holding)
        thread.start()
        assert taken.wait(30)
        try:
            with pytest.raises(Busy), here.lock(exclusive=True, wait=False):
                pass
        finally:
            done.set()
            thread.join(30)
        with here.lock(exclusive=True, wait=False):  # free now
            pass
    here.close()
    there.close()


def test_the_ledger_s_lock_is_let_go_when_the_lock_ends(tmp_path: Path, pg_database: str) -> None:
    # not a moment later, when the server ends the closed session: a gc asking without waiting
    # just after found it held, and waited for the lock without its marker
    import psycopg

    here = Workspace.init(tmp_path / "a", ledger=pg_database, store=str(tmp_path / "shared"))
    with psycopg.connect(pg_database, autocommit=True) as conn:
        held = []
        for _ in range(20):
            with here.lock():
                pass
            held.append(conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                                     "(SELECT oid FROM pg_database WHERE datname = current_database())").fetchone()[0])
    assert held == [0] * 20
    here.close()


def test_a_gc_elsewhere_goes_on_while_a_push_repair_waits_for_a_push_on_the_remote(tmp_path: Path,
                                                                                   pg_database: str) -> None:
    # `push --repair` waited for the remote's pushes (to retire packs there) inside the
    # workspace's lock: on a PostgreSQL ledger every gc of this workspace's store stalled
    from assay.data import add_remote, push
    from assay.data._remote import open_remote

    store = str(tmp_path / "shared")
    here = Workspace.init(tmp_path / "a", ledger=pg_database, store=store)
    there = Workspace.init(tmp_path / "b", ledger=pg_database, store=store)
    (here.root / "x.txt").write_text("x\n")
    add(here, [here.root / "x.txt"], name="x")
    remote = add_remote(here, "origin", str(tmp_path / "remote"), default=True)
    push(here, "x")
    pushing = StoreHold(open_remote(here, "origin")[1], "push", "remote origin", tmp_path / "alice")  # from elsewhere
    pushing.acquire(wait=True, optional=False)
    mending = subprocess.Popen([*ASSAY, "data", "push", "--repair", "--remote", remote.name], cwd=here.root,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.startswith("repair-") for p in (tmp_path / "remote" / LOCKS).iterdir()):
            assert time.monotonic() < deadline and mending.poll() is None, mending.communicate()
            time.sleep(0.05)
        started = time.monotonic()
        collecting = subprocess.run([*ASSAY, "data", "gc"], cwd=there.root, capture_output=True, text=True, env=ENV,
                                    timeout=60)
        assert collecting.returncode == 0, collecting.stderr
        assert time.monotonic() - started < 30 and "waiting for the lock on" not in collecting.stderr
        assert mending.poll() is None  # the repair still waits for the push on the remote
    finally:
        pushing.release()
    out, err = mending.communicate(timeout=60)
    assert mending.returncode == 0, err
    assert verify(here, remote="origin").ok
    here.close()
    there.close()
