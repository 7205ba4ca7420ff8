"""The stat cache compares ctime too: an edit that keeps a file's size and puts its mtime
back (``touch -d``, ``cp -p``, ``rsync -t``) is still seen by status and recorded by add."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from assay.data import add, checkout, status
from assay.data._checkout import _renamed_stat
from assay.workspace import Workspace

OLD = 1_600_000_000  # outside the racy window: the cache trusts the entry


def _rewrite_keeping_size_and_mtime(path: Path, data: bytes) -> None:
    before = path.stat()
    assert len(data) == before.st_size
    time.sleep(0.02)  # the next write's ctime is a later tick
    with open(path, "r+b") as fh:
        fh.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    assert after.st_ctime_ns != before.st_ctime_ns


def _cached(ws: Workspace, rel: str) -> tuple[int, int] | None:
    conn = sqlite3.connect(ws.cache_dir / "stat.db")
    try:
        row = conn.execute("SELECT ctime_ns, mtime_ns FROM files WHERE path = ?", (rel,)).fetchone()
    finally:
        conn.close()
    return row


def test_an_edit_that_keeps_size_and_mtime_is_modified_and_added(ws: Workspace) -> None:
    f = ws.root / "d" / "a.bin"
    f.parent.mkdir()
    f.write_bytes(b"A" * 4096)
    (ws.root / "d" / "b.bin").write_bytes(b"b")
    for p in (f, ws.root / "d" / "b.bin"):
        os.utime(p, (OLD, OLD))
    v1 = add(ws, [ws.root / "d"], name="ds").version
    assert v1 is not None
    assert not status(ws, "ds").dirty  # the cache now trusts both files

    _rewrite_keeping_size_and_mtime(f, b"B" * 4096)
    st = status(ws, "ds")
    assert st.modified == ["d/a.bin"] and not st.added and not st.removed
    v2 = add(ws, [ws.root / "d"], name="ds").version
    assert v2 is not None and v2.id != v1.id  # the new bytes, not the cached manifest of the old

    checkout(ws, "ds@v1")
    assert f.read_bytes() == b"A" * 4096
    checkout(ws, "ds@v2")
    assert f.read_bytes() == b"B" * 4096


def test_a_chmod_round_trip_makes_the_file_a_suspect_not_a_change(ws: Workspace) -> None:
    f = ws.root / "a.txt"
    f.write_text("same bytes")
    os.utime(f, (OLD, OLD))
    add(ws, [f], name="ds")
    assert status(ws, "ds").rehashed == 0
    time.sleep(0.02)
    f.chmod(0o600)
    f.chmod(0o644)  # the ctime moved, the content did not
    st = status(ws, "ds")
    assert not st.dirty and st.rehashed == 1  # read again, found the same
    assert status(ws, "ds").rehashed == 0  # and trusted again from then on


def test_checkout_in_place_caches_the_ctime_the_file_has_after_its_rename(ws: Workspace,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import assay.data._checkout as co

    (ws.root / "d").mkdir()
    for i in range(5):
        (ws.root / "d" / f"{i}.txt").write_text(f"one {i}")
    add(ws, [ws.root / "d"], name="ds")
    for i in range(5):
        (ws.root / "d" / f"{i}.txt").write_text(f"two {i}!")
    add(ws, [ws.root / "d"], name="ds")
    real_replace = os.replace

    def slow_replace(src: str, dst: str) -> None:
        time.sleep(0.03)  # longer than a coarse ctime tick (kernels before 6.13): the rename moves it
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", slow_replace)
    # As if the checkout had written its files long enough ago that the cache will trust them.
    real_ns = time.time_ns
    monkeypatch.setattr(co.time, "time_ns", lambda: real_ns() + 10 * 10**9)
    checkout(ws, "ds@v1")
    for i in range(5):
        rel = f"d/{i}.txt"
        st = (ws.root / rel).stat()
        assert _cached(ws, rel) == (st.st_ctime_ns, st.st_mtime_ns)


def test_checkout_leaves_the_extra_stat_out_for_files_the_cache_will_not_trust(ws: Workspace,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import assay.data._checkout as co

    (ws.root / "a.txt").write_text("one")
    add(ws, [ws.root / "a.txt"], name="ds")
    (ws.root / "a.txt").write_text("two!")
    add(ws, [ws.root / "a.txt"], name="ds")
    stats: list[str] = []
    real = co._renamed_stat
    monkeypatch.setattr(co, "_renamed_stat", lambda dest, st: stats.append(dest) or real(dest, st))
    checkout(ws, "ds@v1")  # written just now: within the racy window
    assert stats == [] and _cached(ws, "a.txt") is not None
    assert status(ws, "ds").rehashed == 1  # not trusted: read once more, found the same


def test_a_file_replaced_after_its_rename_is_not_cached(tmp_path: Path) -> None:
    f = tmp_path / "x"
    f.write_bytes(b"12345")
    written = f.stat()
    assert _renamed_stat(str(f), written) is not None
    with open(f, "ab") as fh:
        fh.write(b"6")  # written to in between: another size
    assert _renamed_stat(str(f), written) is None
    other = tmp_path / "y"
    other.write_bytes(b"12345")
    os.utime(other, ns=(written.st_atime_ns, written.st_mtime_ns))
    os.replace(other, f)  # another file put there, with the same size and mtime: another inode
    assert f.stat().st_ino != written.st_ino and _renamed_stat(str(f), written) is None
    f.unlink()
    assert _renamed_stat(str(f), written) is None


def test_a_read_is_retried_when_the_file_changes_under_it_keeping_size_and_mtime(ws: Workspace,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # add compares the stats before and after reading a file: an edit during the read that
    # puts the mtime back moves only the ctime, and must not leave a manifest of mixed bytes.
    from assay.data._chunking import Chunker

    f = ws.root / "big.bin"
    f.write_bytes(b"A" * (3 << 20))
    os.utime(f, (OLD, OLD))
    real = Chunker.chunks
    edited: list[bool] = []

    def chunks(self: Chunker, path: Path, **kwargs: object):  # type: ignore[no-untyped-def]
        for n, item in enumerate(real(self, path, **kwargs)):
            yield item
            if n == 0 and not edited and path == f:
                edited.append(True)
                time.sleep(0.02)
                with open(f, "r+b") as fh:
                    fh.write(b"B" * (3 << 20))
                os.utime(f, (OLD, OLD))

    monkeypatch.setattr(Chunker, "chunks", chunks)
    v = add(ws, [f], name="big", jobs=1).version
    assert edited == [True]
    out = ws.root / "out"
    checkout(ws, v.ref, to=out)
    assert (out / "big.bin").read_bytes() == b"B" * (3 << 20)  # the bytes after the edit, read whole


def test_same_compares_size_mtime_and_ctime() -> None:
    from assay.data._file_hashing import same_stat

    def st(size: int, mtime: int, ctime: int) -> Any:
        return SimpleNamespace(st_size=size, st_mtime_ns=mtime, st_ctime_ns=ctime)

    assert same_stat(st(5, 10, 20), st(5, 10, 20))
    assert not same_stat(st(5, 10, 20), st(6, 10, 20))
    assert not same_stat(st(5, 10, 20), st(5, 11, 20))
    assert not same_stat(st(5, 10, 20), st(5, 10, 21))
