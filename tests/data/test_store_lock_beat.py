"""A heartbeat held up past its marker's stale time must not bring the hold back to life.

The beat asks whether its marker is still there, then writes it again. A process paused (or a
request held up) between the two, long enough for its marker to go stale, let a gc find the
marker stale, remove it and go on deleting; the beat then wrote the marker back, and the push
went on as if it had held the store all along: it wrote refs to chunks the gc deleted (found
by review)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from assay.data._storelock import LOCKS, StoreHold
from assay.errors import ConcurrencyError


def test_a_beat_that_lands_after_the_marker_went_stale_leaves_the_hold_lapsed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.store import open_store

    monkeypatch.setenv("ASSAY_LOCK_STALE_SECONDS", "1")
    store = open_store(f"memory://revive-{os.getpid()}-{time.time_ns()}/s", tmp_path)
    push = StoreHold(store, "push", "the store", None)
    push.acquire(wait=True, optional=False)
    gc_hold = StoreHold(store, "gc", "the store", None)
    gc_in, held_up = threading.Event(), threading.Event()
    exists = store.exists

    def paused(key: str) -> bool:  # the push's beat: held up, then its marker found still there...
        if threading.current_thread().name == "assay-push-hold" and not held_up.is_set():
            held_up.set()
            time.sleep(1.6)  # past the second its marker stays live
            there = exists(key)
            gc_hold.acquire(wait=False, optional=False)  # ...a gc finds it stale, removes it, goes on
            gc_in.set()
            return there  # ...and the beat writes it back
        return exists(key)

    monkeypatch.setattr(store, "exists", paused)
    try:
        assert gc_in.wait(30)
        assert gc_hold.held and gc_hold.stale_removed == 1  # the gc holds the store: it deletes now
        deadline = time.monotonic() + 10
        while not store.exists(f"{LOCKS}{push.name}") and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)  # (the beat's bookkeeping after its write)
        with pytest.raises(ConcurrencyError, match="lapsed"):
            push.check(confirm=True)  # the push must not record refs to what the gc deletes
    finally:
        gc_in.set()
        push.release()
        gc_hold.release()


def test_an_exclusive_taker_whose_marker_lapsed_while_it_waited_takes_it_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A gc waiting for a push has deleted nothing: a marker of its that lapsed meanwhile (a beat
    # too late, or removed as stale) is written anew and the holds listed again, instead of the
    # gc going on to fail at its first deletion.
    from assay.store import open_store

    monkeypatch.setenv("ASSAY_LOCK_STALE_SECONDS", "1")
    store = open_store(f"memory://relapse-{os.getpid()}-{time.time_ns()}/s", tmp_path)
    push = StoreHold(store, "push", "the store", None)
    push.acquire(wait=True, optional=False)
    gc_hold = StoreHold(store, "gc", "the store", None)
    taker = threading.Thread(target=gc_hold.acquire, kwargs={"wait": True, "optional": False}, daemon=True)
    taker.start()
    try:
        deadline = time.monotonic() + 30
        while not store.exists(f"{LOCKS}{gc_hold.name}"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        gc_hold._lost = True  # as its beat says of a write that landed too late
        store.delete(f"{LOCKS}{gc_hold.name}")  # and a taker that judged it stale removed it
        time.sleep(0.6)  # (the gc notices while it waits)
        assert store.exists(f"{LOCKS}{gc_hold.name}")  # written anew: new pushes wait behind it
    finally:
        push.release()
    taker.join(30)
    try:
        assert not taker.is_alive() and gc_hold.held
        gc_hold.check(confirm=True)  # it holds the store: a gc may delete now
    finally:
        gc_hold.release()
