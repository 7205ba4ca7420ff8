"""`gc --dry-run` judges the store's markers and objects by the store's clock, as a gc does, not
by this machine's: a machine whose clock was 15 minutes off read a live push's marker as
stale (so it promised a gc that would then refuse) or a dead one as live, and objects written
within the grace time as old (found by review)."""

from __future__ import annotations

import errno
import json
import os
import time
import uuid
from pathlib import Path

import pytest

from assay.data import add, gc
from assay.data._storelock import LOCKS, StoreHold
from assay.workspace import Workspace

SKEW = 900.0  # 15 minutes: more than the 600 s a marker stays live


def _skewed(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + seconds)


def _s3_workspace(root: Path, bucket: str, endpoint: str) -> Workspace:
    ws = Workspace.init(root, store=bucket, store_options={"endpoint_url": endpoint})
    (root / "d").mkdir()
    (root / "d" / "a.txt").write_text("a\n")
    add(ws, [root / "d"], name="ds")
    return ws


def test_a_live_push_is_live_to_a_dry_run_whose_clock_runs_ahead(tmp_path: Path, s3_bucket: str, s3_server: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ws = _s3_workspace(tmp_path / "bob", s3_bucket, s3_server)
    push = StoreHold(ws.store, "push", "remote origin", tmp_path / "alice")
    push.acquire(wait=True, optional=False)
    try:
        _skewed(monkeypatch, SKEW)
        dry = gc(ws, dry_run=True)
        assert dry.gc_now == "refuse" and [h["kind"] for h in dry.store_holds] == ["push"]
    finally:
        push.release()
    assert sorted(ws.store.list(LOCKS)) == []  # the clock's probe is gone too
    ws.close()


def test_a_dead_push_is_dead_to_a_dry_run_whose_clock_runs_behind(tmp_path: Path, s3_bucket: str, s3_server: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ws = _s3_workspace(tmp_path / "bob", s3_bucket, s3_server)
    dead = {"kind": "push", "mode": "shared", "by": "carol@gone", "pid": 1, "stale_after": 1}
    ws.store.put_bytes(f"{LOCKS}push-{uuid.uuid4().hex}.json", json.dumps(dead).encode())
    time.sleep(2.5)  # by the store's clock, past the second it said it stays live
    _skewed(monkeypatch, -SKEW)
    dry = gc(ws, dry_run=True)
    assert dry.gc_now is None and dry.store_holds == []
    ws.close()


def test_a_dry_run_keeps_young_objects_young_whatever_this_machine_s_clock(
        tmp_path: Path, s3_bucket: str, s3_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = _s3_workspace(tmp_path / "bob", s3_bucket, s3_server)
    (ws.root / "junk").mkdir()
    (ws.root / "junk" / "x.bin").write_bytes(b"junk\n" * 1000)
    add(ws, [ws.root / "junk"], name="junk")
    ws.ledger.execute("DELETE FROM versions WHERE dataset = ?", ("junk",))  # its pack and snapshot: garbage
    monkeypatch.setenv("ASSAY_GC_GRACE_SECONDS", "600")
    _skewed(monkeypatch, SKEW)
    dry = gc(ws, dry_run=True)
    assert dry.recent_kept == 2 and dry.snapshots_deleted == 0 and dry.chunks_deleted == 0
    done = gc(ws)  # the gc itself judged by the store's clock already (its own marker's time)
    assert done.recent_kept == 2 and done.snapshots_deleted == 0
    ws.close()


def test_the_store_s_clock_is_the_time_it_gives_a_fresh_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.data._storemarkers import store_now
    from assay.store import open_store

    store = open_store(str(tmp_path / "s"))
    _skewed(monkeypatch, -SKEW)
    assert abs(store_now(store) - (time.time() + SKEW)) < 60  # a folder's: the file system's mtime
    assert list(store.list(LOCKS)) == []


@pytest.mark.parametrize("refusal", [errno.EACCES, errno.EROFS, errno.ENOSPC])
def test_a_store_that_takes_no_probe_is_read_by_this_machine_s_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      refusal: int) -> None:
    # a read-only share, a full disk: a dry run there still says what a gc would do
    from assay.data._storemarkers import store_now
    from assay.store import open_store

    store = open_store(str(tmp_path / "s"))

    def refused(key: str, data: bytes) -> None:
        raise OSError(refusal, os.strerror(refusal), str(tmp_path / "s" / key))

    monkeypatch.setattr(store, "put_bytes", refused)
    assert abs(store_now(store) - time.time()) < 5


def _probes(tmp_path: Path, ws: Workspace) -> tuple[Path, Path]:
    """A clock probe a killed dry run left two days ago, and one a live look wrote just now."""
    locks = ws.store.root / LOCKS
    locks.mkdir(exist_ok=True)
    old, young = (locks / f"clock-{uuid.uuid4().hex}.tmp" for _ in range(2))
    old.write_bytes(b"")
    young.write_bytes(b"")
    then = time.time() - 2 * 86400
    os.utime(old, (then, then))
    return old, young


def test_a_probe_a_killed_look_left_goes_once_a_day_old_by_the_store_s_clock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.data._storemarkers import store_now

    ws = Workspace.init(tmp_path / "w")
    old, young = _probes(tmp_path, ws)
    _skewed(monkeypatch, 3 * 86400)  # this machine's clock days ahead: the young one is still young
    store_now(ws.store)
    assert not old.exists() and young.exists()
    assert [p.name for p in (ws.store.root / LOCKS).iterdir()] == [young.name]  # its own probe gone too
    ws.close()


def test_a_gc_removes_a_probe_a_killed_look_left(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "w")
    (ws.root / "x.txt").write_text("x\n")
    add(ws, [ws.root / "x.txt"], name="x")
    old, young = _probes(tmp_path, ws)
    gc(ws)  # (nothing to collect: no clock asked for objects' ages)
    assert not old.exists() and young.exists()
    ws.close()
