"""A thread that holds a store and takes a hold on it again (a library user's code inside a
hold, an operation calling another) holds it on, counted: before, a shared hold inside an
exclusive one waited for ever on this thread's own marker, and an exclusive one inside an
exclusive one refused, naming this very process (found by review)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assay.data._storelock import LOCKS, store_hold, store_hold_within
from assay.errors import ConcurrencyError
from assay.store import open_store


def _markers(store: Any) -> list[str]:
    return sorted(store.list(LOCKS))


def _within(seconds: float, body: Callable[[], Any]) -> Any:
    """``body()`` in a thread, failing the test if it has not ended within ``seconds`` (a
    thread waiting for itself never does)."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(_outcome(body)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert out, f"still waiting after {seconds} s: the hold waited for itself"
    if isinstance(out[0], BaseException):
        raise out[0]
    return out[0]


def _outcome(body: Callable[[], Any]) -> Any:
    try:
        return body()
    except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
        return exc


@pytest.fixture
def store(tmp_path: Path, store_url: tuple[str, dict]) -> Any:
    url, options = store_url
    return open_store(url, **options)


@pytest.mark.parametrize(("outer", "inner"), [("gc", "verify"), ("gc", "repair"), ("push", "pull")])
def test_a_hold_taken_again_by_the_same_thread_is_counted(store: Any, outer: str, inner: str) -> None:
    def nested() -> list[list[str]]:
        seen = []
        with store_hold(store, outer, where="the store", wait=False) as first:
            seen.append(_markers(store))
            with store_hold(store, inner, where="the store", wait=False) as second:
                assert second is first and first.depth == 2
                seen.append(_markers(store))
            assert first.depth == 1 and first.held
            first.check(confirm=True)  # still held: the inner one let nothing go
            seen.append(_markers(store))
        seen.append(_markers(store))
        return seen

    seen = _within(30, nested)
    assert len(seen[0]) == 1 and seen[0][0].startswith(f"{LOCKS}{outer}-")
    assert seen[1] == seen[0] == seen[2]  # one marker, the outer one's
    assert seen[3] == []


@pytest.mark.parametrize("wait", [False, True])
def test_an_exclusive_hold_inside_a_shared_one_refuses_at_once(store: Any, wait: bool) -> None:
    # (it cannot nest: the shared one may be a push's, in the middle of what a gc must not
    # meet; waiting for it, it would wait for itself)
    def nested() -> None:
        with store_hold(store, "push", where="the store"):
            with store_hold(store, "gc", where="the store", wait=wait):
                pass

    with pytest.raises(ConcurrencyError, match=f"refusing to gc the store: a push by .*pid {os.getpid()}"):
        _within(30, nested)
    assert _markers(store) == []


def test_a_gc_s_hold_inside_its_own_is_counted_too(store: Any) -> None:
    from contextlib import nullcontext

    def nested() -> int:
        with store_hold_within(lambda **_: nullcontext(), store, "gc", where="the store", wait=True) as first:
            with store_hold(store, "verify", where="the store"), \
                 store_hold_within(lambda **_: nullcontext(), store, "repair", where="the store") as again:
                assert again is first
                return first.depth

    assert _within(30, nested) == 3
    assert _markers(store) == []


def test_another_thread_still_meets_the_hold(store: Any) -> None:
    with store_hold(store, "gc", where="the store", wait=False):
        entered = threading.Event()

        def push() -> None:
            with store_hold(store, "push", where="the store"):
                entered.set()

        thread = threading.Thread(target=push, daemon=True)
        thread.start()
        assert not entered.wait(1.0)  # it waits for the gc, as another process's push does
    assert entered.wait(30)
    thread.join(30)


def test_an_exclusive_hold_taken_inside_a_lapsed_shared_one_gives_the_thread_s_hold_back(tmp_path: Path) -> None:
    # the shared hold's marker gone (judged stale and removed by another): the exclusive one
    # inside it is taken, and on its end this thread holds the shared one again
    store = open_store(str(tmp_path / "s"))
    with store_hold(store, "push", where="the store") as outer:
        store.delete(LOCKS + outer.name)
        with store_hold(store, "gc", where="the store", wait=False) as inner:
            assert inner is not outer
        with store_hold(store, "pull", where="the store") as again:
            assert again is outer and outer.depth == 2
    assert _markers(store) == []
