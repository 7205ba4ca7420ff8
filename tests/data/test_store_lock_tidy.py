"""The store's lock (assay.data._storelock), continued: markers of holders gone are removed by
whoever takes the store next, a marker that cannot be written leaves nothing behind, a hold
that lapsed is named instead of damage, and a workspace's own verify holds its store."""

from __future__ import annotations

import errno
import json
import os
import threading
import time
import uuid
from pathlib import Path

import pytest

from assay.data import _storelock, add, add_remote, pull, push, verify
from assay.data._storelock import store_hold
from assay.errors import ConcurrencyError, CorruptionError
from assay.store import LocalStore
from assay.workspace import Workspace


def _workspace_with_remote(tmp_path: Path) -> tuple[Workspace, Path]:
    ws = Workspace.init(tmp_path / "alice")
    (ws.root / "d").mkdir()
    for i in range(3):
        (ws.root / "d" / f"x{i}.bin").write_bytes(os.urandom(20_000))
    add(ws, [ws.root / "d"], name="ds")
    remote = tmp_path / "remote"
    remote.mkdir()
    add_remote(ws, "origin", str(remote))
    return ws, remote


def _dead_marker(locks: Path, kind: str, age: float) -> Path:
    """A marker whose holder was killed ``age`` seconds ago (a folder's: nobody locks it)."""
    locks.mkdir(exist_ok=True)
    path = locks / f"{kind}-{uuid.uuid4().hex}.json"
    path.write_text(json.dumps({"kind": kind, "by": "bob@elsewhere", "pid": 7}))
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_a_push_removes_the_markers_of_holders_gone_from_a_folder_remote(tmp_path: Path) -> None:
    """A team's remote runs no gc: without this, every killed push left its marker for good."""
    ws, remote = _workspace_with_remote(tmp_path)
    old = [_dead_marker(remote / "locks", kind, 3600) for kind in ("push", "pull", "verify")]
    fresh = _dead_marker(remote / "locks", "push", 0)  # unlocked a moment: it may be a holder about to lock it
    assert push(ws).versions_sent == ["ds@v1"]
    assert not any(p.exists() for p in old) and fresh.exists()
    assert [p.name for p in (remote / "locks").iterdir()] == [fresh.name]


def test_a_pull_removes_stale_markers_from_an_object_store(tmp_path: Path, s3_bucket: str, s3_server: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace.init(tmp_path / "alice")
    (ws.root / "f.txt").write_text("x\n")
    add(ws, [ws.root / "f.txt"], name="ds")
    add_remote(ws, "origin", s3_bucket, options={"endpoint_url": s3_server})
    push(ws)
    from assay.data._remote import open_remote

    _, store = open_remote(ws, "origin")
    dead = f"locks/push-{uuid.uuid4().hex}.json"
    store.put_bytes(dead, json.dumps({"kind": "push", "stale_after": 1}).encode())
    live = f"locks/push-{uuid.uuid4().hex}.json"
    store.put_bytes(live, json.dumps({"kind": "push", "stale_after": 600}).encode())
    time.sleep(2.5)
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", s3_bucket, options={"endpoint_url": s3_server})
    assert pull(clone).versions_sent == ["ds@v1"]
    assert list(store.list("locks/")) == [live]  # the stale one went; the live one is another's, in use


def test_a_marker_that_cannot_be_written_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(tmp_path / "store")
    real = os.write

    def full(fd: int, data: bytes) -> int:
        if b'"kind"' in data:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)

    before = set(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(_storelock.os, "write", full)
    with pytest.raises(OSError, match="No space left"):
        with store_hold(store, "push", where="the store"):
            pass
    monkeypatch.undo()
    assert list((tmp_path / "store" / "locks").iterdir()) == []  # no half marker
    assert set(os.listdir("/proc/self/fd")) <= before  # and no handle left open, holding a lock
    with store_hold(store, "gc", where="the store", wait=False) as hold:  # nothing blocks the store
        assert hold.held


def _damage_a_remote_pack(remote: Path) -> None:
    pack = next((remote / "packs").glob("*.pack"))
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))


def _remove_markers(remote: Path) -> None:
    for marker in (remote / "locks").iterdir():
        marker.unlink()  # as a gc does with one it judges stale


def test_damage_seen_after_the_hold_lapsed_is_named_as_the_lapse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hold that lapsed (the process paused past its stale time, its marker removed) means
    a gc may have run there meanwhile: what looks damaged may be its doing, so a verify or
    a pull says the hold lapsed instead of sending the user to repair a sound remote."""
    from assay.data import _pull, _verify

    ws, remote = _workspace_with_remote(tmp_path)
    push(ws)
    _damage_a_remote_pack(remote)
    assert not verify(ws, remote="origin").ok  # the hold kept: the damage is reported
    real_leftovers = _verify.leftover_packs
    monkeypatch.setattr(_verify, "leftover_packs", lambda store: (_remove_markers(remote), real_leftovers(store))[1])
    with pytest.raises(ConcurrencyError, match="the hold on remote origin .* lapsed"):
        verify(ws, remote="origin")

    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", str(remote))
    with pytest.raises(CorruptionError, match="the copy on remote origin is damaged"):
        pull(clone)
    real_transfer = _pull.transfer
    monkeypatch.setattr(_pull, "transfer", lambda *a, **k: (_remove_markers(remote), real_transfer(*a, **k))[1])
    with pytest.raises(ConcurrencyError, match="the hold on remote origin .* lapsed"):
        pull(clone)


def test_a_workspace_s_own_verify_waits_while_a_repair_retires_packs_in_its_store(
        ws: Workspace, capfd: pytest.CaptureFixture[str]) -> None:
    """Another workspace's `push --repair` into this store (its remote) retires packs: a
    verify here meanwhile would report them missing."""
    (ws.root / "f.txt").write_text("x\n")
    add(ws, [ws.root / "f.txt"], name="ds")
    holding, release = threading.Event(), threading.Event()

    def repair_elsewhere() -> None:
        with store_hold(LocalStore(ws.store.root), "repair", where="the store"):
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=repair_elsewhere, daemon=True)
    thread.start()
    assert holding.wait(30)
    threading.Timer(1.0, release.set).start()
    began = time.monotonic()
    assert verify(ws).ok
    assert time.monotonic() - began >= 0.9
    assert "waiting for the store" in capfd.readouterr().err
    thread.join(30)


def test_a_fresh_unlocked_marker_stays_though_this_machine_s_clock_runs_ahead(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A marker's mtime is the file server's clock (NFS): a holder between creating its marker
    and locking it is judged by the store's time (this taker's own marker, just written), as
    in an object store, or a machine whose clock runs ahead would remove a live holder's."""
    ws, remote = _workspace_with_remote(tmp_path)
    fresh = _dead_marker(remote / "locks", "push", 0)  # unlocked a moment: a holder about to lock it

    class Ahead:  # this machine's clock, 2 minutes ahead of the file server's
        def __getattr__(self, name: str) -> object:
            return getattr(time, name)

        def time(self) -> float:
            return time.time() + 120.0

    monkeypatch.setattr(_storelock, "time", Ahead())
    assert push(ws).versions_sent == ["ds@v1"]
    assert fresh.exists()
    old = _dead_marker(remote / "locks", "pull", 3600)  # a holder killed an hour ago, by the server's clock
    assert push(ws).versions_already_there == ["ds@v1"]
    assert not old.exists() and fresh.exists()
