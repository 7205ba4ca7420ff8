"""The store's own lock: a gc never races a push from another workspace into its store.

bob's store is alice's remote. A push takes a shared hold on it for the whole push, gc an
exclusive one (see assay.data._storelock); a killed holder never blocks the store for ever."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from assay.data import add, add_remote, gc, pull, push, verify
from assay.errors import ConcurrencyError
from assay.workspace import Workspace


def bob_and_alice(tmp_path: Path, url: str, options: dict) -> tuple[Workspace, Workspace]:
    """bob keeps his versions in the store at ``url``; alice pushes hers there as her remote."""
    bob = Workspace.init(tmp_path / "bob", store=url, store_options=options)
    (bob.root / "b.txt").write_text("bob's own data\n")
    add(bob, [bob.root / "b.txt"], name="b")
    alice = Workspace.init(tmp_path / "alice")
    (alice.root / "d").mkdir()
    for i in range(3):
        (alice.root / "d" / f"x{i}.bin").write_bytes(os.urandom(30_000))
    add(alice, [alice.root / "d"], name="ds")
    add_remote(alice, "origin", url, options=options)
    return bob, alice


def pulled_whole(tmp_path: Path, url: str, options: dict) -> list[str]:
    """What a fresh workspace pulls from ``url``, checked."""
    carol = Workspace.init(tmp_path / f"carol-{uuid.uuid4().hex[:6]}")
    add_remote(carol, "origin", url, options=options)
    got = pull(carol)
    assert verify(carol, all_objects=True).ok
    return got.versions


def test_a_gc_while_a_push_into_its_store_has_sent_packs_but_no_ref_deletes_nothing_of_it(
        tmp_path: Path, store_url: tuple[str, dict], monkeypatch: pytest.MonkeyPatch) -> None:
    # bob's gc runs just after alice's push sent its packs and snapshot, before its ref:
    # without a hold on the store, gc found them unreferenced and deleted them, and the
    # ref then named data that was gone.
    from assay.data import _remote

    url, options = store_url
    bob, alice = bob_and_alice(tmp_path, url, options)
    real = _remote._write_refs
    during: list[object] = []

    def gc_first(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            during.append(gc(bob))
        except ConcurrencyError as exc:
            during.append(exc)
        return real(*args, **kwargs)

    monkeypatch.setattr(_remote, "_write_refs", gc_first)
    assert push(alice).versions == ["ds@v1"]
    assert pulled_whole(tmp_path, url, options) == ["ds@v1"]  # every chunk of alice's version is there
    refused = during[0]
    assert isinstance(refused, ConcurrencyError) and refused.exit_code == 2
    assert refused.message.startswith(f"refusing to gc the store {url}: a push by ")
    assert f"pid {os.getpid()}" in refused.message and str(alice.root) in refused.message
    assert "rerun the gc" in (refused.hint or "")
    monkeypatch.undo()
    assert gc(bob).pushed_versions_kept == 1  # the push over, gc runs and keeps alice's version
    assert pulled_whole(tmp_path, url, options) == ["ds@v1"]


def test_a_push_that_starts_while_gc_runs_waits_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capfd: pytest.CaptureFixture[str]) -> None:
    # alice's push starts once bob's gc has listed the store's refs: without a hold it
    # landed its packs there, and gc deleted them as no version's.
    from assay.data import _gc

    url = str(tmp_path / "shared")
    (tmp_path / "shared").mkdir()
    bob, alice = bob_and_alice(tmp_path, url, {})
    real = _gc._pushed_to_store
    done = threading.Event()
    failed: list[BaseException] = []

    def pushing() -> None:
        try:
            push(alice)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failed.append(exc)
        finally:
            done.set()

    said = []

    def listed_then_push(store):  # type: ignore[no-untyped-def]
        found = real(store)
        threading.Thread(target=pushing, daemon=True).start()
        deadline = time.monotonic() + 60
        while not done.is_set() and time.monotonic() < deadline:
            said.append(capfd.readouterr().err)
            if "waiting for remote origin" in "".join(said):
                break
            time.sleep(0.05)
        return found

    monkeypatch.setattr(_gc, "_pushed_to_store", listed_then_push)
    gc(bob)
    assert done.wait(60) and not failed
    assert pulled_whole(tmp_path, url, {}) == ["ds@v1"]  # gc deleted nothing of it
    said.append(capfd.readouterr().err)
    assert f"waiting for remote origin ({url}): a gc by " in "".join(said)


def stuck_push(alice: Workspace, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A push in another process, holding the store and stuck before it sends anything."""
    script = ("import time\n"
              "from assay.data import _remote\n"
              "from assay.workspace import Workspace\n"
              "def stuck(*args, **kwargs):\n"
              "    print('holding', flush=True)\n"
              "    time.sleep(300)\n"
              "_remote.transfer = stuck\n"
              f"_remote.push(Workspace({str(alice.root)!r}))\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def test_a_killed_push_does_not_block_gc_of_a_folder_store(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    url = str(tmp_path / "shared")
    (tmp_path / "shared").mkdir()
    bob, alice = bob_and_alice(tmp_path, url, {})
    proc = stuck_push(alice)
    try:
        refused = cli("data", "gc", cwd=bob.root, check=2)
        assert f"refusing to gc the store {url}: a push by " in refused.stderr and f"pid {proc.pid}" in refused.stderr
        assert "hint: rerun the gc when that has ended" in refused.stderr
    finally:
        proc.kill()  # SIGKILL: the push leaves its marker, and the kernel lets its lock go
        proc.wait()
    assert [p.name.split("-")[0] for p in (Path(url) / "locks").iterdir()] == ["push"]
    doc = cli.json("data", "gc", cwd=bob.root)
    assert doc["stale_locks_removed"] == 1 and doc["chunks_deleted"] == 0
    report = verify(alice, remote="origin")
    assert report.ok and report.leftovers == []  # a lock marker is neither damage nor a leftover
    assert list((Path(url) / "locks").iterdir()) == []
    assert push(alice).versions == ["ds@v1"]
    assert pulled_whole(tmp_path, url, {}) == ["ds@v1"]


def test_a_killed_push_s_marker_in_an_object_store_goes_stale(tmp_path: Path, s3_bucket: str, s3_server: str) -> None:
    options = {"endpoint_url": s3_server}
    bob, alice = bob_and_alice(tmp_path, s3_bucket, options)
    proc = stuck_push(alice, {"ASSAY_LOCK_STALE_SECONDS": "3"})  # its heartbeat: every 0.6 s
    try:
        time.sleep(1.5)  # past a beat or two: still live
        with pytest.raises(ConcurrencyError, match="a push by .* is using it") as caught:
            gc(bob)
        assert "after 3 s without a heartbeat" in (caught.value.hint or "")
    finally:
        proc.kill()
        proc.wait()
    time.sleep(4.5)  # no beat since: stale by the store's clock
    assert len(list(bob.store.list("locks/"))) == 1
    assert verify(alice, remote="origin").ok  # the next taker, shared too, removes the stale marker
    assert list(bob.store.list("locks/")) == []
    done = gc(bob)
    assert done.stale_locks_removed == 0 and done.chunks_deleted == 0
    assert push(alice).versions == ["ds@v1"]
    assert pulled_whole(tmp_path, s3_bucket, options) == ["ds@v1"]


def test_a_push_waits_for_a_gc_marker_in_an_object_store_until_it_is_stale(
        tmp_path: Path, s3_bucket: str, s3_server: str, capfd: pytest.CaptureFixture[str]) -> None:
    options = {"endpoint_url": s3_server}
    bob, alice = bob_and_alice(tmp_path, s3_bucket, options)
    marker = f"locks/gc-{uuid.uuid4().hex}.json"  # a gc's, killed: written once, never again
    bob.store.put_bytes(marker, json.dumps({"kind": "gc", "by": "bob@elsewhere", "pid": 7, "stale_after": 3}).encode())
    began = time.monotonic()
    assert push(alice).versions == ["ds@v1"]
    assert time.monotonic() - began >= 1.5  # it waited, then went on once the marker was stale
    assert f"waiting for remote origin ({s3_bucket}): a gc by bob@elsewhere (pid 7)" in capfd.readouterr().err
    assert not bob.store.exists(marker)  # stale: the push removed it
    assert gc(bob).stale_locks_removed == 0
    assert pulled_whole(tmp_path, s3_bucket, options) == ["ds@v1"]


def test_push_repair_retires_packs_only_once_no_push_holds_the_remote(tmp_path: Path,
                                                                      capfd: pytest.CaptureFixture[str]) -> None:
    # push --repair deletes packs on the remote (those it replaced, leftovers no version
    # needs): it waits for the pushes under way there, and a killed one stops holding it.
    from assay.data import repair

    url = str(tmp_path / "shared")
    (tmp_path / "shared").mkdir()
    _, alice = bob_and_alice(tmp_path, url, {})
    push(alice)
    proc = stuck_push(alice)
    capfd.readouterr()
    done = threading.Event()
    got: list[object] = []
    thread = threading.Thread(target=lambda: (got.append(repair(alice, on_remote=True)), done.set()), daemon=True)
    thread.start()
    try:
        said = ""
        deadline = time.monotonic() + 60
        while "waiting for remote origin" not in said and time.monotonic() < deadline and not done.is_set():
            time.sleep(0.1)
            said += capfd.readouterr().err
        assert not done.is_set()
        assert f"waiting for remote origin ({url}): a push by " in said and f"pid {proc.pid}" in said
        assert "the repair goes on when that has ended" in said
    finally:
        proc.kill()
        proc.wait()
    assert done.wait(60) and got[0].ok  # type: ignore[attr-defined]
    assert list((Path(url) / "locks").iterdir()) == []


def test_a_web_remote_is_read_without_a_hold(tmp_path: Path) -> None:
    """A static web server takes no PUT (501, or 403/405 elsewhere): a pull from it, as from
    a read-only share, goes on without a marker instead of failing on one."""
    import socket

    pytest.importorskip("aiohttp")
    ws = Workspace.init(tmp_path / "ws")
    (ws.root / "d").mkdir()
    (ws.root / "d" / "f.bin").write_bytes(os.urandom(3000))
    add(ws, [ws.root / "d"], name="ds")
    add_remote(ws, "origin", str(tmp_path / "shared"))
    push(ws)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("range_server.py")),
                               str(tmp_path / "shared"), str(port)])
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        clone = Workspace.init(tmp_path / "clone")
        add_remote(clone, "web", f"http://127.0.0.1:{port}/")
        assert pull(clone, remote="web").versions_transferred == ["ds@v1"]
        assert verify(clone, remote="web").ok
    finally:
        server.kill()
        server.wait()


