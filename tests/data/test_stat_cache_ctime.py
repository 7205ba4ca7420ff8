"""The stat cache compares ctime too: an edit that keeps a file's size and puts its mtime
back (``touch -d``, ``cp -p``, ``rsync -t``) is still seen by status and recorded by add."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from assay.data import add, checkout, status
from assay.data._checkout import _renamed_stat
from assay.data._scan import StatCache, scan
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


def test_checkout_in_place_caches_the_ctime_the_file_has_after_its_rename(ws: Workspace) -> None:
    (ws.root / "d").mkdir()
    for i in range(5):
        (ws.root / "d" / f"{i}.txt").write_text(f"one {i}")
    add(ws, [ws.root / "d"], name="ds")
    for i in range(5):
        (ws.root / "d" / f"{i}.txt").write_text(f"two {i}!")
    add(ws, [ws.root / "d"], name="ds")
    checkout(ws, "ds@v1")
    for i in range(5):
        rel = f"d/{i}.txt"
        st = (ws.root / rel).stat()
        assert _cached(ws, rel) == (st.st_ctime_ns, st.st_mtime_ns)
    # Entries are trusted once outside the racy window: the checkout's own rows match the disk.
    entries = scan(ws, ["d"]).files
    rows = StatCache(ws)._load()
    assert all(rows[e.rel][4] == e.st.st_ctime_ns for e in entries)


def test_a_file_replaced_after_its_rename_is_not_cached(tmp_path: Path) -> None:
    f = tmp_path / "x"
    f.write_bytes(b"12345")
    written = f.stat()
    assert _renamed_stat(str(f), written) is not None
    with open(f, "ab") as fh:
        fh.write(b"6")  # written to in between: another size
    assert _renamed_stat(str(f), written) is None
    f.unlink()
    assert _renamed_stat(str(f), written) is None
