"""What the store's holds say of themselves to those who meet them (found by a new-user trial):
`gc --dry-run` took no hold and said nothing of a push that held the store, so it promised
a gc that would then refuse; a push waiting behind a gc that itself still waited (``gc
--wait``) was told the gc "is deleting from it"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assay.data import add, gc
from assay.data._storelock import LOCKS, StoreHold, store_hold
from assay.workspace import Workspace


def _with_data(root: Path, **store: object) -> Workspace:
    ws = Workspace.init(root, **store)  # type: ignore[arg-type]
    (root / "d").mkdir()
    (root / "d" / "a.txt").write_text("a\n")
    add(ws, [root / "d"], name="ds")
    return ws


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _push_once(store: object, where: str) -> None:
    with store_hold(store, "push", where=where):  # type: ignore[arg-type]
        pass


def test_gc_dry_run_says_a_gc_now_would_refuse_while_a_push_holds_the_store(tmp_path: Path) -> None:
    ws = _with_data(tmp_path / "bob")
    locks = ws.dir / "objects" / LOCKS
    dead = {"kind": "push", "mode": "shared", "by": "carol@gone", "pid": _dead_pid(), "started_at": "2020-01-01"}
    with store_hold(ws.store, "push", where="remote origin", workspace=tmp_path / "alice"):
        # a killed push's marker too (unlocked): a dry run neither counts nor removes it
        (locks / f"push-{'0' * 32}.json").write_text(json.dumps(dead))
        before = sorted(p.name for p in locks.iterdir())
        dry = gc(ws, dry_run=True)
        assert dry.gc_now == "refuse" and [h["kind"] for h in dry.store_holds] == ["push"]
        held = dry.store_holds[0]
        assert held["exclusive"] is False and f"pid {os.getpid()}" in held["holder"]
        assert str(tmp_path / "alice") in held["holder"] and "carol" not in held["holder"]
        assert gc(ws, dry_run=True, wait=True).gc_now == "wait"
        assert sorted(p.name for p in locks.iterdir()) == before  # nothing written or removed
        env = {**os.environ, "ASSAY_PROGRESS": "0"}
        out = subprocess.run([sys.executable, "-m", "assay", "data", "gc", "--dry-run"], cwd=ws.root, env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "a gc now would refuse: a push by " in out.stdout and f"pid {os.getpid()}" in out.stdout
        assert "is using the store (`assay data gc --wait` would wait for it)" in out.stdout
        doc = json.loads(subprocess.run([sys.executable, "-m", "assay", "data", "gc", "--dry-run", "--json"],
                                        cwd=ws.root, env=env, capture_output=True, text=True, timeout=120).stdout)
        assert doc["gc_now"] == "refuse" and doc["store_holds"][0]["kind"] == "push"
        real = subprocess.run([sys.executable, "-m", "assay", "data", "gc"], cwd=ws.root, env=env,
                              capture_output=True, text=True, timeout=120)
        assert real.returncode == 2 and "refusing to gc" in real.stderr  # as the dry run said
    dry = gc(ws, dry_run=True)
    assert dry.gc_now is None and dry.store_holds == []


def test_a_push_behind_a_gc_that_still_waits_is_told_it_waits(tmp_path: Path, store_url: tuple[str, dict],
                                                                capfd: pytest.CaptureFixture[str]) -> None:
    url, options = store_url
    ws = _with_data(tmp_path / "bob", store=url, store_options=options)
    store = ws.store
    first = StoreHold(store, "push", "remote origin", tmp_path / "alice")
    first.acquire(wait=True, optional=False)
    gc_held = threading.Event()
    let_go = threading.Event()

    def gc_waiting() -> None:
        with store_hold(store, "gc", where="the store", workspace=ws.root, wait=True):
            gc_held.set()
            let_go.wait(60)

    def markers() -> dict[str, dict]:
        return {k: json.loads(store.get_bytes(k)) for k in store.list(LOCKS)}

    gc_thread = threading.Thread(target=gc_waiting, daemon=True)
    gc_thread.start()
    try:
        deadline = time.monotonic() + 30
        while "waiting for the store: a push by " not in capfd.readouterr().err and time.monotonic() < deadline:
            time.sleep(0.05)
        states = [d.get("state") for d in markers().values() if d["kind"] == "gc"]
        assert states == ["waiting"]
        second = threading.Thread(target=_push_once, args=(store, "remote origin"), daemon=True)
        second.start()
        said = ""
        while "waiting for remote origin" not in said and time.monotonic() < deadline:
            said += capfd.readouterr().err
            time.sleep(0.05)
        assert "a gc by " in said and "is waiting to gc it; the push goes on" in said, said
        assert "deleting" not in said
    except BaseException:
        let_go.set()
        raise
    finally:
        first.release()
    try:
        assert gc_held.wait(30)
        assert [d.get("state") for d in markers().values() if d["kind"] == "gc"] == ["holding"]
        late = threading.Thread(target=_push_once, args=(store, "remote late"), daemon=True)
        late.start()
        said = ""
        while "waiting for remote late" not in said and time.monotonic() < deadline:
            said += capfd.readouterr().err
            time.sleep(0.05)
        assert "is deleting from it; the push goes on" in said
    finally:
        let_go.set()
    for t in (gc_thread, second, late):
        t.join(60)
        assert not t.is_alive()


def test_a_heartbeat_in_flight_does_not_put_an_object_marker_back_to_waiting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The heartbeat makes its marker's bytes, asks whether the marker is still there, then
    # writes: a gc that stopped waiting in between said "holding", and the beat wrote
    # "waiting" over it, a deleting gc read as a waiting one until the next beat (minutes).
    from assay.store import open_store

    monkeypatch.setenv("ASSAY_LOCK_STALE_SECONDS", "1")
    store = open_store(f"memory://beat-{os.getpid()}-{time.time_ns()}/s", tmp_path)
    push = StoreHold(store, "push", "the store", None)
    push.acquire(wait=True, optional=False)
    beat_in, go = threading.Event(), threading.Event()
    exists = store.exists

    def held_up(key: str) -> bool:  # the gc's heartbeat, stopped once between its bytes and its write
        if threading.current_thread().name == "assay-gc-hold" and not beat_in.is_set():
            beat_in.set()
            go.wait(30)
        return exists(key)

    monkeypatch.setattr(store, "exists", held_up)
    gc_hold = StoreHold(store, "gc", "the store", None)
    taker = threading.Thread(target=gc_hold.acquire, kwargs={"wait": True, "optional": False}, daemon=True)
    taker.start()
    try:
        assert beat_in.wait(30)  # the beat has its bytes: "waiting"
        push.release()
        taker.join(1)  # the gc stops waiting while the beat is held up (it waits for it, fixed)
    finally:
        go.set()
    taker.join(30)
    try:
        assert not taker.is_alive() and gc_hold.held
        time.sleep(0.05)  # (a beat's write, if one is in flight)
        [doc] = [json.loads(store.get_bytes(k)) for k in store.list(LOCKS)]
        assert doc["kind"] == "gc" and doc["state"] == "holding"
    finally:
        gc_hold.release()