def test_a_store_out_of_reach_fails_the_push_instead_of_going_on_without_a_hold(
        tmp_path: Path, s3_bucket: str, s3_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a refusal means "no hold here": a time-out on the marker's PUT, had the push gone
    on, would have let a gc of that store delete what it sends."""
    from assay.data import _storemarkers
    from assay.errors import InputError

    _, alice = bob_and_alice(tmp_path, s3_bucket, {"endpoint_url": s3_server})
    real = _storemarkers.ObjectMarkers.write

    def timed_out(self, name, data):  # type: ignore[no-untyped-def]
        raise InputError(f"cannot reach {self.store.url}: read timeout")

    monkeypatch.setattr(_storemarkers.ObjectMarkers, "write", timed_out)
    with pytest.raises(InputError, match="cannot reach"):
        push(alice)
    monkeypatch.setattr(_storemarkers.ObjectMarkers, "write", real)
    assert push(alice).versions_transferred


@pytest.mark.parametrize("value", ["inf", "nan", "1e9", "0"])
def test_a_stale_time_out_of_range_is_refused(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.data._storemarkers import declared_stale, stale_seconds
    from assay.errors import UsageError

    monkeypatch.setenv("ASSAY_LOCK_STALE_SECONDS", value)
    with pytest.raises(UsageError, match="out of range"):
        stale_seconds()
    assert declared_stale({"stale_after": float(value)}) <= 86400  # another's marker cannot claim more than a day
