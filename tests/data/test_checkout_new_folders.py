"""A folder that a checkout makes is written under a temp name beside it, its files under
their own names inside, and renamed into place whole once every file is written: one
rename per new folder instead of one per file, and a checkout that fails leaves no part
of a new folder behind."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import assay.data._checkout as co
from assay.data import add, checkout, gc, status
from assay.errors import CorruptionError, UsageError
from assay.workspace import Workspace


def _tree(root: Path) -> None:
    for folder in ("a", "a/b", "c"):
        (root / "d" / folder).mkdir(parents=True, exist_ok=True)
        for i in range(4):
            (root / "d" / folder / f"f{i}.bin").write_bytes(os.urandom(300) * (i + 1))


def _flip_a_bit(ws: Workspace) -> None:
    """Damage one chunk of the version in this workspace's store."""
    pack = next((ws.root / ".assay" / "objects" / "packs").glob("*.pack"))
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0x01
    pack.chmod(0o644)
    pack.write_bytes(bytes(data))


def _entries(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_new_folder_appears_whole_and_each_of_its_files_is_written_once_under_its_own_name(
        ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(ws.root)
    add(ws, [ws.root / "d"], name="ds")
    moved: list[tuple[list[str], bool]] = []
    real_move = co.move_folder_into_place

    def watch(temp: str, folder: str, ref: str) -> None:
        # Every file is in the temp folder before it moves; nothing is at the folder's name yet.
        moved.append((_entries(Path(temp)), os.path.exists(folder)))
        real_move(temp, folder, ref)

    renames: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(co, "move_folder_into_place", watch)
    monkeypatch.setattr(os, "replace", lambda src, dst: renames.append(dst) or real_replace(src, dst))
    checkout(ws, "ds@v1", to=tmp_path / "out")
    assert moved == [(_entries(ws.root / "d"), False)]  # one folder, d, with all it holds
    assert renames == []  # no file renamed on its own
    assert _entries(tmp_path / "out" / "d") == _entries(ws.root / "d")
    for p in (ws.root / "d").rglob("*.bin"):
        assert (tmp_path / "out" / p.relative_to(ws.root)).read_bytes() == p.read_bytes()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".assay-tmp-")]


def test_new_folders_below_a_missing_one_move_in_with_it(ws: Workspace, tmp_path: Path) -> None:
    # d/x/y/z holds a file; d/x and d/x/y hold none (so the version names no file there).
    (ws.root / "d" / "x" / "y" / "z").mkdir(parents=True)
    (ws.root / "d" / "x" / "y" / "z" / "f.txt").write_text("deep")
    (ws.root / "d" / "x" / "w").mkdir()
    (ws.root / "d" / "x" / "w" / "g.txt").write_text("beside")
    (ws.root / "d" / "top.txt").write_text("top")
    add(ws, [ws.root / "d"], name="ds")
    import shutil

    shutil.rmtree(ws.root / "d" / "x")
    checkout(ws, "ds@v1", force=True)
    assert (ws.root / "d" / "x" / "y" / "z" / "f.txt").read_text() == "deep"
    assert (ws.root / "d" / "x" / "w" / "g.txt").read_text() == "beside"
    assert not [n for n in os.listdir(ws.root / "d") if n.startswith(".assay-tmp-")]
    assert not status(ws, "ds").dirty


