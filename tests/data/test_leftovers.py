"""What interrupted and killed commands leave behind, found by a crash trial: SIGTERM ended
commands on the spot (temp files stayed), a killed `checkout --to` left temp files no command
removed, a failed or killed push to a folder remote left parts of packs in its `.tmp` for
ever (a full remote stayed full), a COMMIT that failed on a full disk became an internal
error, and permission errors were internal errors."""

from __future__ import annotations

import errno
import io
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from assay.store import LocalStore
from assay._process import host_tag


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _data(root: Path, files: int = 60) -> None:
    (root / "d").mkdir()
    for i in range(files):
        (root / "d" / f"f{i:03d}.bin").write_bytes(os.urandom(2048) * (i + 1))


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".assay-tmp-*")]


def test_sigterm_ends_a_checkout_as_an_interrupt_does(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _data(tmp_path)
    cli("data", "add", "d", "--name", "ds")
    # One signal lands while the writers are at work: after the first batch's temp files exist.
    # Only one: the 60 files are two batches on two threads, and a second SIGTERM would land
    # while the first unwinds (ending the cleanup, as a second signal is meant to).
    code = (
        "import os, signal, sys, threading\n"
        "from assay.data import _checkout_write\n"
        "write = _checkout_write._write_batch\n"
        "sent = threading.Lock()\n"
        "def batch(*args, **kwargs):\n"
        "    done = write(*args, **kwargs)\n"
        "    assert any(os.path.exists(t[0]) for t in done)\n"
        "    if sent.acquire(blocking=False):\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return done\n"
        "_checkout_write._write_batch = batch\n"
        "sys.argv = ['assay', 'data', 'checkout', 'ds@v1', '--to', 'out']\n"
        "from assay.cli import main\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ASSAY_PROGRESS": "0"}, check=False)
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "assay: terminated" and "Traceback" not in proc.stderr
    assert (tmp_path / "out").is_dir() and not _temps(tmp_path / "out")
    cli("data", "checkout", "ds@v1", "--to", "out")
    assert len(list((tmp_path / "out" / "d").iterdir())) == 60


def test_a_handler_set_before_assay_started_is_kept(tmp_path: Path) -> None:
    # nohup sets SIGHUP to be ignored: assay does not take it over.
    code = ("import signal, sys\nsignal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
            "from assay.cli import _end_as_interrupted\n_end_as_interrupted()\n"
            "print(signal.getsignal(signal.SIGHUP) is signal.SIG_IGN, callable(signal.getsignal(signal.SIGTERM)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True"]


