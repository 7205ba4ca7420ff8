"""Commands that read packs (checkout, verify, a diff of tables) hold the shared workspace
lock: a gc or a repair retiring packs meanwhile would otherwise pull a pack from under
them, and a verify would report damage that is not there."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assay.data import _gc, _verify, add, checkout, gc, verify
from assay.data._packs import workspace_packs
from assay.workspace import Workspace
from tests._lines import line_within


def mixed_pack(ws: Workspace) -> dict[str, bytes]:
    """One pack holding chunks of a live version and dead ones: gc rewrites it (a new pack
    with the live chunks, then the old one deleted)."""
    keep = {f"k{i}.bin": os.urandom(30_000 + i) for i in range(8)}
    (ws.root / "d").mkdir()
    for name, data in keep.items():
        (ws.root / "d" / name).write_bytes(data)
    for i in range(8):
        (ws.root / "d" / f"j{i}.bin").write_bytes(os.urandom(30_000 + i))
    add(ws, ["d"], name="all")
    for i in range(8):
        (ws.root / "d" / f"j{i}.bin").unlink()
    add(ws, ["d"], name="kept", allow_overlap=True)  # no new chunk: it reuses the first pack
    ws.ledger.execute("DELETE FROM versions WHERE dataset = ?", ("all",))
    return keep


class PausingGc:
    """A gc in a thread that stops before its first deletion until a reader has loaded the
    pack index (``read_index``), or 3 s have passed (the reader waits for the lock); the
    reader's hook then waits for the gc to end (``done``) before it reads any pack."""

    def __init__(self, ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
        self.about_to_delete, self.read_index, self.done = threading.Event(), threading.Event(), threading.Event()
        real_delete = _gc._delete_pack

        def slow_delete(delete, pack_id):  # type: ignore[no-untyped-def]
            self.about_to_delete.set()
            self.read_index.wait(3)
            real_delete(delete, pack_id)

        monkeypatch.setattr(_gc, "_delete_pack", slow_delete)
        self.result = None

        def run() -> None:
            self.result = gc(ws)
            self.done.set()

        self.thread = threading.Thread(target=run)

    def reader_hook(self, real):  # type: ignore[no-untyped-def]
        def hooked(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.read_index.set()
            assert self.done.wait(30)
            return real(*args, **kwargs)

        return hooked

    def start(self) -> None:
        self.thread.start()
        assert self.about_to_delete.wait(30)

    def join(self) -> None:
        self.thread.join(30)
        assert self.result is not None and self.result.packs_rewritten == 1


def test_verify_waits_for_a_gc_rewriting_the_packs_it_reads(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    mixed_pack(ws)
    other = Workspace.open(ws.root)  # another process's view: its own lock file handle and pack index
    racing = PausingGc(ws, monkeypatch)
    monkeypatch.setattr(_verify, "_verify", racing.reader_hook(_verify._verify))  # called with the index loaded
    racing.start()
    report = verify(other, all_objects=True)
    racing.join()
    assert report.ok, [d.to_dict() for d in report.damaged]
    assert verify(Workspace.open(ws.root), all_objects=True).ok


def test_checkout_waits_for_a_gc_rewriting_the_packs_it_reads(ws: Workspace, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    keep = mixed_pack(ws)
    other = Workspace.open(ws.root)
    from assay.data import _checkout

    workspace_packs(other).has(b"")  # its index is loaded before the gc: the old pack's place is in it
    racing = PausingGc(ws, monkeypatch)
    real_write = racing.reader_hook(_checkout._write_in_threads)

    def write_after_gc(packs, *args, **kwargs):  # type: ignore[no-untyped-def]
        packs.has(b"")  # the pack index is loaded; the packs are read next
        return real_write(packs, *args, **kwargs)

    monkeypatch.setattr(_checkout, "_write_in_threads", write_after_gc)
    racing.start()
    checkout(other, "kept", to=tmp_path / "out")
    racing.join()
    for name, data in keep.items():
        assert (tmp_path / "out" / "d" / name).read_bytes() == data


def test_a_workspace_kept_open_across_a_gc_elsewhere_stores_what_gc_deleted(ws: Workspace, tmp_path: Path) -> None:
    """The Python API keeps a workspace object, and its loaded pack index, between calls.
    A gc in another process deletes chunks no version needs; an add through the old object
    must store them again, not find them in an index that predates the gc."""
    mixed_pack(ws)
    rng = random.Random(5)
    (ws.root / "e").mkdir()
    files = {f"e{i}.bin": rng.randbytes(30_000) for i in range(8)}
    for name, data in files.items():
        (ws.root / "e" / name).write_bytes(data)
    add(ws, [ws.root / "e"], name="first")  # the open object's index holds these chunks now
    ws.ledger.execute("DELETE FROM versions WHERE dataset = ?", ("first",))
    assert gc(Workspace.open(ws.root)).chunks_deleted == 8 + len(files)  # another process
    result = add(ws, [ws.root / "e"], name="again")
    assert result.new_chunks == len(files)
    report = verify(Workspace.open(ws.root), all_objects=True)
    assert report.ok, [d.to_dict() for d in report.damaged]
    checkout(ws, "again", to=tmp_path / "out")
    for name, data in files.items():
        assert (tmp_path / "out" / "e" / name).read_bytes() == data


def test_a_reader_says_it_waits_for_a_gc_in_another_process(ws: Workspace, tmp_path: Path) -> None:
    mixed_pack(ws)
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import sys; from assay.workspace import Workspace\n"
                                f"ws = Workspace.open({str(ws.root)!r})\n"
                                "with ws.lock(exclusive=True):\n    print('held', flush=True)\n    sys.stdin.read()\n")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        reader = subprocess.Popen([sys.executable, "-m", "assay", "data", "verify", "--all", "--json"], cwd=ws.root,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.0)
        assert reader.poll() is None  # waiting while the exclusive lock is held
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    assert "waiting for the workspace lock" in err
    assert json.loads(out)["ok"] is True  # the message went to stderr: stdout stays JSON


def _locker(ws: Workspace, exclusive: bool) -> subprocess.Popen[str]:
    """A process that takes the lock, prints ``held``, and lets it go at a line on stdin."""
    code = ("import sys; from assay.workspace import Workspace\n"
            f"ws = Workspace.open({str(ws.root)!r})\n"
            f"with ws.lock(exclusive={exclusive}):\n    print('held', flush=True)\n    sys.stdin.readline()\n")
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _said_held(proc: subprocess.Popen[str], within: float) -> bool:
    return line_within(proc.stdout, within).strip() == "held"


def test_a_waiting_gc_goes_before_readers_that_come_after_it(ws: Workspace) -> None:
    """flock alone grants a new shared lock while an exclusive one waits: a steady stream of
    readers kept gc waiting. Readers that come after a waiting gc now queue behind it."""
    with ws.lock():  # a long reader, here
        gc_ = _locker(ws, exclusive=True)
        try:
            assert gc_.stderr is not None
            assert "waiting for the workspace lock" in gc_.stderr.readline()  # it waits for this reader
            reader = _locker(ws, exclusive=False)
            try:
                assert not _said_held(reader, 1.5)  # it came after the gc: it waits too
            except BaseException:
                reader.kill()
                raise
        except BaseException:
            gc_.kill()
            raise
    try:
        assert _said_held(gc_, 30)  # the first reader is gone: the gc goes first ...
        assert not _said_held(reader, 0.5)
        assert gc_.stdin is not None
        gc_.stdin.write("\n")
        gc_.stdin.flush()
        assert gc_.wait(30) == 0
        assert _said_held(reader, 30)  # ... then the reader
        assert reader.stdin is not None
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.wait(30) == 0
        assert reader.stderr is not None and "a gc or a repair" in reader.stderr.read()
    finally:
        for proc in (gc_, reader):
            if proc.poll() is None:
                proc.kill()


def test_a_shared_lock_inside_a_held_one_is_the_one_held(ws: Workspace) -> None:
    """A checkout inside a pull, a verify inside a repair: taking the lock again could wait
    behind a gc that waits for the outer hold, so the inner one is a no-op."""
    with ws.lock(), ws.lock():
        assert verify(ws).ok
    with ws.lock(exclusive=True), ws.lock():
        pass
    with ws.lock(), pytest.raises(RuntimeError, match="exclusive"), ws.lock(exclusive=True):
        pass
    # Another thread does not share this thread's hold: it waits for it.
    got = threading.Event()

    def take() -> None:
        with ws.lock():
            got.set()

    with ws.lock(exclusive=True):
        t = threading.Thread(target=take)
        t.start()
        assert not got.wait(0.5)
    assert got.wait(10)
    t.join(10)


def test_a_thread_holding_the_lock_through_one_object_holds_it_through_another(ws: Workspace) -> None:
    """A maintenance script holding the exclusive lock, then verifying through a second
    workspace object on the same folder: a second file lock would wait for the first."""
    mixed_pack(ws)
    done = threading.Event()

    def body() -> None:
        with ws.lock(exclusive=True):
            assert verify(Workspace.open(ws.root)).ok
        done.set()

    t = threading.Thread(target=body, daemon=True)
    t.start()
    assert done.wait(20)


def test_a_lock_file_this_user_can_only_read_is_opened_read_only(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the lock file cannot be opened for writing it is opened read-only (flock works
    on it, shared or exclusive); where it cannot be opened at all the command stops before
    it reads or deletes anything: gc without the lock could delete what a reader relies on."""
    from assay import _workspace_lock
    from assay.errors import InputError

    mixed_pack(ws)
    real_open = os.open
    opened: list[int] = []
    refuse = {"read": False}

    def open_as_reader(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).endswith("/lock"):
            opened.append(flags)
            if flags & (os.O_RDWR | os.O_WRONLY) or refuse["read"]:
                raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(_workspace_lock.os, "open", open_as_reader)  # where the lock file is opened
    reader = Workspace.open(ws.root)
    assert verify(reader).ok
    assert opened[-1] == os.O_RDONLY
    refuse["read"] = True
    packs = sorted(p.name for p in (ws.dir / "objects" / "packs").iterdir())
    with pytest.raises(InputError, match="cannot open the workspace lock"):
        gc(reader)
    with pytest.raises(InputError, match="cannot open the workspace lock"):
        verify(reader)
    assert sorted(p.name for p in (ws.dir / "objects" / "packs").iterdir()) == packs  # nothing deleted


def test_without_a_gate_the_lock_still_works_and_leaks_nothing(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """A workspace whose cache folder this user cannot write (made by another user, or an
    older assay): no gate can be made. The lock itself must work, and leave no descriptor."""
    from assay.errors import InputError

    real = Workspace._lock_file

    def no_gate(self: Workspace, name: str = "lock") -> int:
        if name != "lock":
            raise InputError("cannot open the workspace lock: permission denied")
        return real(self, name)

    monkeypatch.setattr(Workspace, "_lock_file", no_gate)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with ws.lock():
            pass
        with ws.lock(exclusive=True):
            pass
    assert len(os.listdir("/proc/self/fd")) == before
    assert verify(ws).ok


def test_the_gate_lives_where_git_already_ignores(ws: Workspace) -> None:
    with ws.lock():
        pass
    assert (ws.dir / "cache" / "lock.gate").exists() and not (ws.dir / "lock.gate").exists()
    assert "/cache/" in (ws.dir / ".gitignore").read_text().split()
