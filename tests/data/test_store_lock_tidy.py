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

from assay.data import _storemarkers, add, add_remote, pull, push, verify
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


def _dead_marker(locks: Path, kind: str, age: float, pid: int = 7, tag: str | None = None) -> Path:
    """A marker nobody locks, written ``age`` seconds ago by process ``pid`` of the machine
    with host tag ``tag`` (None: an older assay's, which named none)."""
    locks.mkdir(exist_ok=True)
    path = locks / f"{kind}-{uuid.uuid4().hex}.json"
    doc = {"kind": kind, "by": "bob@elsewhere", "pid": pid, **({"host_tag": tag} if tag else {})}
    path.write_text(json.dumps(doc))
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_a_push_removes_the_markers_of_holders_gone_from_a_folder_remote(tmp_path: Path) -> None:
    """A team's remote runs no gc: without this, every killed push left its marker for good.
    Unlocked is not enough to call a holder gone: it may be between creating its marker and
    locking it, or on another machine of a file server mounted without shared locks (NFS
    ``nolock``), so only a process of this machine that is gone, or a day's age, is."""
    import subprocess
    import sys

    from assay._process import host_tag

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    ws, remote = _workspace_with_remote(tmp_path)
    locks = remote / "locks"
    removed = [_dead_marker(locks, "push", 0, dead_pid, host_tag()),  # killed here: certain
               _dead_marker(locks, "pull", 2 * 86400, 7, "hffffffff"),  # another machine's, two days old
               _dead_marker(locks, "verify", 2 * 86400)]  # an older assay's, two days old
    kept = [_dead_marker(locks, "push", 0, os.getpid(), host_tag()),  # alive here: about to lock it
            _dead_marker(locks, "push", 3600, 7, "hffffffff"),  # another machine's: maybe alive there
            _dead_marker(locks, "pull", 3600)]
    assert push(ws).versions_transferred == ["ds@v1"]
    assert not any(p.exists() for p in removed)
    assert sorted(p.name for p in locks.iterdir()) == sorted(p.name for p in kept)


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
    assert pull(clone).versions_transferred == ["ds@v1"]
    assert list(store.list("locks/")) == [live]  # the stale one went; the live one is another's, in use


def test_a_marker_that_cannot_be_written_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(tmp_path / "store")
    real = os.write

    def full(fd: int, data: bytes) -> int:
        if b'"kind"' in data:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)

    before = set(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(_storemarkers.os, "write", full)
    with pytest.raises(OSError, match="No space left"):
        with store_hold(store, "push", where="the store"):
            pass
    monkeypatch.undo()
    assert list((tmp_path / "store" / "locks").iterdir()) == []  # no half marker
    # and no handle left open on the store, holding a lock (only the store's: in a long run other
    # threads of this process, a test server's, open and close descriptors of their own meanwhile)
    assert [fd for fd in set(os.listdir("/proc/self/fd")) - before if _leads_into(fd, tmp_path)] == []
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


def test_gc_wait_waits_for_the_pushes_under_way_and_holds_new_ones_back(tmp_path: Path,
                                                                        capfd: pytest.CaptureFixture[str]) -> None:
    """A stream of pushes into a store kept gc refusing: `gc --wait` puts its marker in place
    (new pushes wait behind it), waits for the pushes under way, then collects."""
    import subprocess
    import sys

    from tests.data.test_store_lock import bob_and_alice, pulled_whole, stuck_push

    url = str(tmp_path / "shared")
    (tmp_path / "shared").mkdir()
    bob, alice = bob_and_alice(tmp_path, url, {})
    proc = stuck_push(alice)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    waiting = subprocess.Popen([sys.executable, "-m", "assay", "data", "gc", "--wait", "--json"], cwd=bob.root,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert waiting.stderr is not None
        said = waiting.stderr.readline()
        assert said.startswith(f"waiting for the store {url}: a push by ") and f"pid {proc.pid}" in said
        assert "the gc goes on when that has ended" in said
        behind: list[object] = []
        thread = threading.Thread(target=lambda: behind.append(push(alice)), daemon=True)
        thread.start()
        time.sleep(1.0)
        assert not behind and waiting.poll() is None  # the new push waits behind the gc, which waits
        assert f"waiting for remote origin ({url}): a gc by " in capfd.readouterr().err
    finally:
        proc.kill()  # the push under way ends (killed: the kernel lets its lock go)
        proc.wait()
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert json.loads(out)["chunks_deleted"] == 0
    thread.join(60)
    assert behind and behind[0].versions == ["ds@v1"]  # type: ignore[attr-defined]
    assert pulled_whole(tmp_path, url, {}) == ["ds@v1"]
    assert verify(bob, all_objects=True).ok


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

    monkeypatch.setattr(_storemarkers, "time", Ahead())
    assert push(ws).versions_transferred == ["ds@v1"]
    assert fresh.exists()
    old = _dead_marker(remote / "locks", "pull", 2 * 86400)  # a holder killed two days ago, by the server's clock
    assert push(ws).versions_already_there == ["ds@v1"]
    assert not old.exists() and fresh.exists()


def test_local_damage_met_while_the_remote_is_out_of_reach_is_still_said(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The check of the hold asks the remote; if that fails too (the network), the damage
    first met is what the user hears, not the network error."""
    from assay.data._storelock import StoreHold

    ws, remote = _workspace_with_remote(tmp_path)
    pack = next((ws.store.root / "packs").glob("*.pack"))
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))

    def unreachable(self: StoreHold, *, confirm: bool = False) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(StoreHold, "check", unreachable)
    with pytest.raises(CorruptionError):
        push(ws)


def _leads_into(fd: str, folder: Path) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}").startswith(str(folder))
    except OSError:  # closed since it was listed
        return False