def test_a_killed_checkout_s_temp_files_go_with_the_next_checkout(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _data(tmp_path, files=3)
    cli("data", "add", "d", "--name", "ds")
    cli("data", "checkout", "ds@v1", "--to", "out")
    dead = _dead_pid()
    # What a checkout killed outright (SIGKILL) leaves: its note, and temp files where it wrote.
    left = [tmp_path / "out" / "d" / f".assay-tmp-{dead}-{i:08x}" for i in range(3)]
    for path in left:
        path.write_bytes(b"partial")
    mine = tmp_path / "out" / "d" / f".assay-tmp-{os.getpid()}-0000000a"  # a live writer's: kept
    mine.write_bytes(b"in progress")
    notes = tmp_path / ".assay" / "cache" / "checkouts"
    notes.mkdir(exist_ok=True)
    (notes / f"{dead}-{host_tag()}-0badcafe").write_text(str(tmp_path / "out" / "d"))
    (notes / f"{dead}-h00000000-0badcafe").write_text(str(tmp_path / "out" / "d"))  # another machine's note
    cli("data", "checkout", "ds@v1", "--to", "out")
    assert not any(p.exists() for p in left) and mine.exists()
    assert [p.name for p in notes.iterdir()] == [f"{dead}-h00000000-0badcafe"]


def test_a_folder_remote_keeps_no_part_of_a_failed_or_killed_push(ws, cli, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote"
    _data(tmp_path, files=3)
    cli("data", "add", "d", "--name", "ds")
    cli("remote", "add", "origin", str(remote))
    dead = _dead_pid()
    ours = remote / ".tmp" / f"{dead}-{host_tag()}-0123456789ab-x.pack"  # a push killed on this machine
    old = remote / ".tmp" / f"{dead}-0123456789ab-x.pack"  # an older assay's name (no host): maybe live elsewhere
    theirs = remote / ".tmp" / f"{dead}-h00000000-0123456789ab-x.pack"  # another machine's writer: its own
    ours.parent.mkdir(parents=True)  # (`remote add` makes no folder: the first push would)
    for path in (ours, old, theirs):
        path.write_bytes(b"part of a pack")
    aged = remote / ".tmp" / f"{dead}-ba0123456789-y.pack"  # an older assay's, untouched for two days
    aged.write_bytes(b"part of a pack")
    os.utime(aged, (time.time() - 2 * 86_400,) * 2)
    cli("data", "push")
    # On a remote (maybe a file server that several machines write), only this machine's dead
    # writers are judged by their process; a name without a host waits a day.
    assert not ours.exists() and old.exists() and theirs.exists() and not aged.exists()
    cli("data", "verify", "--remote", "origin")

    # A write that fails (a full disk) removes what it had written.
    store = LocalStore(tmp_path / "store")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        store.put_bytes("packs/a.idx", b"x" * 1000)
    src = tmp_path / "src.bin"
    src.write_bytes(b"y" * 1000)
    with pytest.raises(OSError):
        store.put_file("packs/b.pack", src)
    assert not list((tmp_path / "store" / ".tmp").iterdir())


def test_gc_counts_a_killed_writer_s_temp_files_and_a_dry_run_keeps_them(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A trial: `data gc --dry-run` after a killed `data add` deleted its temp pack in .assay/tmp
    # (opening the store sweeps killed writers' files) and reported debris_deleted 0, bytes_freed 0.
    _data(tmp_path, files=3)
    cli("data", "add", "d", "--name", "ds")
    dead = _dead_pid()
    pack = tmp_path / ".assay" / "tmp" / f"{dead}-0123456789ab.pack"  # a killed add's pack
    part = tmp_path / ".assay" / "objects" / ".tmp" / f"{dead}-{host_tag()}-0123456789ab-x.pack"  # a killed put's
    pack.write_bytes(b"p" * 5000)
    part.write_bytes(b"q" * 3000)
    dry = cli.json("data", "gc", "--dry-run")
    assert pack.exists() and part.exists()
    assert dry["debris_deleted"] == 2 and dry["debris_bytes"] == 8000 and dry["bytes_freed"] == 8000
    assert dry["temp_files"] == 2 and dry["temp_file_bytes"] == 8000 and dry["chunk_bytes"] == 0
    # A trial read "would free 189.7 MiB: 0 chunks; ...": the summary says what the bytes are.
    assert cli("data", "gc", "--dry-run").stdout.startswith(
        "would free 7.8 KiB: 0 chunks, 2 temp files (7.8 KiB) left by killed commands; packs deleted 0")
    assert pack.exists() and part.exists()
    done = cli.json("data", "gc")
    assert not pack.exists() and not part.exists()
    assert done["debris_deleted"] == 2 and done["bytes_freed"] == 8000 and done["chunks_deleted"] == 0
    assert cli.json("data", "gc")["debris_deleted"] == 0
    # Every other command still removes them on opening the store.
    pack.write_bytes(b"p" * 5000)
    cli("data", "verify")
    assert not pack.exists()


def test_gc_counts_a_killed_checkout_s_temp_files_in_what_it_frees(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # As a killed add's pack: counted in bytes_freed and in the text, by a dry run and a real gc.
    _data(tmp_path, files=3)
    cli("data", "add", "d", "--name", "ds")
    dead = _dead_pid()
    left = [tmp_path / "d" / f".assay-tmp-{dead}-{i:08x}" for i in range(2)]
    for path, size in zip(left, (4000, 1000)):
        path.write_bytes(b"t" * size)
    dry = cli.json("data", "gc", "--dry-run")
    assert dry["checkout_leftovers"] == 2 and dry["checkout_leftover_bytes"] == 5000 and dry["bytes_freed"] == 5000
    assert all(p.exists() for p in left)
    out = cli("data", "gc", "--dry-run").stdout
    assert out.startswith("would free 4.9 KiB: 0 chunks, 2 temp files (4.9 KiB) of interrupted checkouts in the "
                          "datasets' folders; packs deleted 0")
    done = cli.json("data", "gc")
    assert done["checkout_leftovers"] == 2 and done["bytes_freed"] == 5000 and not any(p.exists() for p in left)
    assert cli.json("data", "gc")["bytes_freed"] == 0


class _FullDisk:
    """A SQLite connection whose COMMIT fails as on a full disk (SQLite has rolled back)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "COMMIT":
            self.conn.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self.conn, name)


def test_a_commit_that_fails_on_a_full_disk_reports_the_full_disk(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from assay.data._statcache import StatCache

    conn = sqlite3.connect(tmp_path / "stat.db", isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        StatCache(ws)._prepare(_FullDisk(conn))  # type: ignore[arg-type]


def test_permission_and_read_only_errors_are_input_errors() -> None:
    from assay.cli._output import _denied

    denied = _denied(PermissionError(errno.EACCES, "Permission denied", "/ws/.assay/objects/packs/x.pack"))
    assert denied is not None and denied.exit_code == 2 and "/ws/.assay/objects/packs/x.pack" in denied.message
    assert _denied(OSError(errno.EROFS, "Read-only file system", "/mnt/x")) is not None
    ledger = _denied(sqlite3.OperationalError("attempt to write a readonly database"))
    assert ledger is not None and "-shm" in (ledger.hint or "")
    assert _denied(OSError(errno.EIO, "I/O error")) is None  # not a permission: stays an internal error


def test_a_full_disk_outside_a_workspace_is_not_sent_to_gc() -> None:
    from assay.cli._output import _no_space

    remote = _no_space(OSError(errno.ENOSPC, "No space left on device", "/mnt/remote/.tmp/1-x.pack"))
    store = _no_space(OSError(errno.ENOSPC, "No space left on device", "/w/.assay/tmp/1-x.pack"))
    assert remote is not None and "/mnt/remote/.tmp/1-x.pack" in remote.message and "gc" not in (remote.hint or "")
    assert store is not None and "assay data gc" in (store.hint or "")


def test_a_forked_worker_ends_by_sigterm_as_it_would_without_assay(tmp_path: Path) -> None:
    # A pool's parent ends its workers with SIGTERM: they inherit the command line's handler,
    # which must not turn that into an interrupt (a traceback per worker).
    code = ("import os, signal, time\nfrom assay.cli import _end_as_interrupted\n_end_as_interrupted()\n"
            "pid = os.fork()\nif pid == 0:\n    time.sleep(30)\n    os._exit(0)\n"
            "time.sleep(0.2)\nos.kill(pid, signal.SIGTERM)\n_, status = os.waitpid(pid, 0)\n"
            "print(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "True" and "Traceback" not in proc.stderr


def test_a_long_version_message_travels(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _data(tmp_path, files=1)
    message = "m" * 100_000
    cli("data", "add", "d", "--name", "ds", "-m", message)
    cli("remote", "add", "origin", str(tmp_path / "remote"))
    cli("data", "push")
    cli("data", "verify", "--remote", "origin")
    clone = tmp_path / "clone"
    cli("init", str(clone))
    cli("remote", "add", "origin", str(tmp_path / "remote"), cwd=clone)
    cli("data", "pull", cwd=clone)
    assert cli.json("data", "log", "ds", cwd=clone)["versions"][0]["message"] == message


def test_a_stopped_service_ends_by_the_signal_not_as_an_interrupted_command(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("uvicorn")
    from tests.server.serve_helpers import free_port

    proc = subprocess.Popen([sys.executable, "-m", "assay", "serve", "--port", str(free_port()), "--json"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("{")
        proc.send_signal(15)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == -15, err  # as before: a clean stop to systemd, no error document
    assert out == ""



def test_gc_s_summary_says_what_the_bytes_it_frees_are(capsys: pytest.CaptureFixture[str]) -> None:
    from assay.cli._data import _render_gc
    from assay.data import GcResult

    _render_gc(GcResult(dry_run=False, chunks_deleted=3, chunk_bytes=3072, bytes_freed=3072 + 2048 + 1024 + 512,
                        packs_deleted=1, snapshots_deleted=2, debris_deleted=3, debris_bytes=2048 + 1024,
                        temp_files=2, temp_file_bytes=1024, checkout_leftovers=1, checkout_leftover_bytes=512),
               "freed", False)
    assert capsys.readouterr().out == (
        "freed 6.5 KiB: 3 chunks (3.0 KiB), 2 snapshots, 1 pack without an index (2.0 KiB) left by interrupted "
        "writes, 2 temp files (1.0 KiB) left by killed commands, 1 temp file (512 B) of interrupted checkouts in "
        "the datasets' folders; packs deleted 1, rewritten 0\n")


def test_no_dataset_named_says_what_a_killed_first_add_left(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A trial: `data status big` after its first add was killed said only "no dataset named 'big'"
    # while the add's temp pack sat in the workspace: status does not open the store, whose
    # opening removes it and says so.
    pack = tmp_path / ".assay" / "tmp" / f"{_dead_pid()}-0123456789ab.pack"
    pack.parent.mkdir(exist_ok=True)
    pack.write_bytes(b"p" * 5000)
    err = cli("data", "status", "big", check=2).stderr
    assert "no dataset or model named 'big'" in err
    assert ("a temp file (4.9 KiB) that an assay command killed mid-write left (an add or a pull of 'big' interrupted "
            "before its first version?) is in the workspace: to finish it, run that `assay data add` or `assay data "
            "pull` again (either frees it, as `assay data gc` does)") in err, err
    doc = cli.json("data", "log", "big", check=2)
    assert doc["leftover_temp_files"] == 1 and doc["leftover_bytes"] == 5000 and pack.exists()
    listing = cli("data", "status")
    assert listing.stdout.startswith("no datasets yet") and "note: 1 temp file (4.9 KiB) that killed" in listing.stderr
    cli("data", "gc")
    assert not pack.exists()
    assert "temp file" not in cli("data", "status", "big", check=2).stderr


def test_what_a_killed_first_pull_left_is_named_and_the_pull_frees_it(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A trial: after a killed pull, `data log customers` named only an add, and suggested `assay data add`.
    other = tmp_path / "other"
    cli("init", str(other))
    (other / "d").mkdir()
    (other / "d" / "f").write_text("theirs")
    cli("data", "add", "d", "--name", "customers", cwd=other)
    cli("remote", "add", "origin", str(tmp_path / "remote"), cwd=other)
    cli("data", "push", cwd=other)
    cli("remote", "add", "origin", str(tmp_path / "remote"))
    pack = tmp_path / ".assay" / "tmp" / f"{_dead_pid()}-0123456789ab.pack"
    pack.parent.mkdir(exist_ok=True)
    pack.write_bytes(b"p" * 5000)
    err = cli("data", "log", "customers", check=2).stderr
    assert "an add or a pull of 'customers' interrupted" in err and "`assay data pull` again" in err, err
    cli("data", "pull")
    assert not pack.exists()
    assert [v["ref"] for v in cli.json("data", "log", "customers")["versions"]] == ["customers@v1"]


class _FillingDisk(io.FileIO):
    """A file on a disk with ``room`` bytes left, as a tmpfs fills up: the write that reaches
    the end is cut short, the next one fails."""

    room = 0

    def write(self, data: Any) -> int:
        n = min(len(data), _FillingDisk.room)
        if data and not n:
            raise OSError(errno.ENOSPC, "No space left on device", self.name)
        _FillingDisk.room -= n
        return super().write(memoryview(data)[:n])


def test_a_pack_dropped_on_a_full_disk_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A full-disk trial left `.assay/tmp/<pid>-<hex>.pack` after a failed add, now and then: a
    # short write had left a chunk's last bytes in the file object's buffer, and closing the
    # dropped pack tried to write them again, failed, and never removed it.
    import blake3

    from assay.data import _pack_writer
    from assay.data._pack_format import PACK_MAGIC
    from assay.data._packs import PackStore

    monkeypatch.setattr(_pack_writer, "open", lambda path, mode: io.BufferedWriter(_FillingDisk(path, mode), 4096),
                        raising=False)
    temp = tmp_path / "tmp"

    def writer() -> _pack_writer.PackWriter:
        return _pack_writer.PackWriter(PackStore(LocalStore(tmp_path / "store")), temp)

    def add(w: _pack_writer.PackWriter, size: int) -> None:
        data = os.urandom(size)
        w.add_stored(blake3.blake3(data).digest(), data, size, 0)

    # A chunk written but for its last 1000 bytes (buffered); the next chunk fails.
    w = writer()
    _FillingDisk.room = len(PACK_MAGIC) + 100_000 + 50_000 - 1000
    add(w, 100_000)
    add(w, 50_000)
    with pytest.raises(OSError, match="No space"):
        add(w, 50_000)
    w.abort()  # the error that made the add abort is the one reported
    assert list(temp.iterdir()) == []

    # Every chunk buffered: the publish fails, and the pack goes.
    w = writer()
    _FillingDisk.room = len(PACK_MAGIC) + 100
    add(w, 1000)
    with pytest.raises(OSError, match="No space"):
        w.flush()
    w.abort()
    assert list(temp.iterdir()) == []


# What the child scripts below run once they have patched the write path: a checkout into
# `out` that is interrupted (the patches raise KeyboardInterrupt), then what it left is printed.
_INTERRUPTED_CHECKOUT = (
    "from assay.data import checkout\n"
    "from assay.workspace import Workspace\n"
    "try:\n"
    "    checkout(Workspace.open('.'), 'ds@v1', to='out')\n"
    "except KeyboardInterrupt:\n"
    "    pass\n"
)


def _in_a_child(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ASSAY_PROGRESS": "0"}, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_a_checkout_whose_cleanup_a_second_interrupt_cut_short_is_tidied_by_the_next(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A second Ctrl-C (or SIGTERM) while an interrupted checkout removed its temp files cut
    # that short, and the note that lets the next checkout remove them went all the same:
    # in a --to folder they stayed for good.
    _data(tmp_path)
    cli("data", "add", "d", "--name", "ds")
    (tmp_path / "out" / "d").mkdir(parents=True)  # there already: its files are written to temp files beside them
    code = (
        "import os\n"
        "from assay.data import _checkout_write\n"
        "write, unlink = _checkout_write._write_batch, _checkout_write._unlink\n"
        "calls = []\n"
        "def batch(*args, **kwargs):\n"
        "    done = write(*args, **kwargs)\n"
        "    assert any(os.path.exists(t[0]) for t in done)\n"
        "    raise KeyboardInterrupt\n"
        "def cut(path):\n"
        "    calls.append(path)\n"
        "    if len(calls) == 1:\n"
        "        raise KeyboardInterrupt  # the second one, as the removal starts\n"
        "    unlink(path)\n"
        "_checkout_write._write_batch, _checkout_write._unlink = batch, cut\n"
        + _INTERRUPTED_CHECKOUT +
        "left = [n for n in os.listdir('out/d') if n.startswith('.assay-tmp-')]\n"
        "print(len(left), len(os.listdir('.assay/cache/checkouts')))\n"
    )
    proc = _in_a_child(code, tmp_path)
    left, notes = (int(x) for x in proc.stdout.split())
    assert left > 0 and notes == 1, proc.stdout  # temp files left, and the note that names their folder
    cli("data", "checkout", "ds@v1", "--to", "elsewhere")  # any checkout tidies what a gone one left
    assert not _temps(tmp_path / "out")
    assert not list((tmp_path / ".assay" / "cache" / "checkouts").iterdir())


def test_a_new_folder_a_second_interrupt_left_under_its_temp_name_goes_with_the_next_checkout(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A folder the version has and the target lacks is written under a temp name and renamed
    # into place whole; interrupted twice, its removal is cut short and the next checkout
    # removes it, with all it holds.
    _data(tmp_path)
    cli("data", "add", "d", "--name", "ds")
    code = (
        "import os\n"
        "from assay.data import _checkout, _checkout_write\n"
        "write, remove = _checkout_write._write_batch, _checkout._remove\n"
        "def batch(*args, **kwargs):\n"
        "    done = write(*args, **kwargs)\n"
        "    assert done and all(t[0] == t[1] and os.path.exists(t[0]) for t in done)  # under their own names\n"
        "    raise KeyboardInterrupt\n"
        "def cut(path):\n"
        "    raise KeyboardInterrupt  # the second one, as the removal starts\n"
        "_checkout_write._write_batch, _checkout._remove = batch, cut\n"
        + _INTERRUPTED_CHECKOUT +
        "left = [n for n in os.listdir('out') if n.startswith('.assay-tmp-')]\n"
        "print(len(left), len(os.listdir('out/' + left[0])), len(os.listdir('.assay/cache/checkouts')))\n"
    )
    proc = _in_a_child(code, tmp_path)
    left, held, notes = (int(x) for x in proc.stdout.split())
    assert (left, notes) == (1, 1) and held > 0, proc.stdout  # the temp folder (d, with files), the note naming out
    assert not (tmp_path / "out" / "d").exists()
    cli("data", "checkout", "ds@v1", "--to", "elsewhere")  # any checkout tidies what a gone one left
    assert not _temps(tmp_path / "out") and not list((tmp_path / "out").iterdir())
    assert not list((tmp_path / ".assay" / "cache" / "checkouts").iterdir())
