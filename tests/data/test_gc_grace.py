"""gc keeps unreferenced packs and snapshots written within the grace time (a day by default,
``ASSAY_GC_GRACE_SECONDS``): a writer that takes no hold on the store (an assay from before
the store's lock) has its packs and snapshot unreferenced until it records its version."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import pytest

from assay.data import add, gc, verify
from assay.errors import UsageError
from assay.workspace import Workspace
from tests.data.test_store_lock import bob_and_alice, pulled_whole


def _garbage(ws: Workspace) -> None:
    """A pack and a snapshot no version references (the version that did is dropped)."""
    (ws.root / "junk").mkdir()
    (ws.root / "junk" / "x.bin").write_bytes(os.urandom(40_000))
    add(ws, [ws.root / "junk"], name="junk")
    ws.ledger.execute("DELETE FROM versions WHERE dataset = ?", ("junk",))  # (no command removes a version)


def _age_store(ws: Workspace, seconds: float) -> None:
    then = time.time() - seconds
    for path in (ws.store.root / "packs").iterdir():
        os.utime(path, (then, then))
    for path in (ws.store.root / "snapshots").iterdir():
        os.utime(path, (then, then))


def test_fresh_garbage_is_kept_for_a_day_then_collected(ws: Workspace, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("ASSAY_GC_GRACE_SECONDS")
    (ws.root / "kept.txt").write_text("live\n")
    add(ws, [ws.root / "kept.txt"], name="live")
    _garbage(ws)
    before = sorted(p.name for p in (ws.store.root / "packs").iterdir())
    done = gc(ws)
    assert done.recent_kept == 2 and done.grace_seconds == 86400  # the pack and the snapshot
    assert done.chunks_deleted == 0 and done.snapshots_deleted == 0 and done.bytes_freed == 0
    assert sorted(p.name for p in (ws.store.root / "packs").iterdir()) == before
    said = cli("data", "gc", "--dry-run", cwd=ws.root, env={"ASSAY_GC_GRACE_SECONDS": "86400"})
    assert ("would keep 2 unreferenced packs or snapshots written in the last day (a write may still be under way; "
            "ASSAY_GC_GRACE_SECONDS=0 deletes them now)") in said.stdout
    _age_store(ws, 2 * 86400)
    done = gc(ws)
    assert done.recent_kept == 0 and done.snapshots_deleted == 1 and done.chunks_deleted == 1
    assert verify(ws, all_objects=True).ok


def test_the_grace_time_is_set_by_the_environment(ws: Workspace, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    _garbage(ws)
    _age_store(ws, 120)
    doc = cli.json("data", "gc", "--dry-run", cwd=ws.root, env={"ASSAY_GC_GRACE_SECONDS": "3600"})
    assert doc["recent_kept"] == 2 and doc["grace_seconds"] == 3600 and doc["snapshots_deleted"] == 0
    doc = cli.json("data", "gc", "--dry-run", cwd=ws.root, env={"ASSAY_GC_GRACE_SECONDS": "60"})
    assert doc["recent_kept"] == 0 and doc["snapshots_deleted"] == 1
    for bad in ("soon", "-1", "inf"):
        monkeypatch.setenv("ASSAY_GC_GRACE_SECONDS", bad)
        with pytest.raises(UsageError, match="ASSAY_GC_GRACE_SECONDS"):
            gc(ws)
    refused = cli("data", "gc", cwd=ws.root, env={"ASSAY_GC_GRACE_SECONDS": "soon"}, check=2)
    assert "ASSAY_GC_GRACE_SECONDS='soon' is not a number of seconds" in refused.stderr


def test_a_push_that_takes_no_hold_loses_nothing_to_a_gc_of_its_store(
        tmp_path: Path, store_url: tuple[str, dict], monkeypatch: pytest.MonkeyPatch) -> None:
    """An assay from before the store's lock pushes without a hold: a gc between its packs and
    its refs found them unreferenced and deleted them, and the push still said it pushed."""
    from assay.data import _remote, push

    url, options = store_url
    bob, alice = bob_and_alice(tmp_path, url, options)
    monkeypatch.delenv("ASSAY_GC_GRACE_SECONDS")
    monkeypatch.setattr(_remote, "remote_hold", lambda *a, **k: contextlib.nullcontext(
        type("NoHold", (), {"check": lambda self, **kw: None, "held": False})()))
    real = _remote._write_refs
    during: list[object] = []

    def gc_first(*args, **kwargs):  # type: ignore[no-untyped-def]
        during.append(gc(bob))
        return real(*args, **kwargs)

    monkeypatch.setattr(_remote, "_write_refs", gc_first)
    assert push(alice).versions == ["ds@v1"]
    (collected,) = during
    assert collected.recent_kept >= 2 and collected.chunks_deleted == 0 and collected.snapshots_deleted == 0  # type: ignore[attr-defined]
    assert pulled_whole(tmp_path, url, options) == ["ds@v1"]
    assert json.loads(json.dumps(collected.to_dict()))["recent_kept"] >= 2  # type: ignore[attr-defined]


def test_a_young_snapshot_kept_keeps_its_chunks_however_old_their_packs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A push and a pull skip the chunks of a snapshot they find: gc kept a young snapshot
    and deleted its chunks' old packs, and the next push of that version said it pushed
    while the remote held none of its chunks."""
    from assay.data import _remote, push

    (tmp_path / "shared").mkdir()
    shared = tmp_path / "shared"
    bob, alice = bob_and_alice(tmp_path, str(shared), {})
    monkeypatch.delenv("ASSAY_GC_GRACE_SECONDS")
    push(alice)  # two days ago: a push that got its packs there, not its snapshot or ref
    ((snap,),) = alice.ledger.query("SELECT snapshot FROM versions")
    (shared / "snapshots" / snap).unlink()
    for ref in (shared / "versions" / "ds").iterdir():
        ref.unlink()
    _age_store(bob, 2 * 86400)

    def cut(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("the network went away")

    real = _remote._write_refs
    monkeypatch.setattr(_remote, "_write_refs", cut)
    with pytest.raises(OSError):
        push(alice)  # now: its chunks are there, so it sends only the snapshot, then fails
    monkeypatch.setattr(_remote, "_write_refs", real)
    dry = gc(bob, dry_run=True)
    done = gc(bob)
    assert done.recent_kept == dry.recent_kept == 1 and done.snapshots_deleted == 0
    assert done.chunks_deleted == dry.chunks_deleted == 0 and done.bytes_freed == dry.bytes_freed == 0
    assert push(alice).versions == ["ds@v1"]
    assert pulled_whole(tmp_path, str(shared), {}) == ["ds@v1"]  # every chunk of it is there


def test_an_object_whose_age_the_store_cannot_tell_is_kept(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store without modification times (a backend that does not implement them): gc took
    every unreferenced object for old and deleted it, grace time or not."""
    monkeypatch.delenv("ASSAY_GC_GRACE_SECONDS")
    _garbage(ws)

    def unknown(key: str) -> float:
        raise NotImplementedError

    monkeypatch.setattr(ws.store, "modified", unknown)
    done = gc(ws)
    assert done.recent_kept == 2 and done.snapshots_deleted == 0 and done.chunks_deleted == 0
    monkeypatch.setenv("ASSAY_GC_GRACE_SECONDS", "0")
    done = gc(ws)
    assert done.snapshots_deleted == 1 and done.chunks_deleted == 1


def test_a_bad_grace_time_is_refused_before_gc_takes_or_reads_anything(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """It was read only after gc had held the store (with --wait, after waiting out the
    pushes under way) and loaded every live snapshot: a damaged one stopped it first."""
    (ws.root / "kept.txt").write_text("live\n")
    add(ws, [ws.root / "kept.txt"], name="live")
    for path in (ws.store.root / "snapshots").iterdir():
        path.unlink()
    monkeypatch.setenv("ASSAY_GC_GRACE_SECONDS", "soon")
    with pytest.raises(UsageError, match="ASSAY_GC_GRACE_SECONDS='soon' is not a number"):
        gc(ws)
    with pytest.raises(UsageError, match="ASSAY_GC_GRACE_SECONDS"):
        gc(ws, dry_run=True)


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan"), float("inf"), "0.5", True, None])
def test_a_rewrite_threshold_outside_0_to_1_is_refused_before_anything(ws: Workspace, threshold: object) -> None:
    _garbage(ws)
    _age_store(ws, 3 * 86400)
    with pytest.raises(UsageError, match="rewrite_threshold must be a number from 0 to 1") as raised:
        gc(ws, rewrite_threshold=threshold)  # type: ignore[arg-type]
    assert repr(threshold) in raised.value.message and raised.value.hint
    assert gc(ws, dry_run=True).chunks_deleted > 0  # nothing was deleted
    for fine in (0, 0.5, 1):
        gc(ws, dry_run=True, rewrite_threshold=fine)