def test_in_place_the_stat_cache_trusts_files_written_into_new_folders(ws: Workspace,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Renaming a folder keeps its files' ctime: the stat taken when each file was written is
    # the one the cache keeps, and a status reads none of them again.
    _tree(ws.root)
    add(ws, [ws.root / "d"], name="ds")
    import shutil

    shutil.rmtree(ws.root / "d")
    real_ns = time.time_ns
    monkeypatch.setattr(co.time, "time_ns", lambda: real_ns() + 10 * 10**9)  # written long enough ago to trust
    checkout(ws, "ds@v1")
    conn = sqlite3.connect(ws.cache_dir / "stat.db")
    try:
        for p in (ws.root / "d").rglob("*.bin"):
            rel = str(p.relative_to(ws.root))
            st = p.stat()
            row = conn.execute("SELECT ctime_ns, mtime_ns, ino FROM files WHERE path = ?", (rel,)).fetchone()
            assert row == (st.st_ctime_ns, st.st_mtime_ns, st.st_ino), rel
    finally:
        conn.close()
    monkeypatch.undo()
    st = status(ws, "ds")
    assert not st.dirty and st.rehashed == 0


def test_damage_met_in_a_new_folder_leaves_no_part_of_it(ws: Workspace, tmp_path: Path) -> None:
    _tree(ws.root)
    add(ws, [ws.root / "d"], name="ds")
    _flip_a_bit(ws)
    (tmp_path / "out").mkdir()
    with pytest.raises(CorruptionError):
        checkout(ws, "ds@v1", to=tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []  # no d, and no temp folder


def test_a_folder_made_meanwhile_stops_the_checkout_and_is_left_as_it_is(ws: Workspace, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(ws.root)
    add(ws, [ws.root / "d"], name="ds")
    real = co._write_in_threads

    def then_someone_writes(*args, **kwargs):  # type: ignore[no-untyped-def]
        done = real(*args, **kwargs)
        (tmp_path / "out" / "d").mkdir()
        (tmp_path / "out" / "d" / "mine.txt").write_text("made while the checkout wrote")
        return done

    monkeypatch.setattr(co, "_write_in_threads", then_someone_writes)
    with pytest.raises(UsageError, match="appeared while ds@v1 was being checked out"):
        checkout(ws, "ds@v1", to=tmp_path / "out")
    assert _entries(tmp_path / "out") == ["d", "d/mine.txt"]  # kept; no temp folder left
    assert (tmp_path / "out" / "d" / "mine.txt").read_text() == "made while the checkout wrote"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_checkout_s_temp_folder_is_no_data_and_gc_frees_it(ws: Workspace) -> None:
    _tree(ws.root)
    add(ws, [ws.root / "d"], name="ds")
    left = ws.root / "d" / f".assay-tmp-{_dead_pid()}-000000ff"  # a new folder, killed mid-write
    (left / "sub").mkdir(parents=True)
    (left / "sub" / "x.bin").write_bytes(b"x" * 3000)
    (left / "y.bin").write_bytes(b"y" * 1000)
    assert not status(ws, "ds").dirty  # no walk counts it as data
    dry = gc(ws, dry_run=True)
    assert (dry.checkout_leftovers, dry.checkout_leftover_bytes) == (2, 4000) and left.exists()
    done = gc(ws)
    assert (done.checkout_leftovers, done.checkout_leftover_bytes) == (2, 4000) and not left.exists()
    live = ws.root / "d" / f".assay-tmp-{os.getpid()}-000000ee"  # a live writer's: kept
    live.mkdir()
    (live / "z.bin").write_bytes(b"z")
    assert gc(ws).checkout_leftovers == 0 and live.exists()


def test_a_new_folder_that_cannot_be_made_is_named_not_its_temp_name(ws: Workspace, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(ws.root)
    add(ws, [ws.root / "d"], name="ds")
    real = os.mkdir

    def refused(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if ".assay-tmp-" in str(path):
            raise PermissionError(13, "Permission denied", str(path))  # as a folder this user cannot write to
        return real(path, *args, **kwargs)

    (tmp_path / "out").mkdir()
    monkeypatch.setattr(os, "mkdir", refused)
    with pytest.raises(PermissionError) as caught:
        checkout(ws, "ds@v1", to=tmp_path / "out")
    assert caught.value.filename == str(tmp_path / "out" / "d")
    monkeypatch.undo()
    assert list((tmp_path / "out").iterdir()) == []


def test_gc_finds_a_killed_checkout_s_temp_folder_above_a_source_that_is_not_there(ws: Workspace) -> None:
    # A dataset added from d/raw checked out where neither d nor d/raw is (a fresh clone):
    # the new folder d is made under a temp name in the workspace root, outside the source.
    for rel in ("d/raw/x.bin", "d/raw/sub/y.bin", "e/f.bin"):
        (ws.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws.root / rel).write_bytes(rel.encode() * 100)
    add(ws, [ws.root / "d" / "raw"], name="ds")
    add(ws, [ws.root / "e" / "f.bin"], name="single")  # a file named as a source, its folder gone too
    import shutil

    shutil.rmtree(ws.root / "d")
    shutil.rmtree(ws.root / "e")
    left = ws.root / f".assay-tmp-{_dead_pid()}-000000aa"  # d, killed mid-write
    (left / "raw" / "sub").mkdir(parents=True)
    (left / "raw" / "sub" / "y.bin").write_bytes(b"y" * 700)
    dry = gc(ws, dry_run=True)
    assert (dry.checkout_leftovers, dry.checkout_leftover_bytes) == (1, 700) and left.exists()  # counted once
    assert gc(ws).checkout_leftovers == 1 and not left.exists()


@pytest.mark.parametrize("jobs", ["threads", "processes"])
def test_an_error_met_writing_into_a_new_folder_names_the_file_not_its_temp_path(
        ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: str) -> None:
    import errno

    from assay.data import _checkout_write, _fork

    _tree(ws.root)
    add(ws, [ws.root / "d"], name="ds")
    if jobs == "processes":
        monkeypatch.setattr(co, "processes_for", lambda *args: 2)
        monkeypatch.setattr(_fork, "can_fork", lambda: True)
    real = os.open

    def full(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).endswith("/b/f2.bin"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))  # out of inodes
        return real(path, *args, **kwargs)

    monkeypatch.setattr(_checkout_write.os, "open", full)
    (tmp_path / "out").mkdir()
    with pytest.raises(OSError) as caught:
        checkout(ws, "ds@v1", to=tmp_path / "out")
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(tmp_path / "out" / "d" / "a" / "b" / "f2.bin")
    assert ".assay-tmp-" not in str(caught.value)
    monkeypatch.undo()
    assert list((tmp_path / "out").iterdir()) == []


def test_damage_met_in_a_new_folder_leaves_the_file_in_its_way(ws: Workspace, tmp_path: Path) -> None:
    # The file where the version has a folder goes only as the folder moves into place: a
    # damaged chunk leaves it, as it leaves the rest of the target.
    _tree(ws.root)
    add(ws, [ws.root / "d"], name="ds")
    _flip_a_bit(ws)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "d").write_text("in the way")
    with pytest.raises(CorruptionError):
        checkout(ws, "ds@v1", to=tmp_path / "out", force=True)
    assert _entries(tmp_path / "out") == ["d"] and (tmp_path / "out" / "d").read_text() == "in the way"
