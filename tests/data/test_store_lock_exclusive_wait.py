"""A `gc --wait` (or a repair) that meets another exclusive taker's marker waits for it instead
of failing: a plain gc's marker, there for a moment before it refused, failed a `gc --wait`
that was waiting for a push; of two `gc --wait`, the second refused at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from assay.data import add
from assay.data._storelock import LOCKS, StoreHold
from assay.data._storemarkers import markers_of
from assay.errors import ConcurrencyError
from assay.workspace import Workspace

ASSAY = [sys.executable, "-m", "assay"]
ENV = {**os.environ, "ASSAY_PROGRESS": "0"}


def _workspace(root: Path) -> Workspace:
    ws = Workspace.init(root)
    (root / "x.txt").write_text("x\n")
    add(ws, [root / "x.txt"], name="x")
    return ws


def _markers(ws: Workspace, kind: str) -> list[str]:
    return [p.name for p in (ws.store.root / LOCKS).iterdir() if p.name.startswith(f"{kind}-")]


def _until(what, within: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not what():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _gc_wait(ws: Workspace) -> subprocess.Popen[str]:
    return subprocess.Popen([*ASSAY, "data", "gc", "--wait"], cwd=ws.root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def test_a_gc_wait_outlasts_another_gc_s_marker_there_for_a_moment(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "w")
    push = StoreHold(ws.store, "push", "remote origin", tmp_path / "alice")
    push.acquire(wait=True, optional=False)
    gc = _gc_wait(ws)
    try:
        _until(lambda: _markers(ws, "gc"))
        # a plain gc elsewhere: it finds the waiting gc's marker and refuses...
        plain = StoreHold(ws.store, "gc", "the store", tmp_path / "bob")
        with pytest.raises(ConcurrencyError, match="is waiting to gc it"):
            plain.acquire(wait=False, optional=False)
        # ...with its marker live for a moment meanwhile (held a second here: the waiting gc looks again)
        markers = markers_of(ws.store)
        markers.open()
        name = f"gc-{uuid.uuid4().hex}.json"
        markers.write(name, json.dumps({"kind": "gc", "mode": "exclusive", "state": "waiting", "pid": 1}).encode())
        time.sleep(1.0)
        markers.remove(name)
        markers.close()
        assert gc.poll() is None, gc.communicate()
    finally:
        push.release()
    out, err = gc.communicate(timeout=60)
    assert gc.returncode == 0, err
    ws.close()


def test_a_second_gc_wait_waits_for_the_first(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "w")
    push = StoreHold(ws.store, "push", "remote origin", tmp_path / "alice")
    push.acquire(wait=True, optional=False)
    first = _gc_wait(ws)
    try:
        _until(lambda: _markers(ws, "gc"))
        second = _gc_wait(ws)
        time.sleep(2.0)
        assert second.poll() is None, second.communicate()
        assert first.poll() is None, first.communicate()
    finally:
        push.release()
    for gc in (first, second):
        out, err = gc.communicate(timeout=60)
        assert gc.returncode == 0, err
    assert not _markers(ws, "gc")
    ws.close()


def test_a_dry_run_says_a_gc_wait_would_wait_for_another_gc(tmp_path: Path) -> None:
    from assay.data import gc

    ws = _workspace(tmp_path / "w")
    other = StoreHold(ws.store, "gc", "the store", tmp_path / "bob")
    other.acquire(wait=False, optional=False)  # a gc at work
    try:
        assert gc(ws, dry_run=True, wait=True).gc_now == "wait"
        assert gc(ws, dry_run=True).gc_now == "refuse"
    finally:
        other.release()
    ws.close()
