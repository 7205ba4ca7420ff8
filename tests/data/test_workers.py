"""`data add` and status re-hashing in forked processes: same results as the threads, failures reported."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assay.data import _add, _checkout_write, _fork, _packs, _workers, add, checkout, status, verify
from assay.data._scan import scan
from assay.errors import AssayError, CorruptionError, InputError
from assay.workspace import Workspace
from tests.data.test_integrity import flip_bit_in_chunk


def _tree(root: Path) -> None:
    rng = random.Random(7)
    d = root / "d"
    for i in range(120):
        sub = d / f"s{i % 7}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:03d}.bin").write_bytes(rng.randbytes(500 + 97 * i))
    (d / "same-a.txt").write_bytes(b"identical content\n" * 100)
    (d / "s3" / "same-b.txt").write_bytes(b"identical content\n" * 100)
    (d / "empty.txt").write_bytes(b"")
    (d / "text.csv").write_bytes(b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(50_000)))
    (d / "big.bin").write_bytes(rng.randbytes(5 << 20))
    os.chmod(d / "s1" / "f001.bin", 0o600)


def _force_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fork, "FORK_MIN_FILES", 4)
    # As in the command line's single thread (the test session may run an S3 server's threads).
    monkeypatch.setattr(_fork, "can_fork", lambda: True)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)


def test_processes_and_threads_build_the_same_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = {}
    for how in ("threads", "processes"):
        root = tmp_path / how
        ws = Workspace.init(root)
        _tree(root)
        if how == "processes":
            _force_processes(monkeypatch)
        forked = []
        original = _workers.hash_in_processes
        monkeypatch.setattr(_add, "hash_in_processes",
                            lambda *a, seen=forked, real=original: seen.append(a[3]) or real(*a))
        r = add(ws, [root / "d"], name="ds")
        assert forked == ([3] if how == "processes" else [])
        assert verify(ws, all_objects=True).ok
        assert not status(ws, "ds").dirty
        out = tmp_path / f"{how}-out"
        checkout(ws, "ds", to=out)
        for p in (root / "d").rglob("*"):
            if p.is_file():
                q = out / p.relative_to(root)
                assert q.read_bytes() == p.read_bytes()
                assert q.stat().st_mode & 0o777 == p.stat().st_mode & 0o777
        results[how] = (r.version.snapshot, r.files, r.bytes, r.new_chunks)
        monkeypatch.undo()
        ws.close()
    assert results["threads"] == results["processes"]  # the same snapshot, and the same chunks stored


def test_identical_files_in_different_shares_are_stored_once(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(300):  # every share sees the same 20 contents
        folder = ws.root / "d" / f"s{i // 30:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.bin").write_bytes(bytes([i % 20]) * (4000 + i % 20))
    (ws.root / "d" / "big-1.bin").write_bytes(b"".join(bytes([k]) * (1 << 20) for k in range(3)))
    (ws.root / "d" / "s09" / "big-2.bin").write_bytes(b"".join(bytes([k]) * (1 << 20) for k in range(3)))
    _force_processes(monkeypatch)
    r = add(ws, [ws.root / "d"], name="ds")
    packs = _packs.workspace_packs(ws)
    packs.refresh()
    stored = [e for p in packs._packs for e in packs._load_index(p)]
    assert len(stored) == len({e[0] for e in stored}) == r.new_chunks  # not one chunk twice
    assert verify(ws, all_objects=True).ok


def test_claims_refuse_only_a_claimed_digest() -> None:
    claims = _workers.Claims(4)
    digests = [i.to_bytes(4, "little") * 8 for i in range(1, 1500)]  # more than the table's 1,024 slots
    first = [claims.claim(d) for d in digests]
    assert all(first)  # a crowded table stores (a possible duplicate), never refuses wrongly
    assert sum(not claims.claim(d) for d in digests) > 900  # what it holds is refused
    assert claims.claim(b"\xff" * 32)


def test_the_added_packs_are_usable_in_the_same_process(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(ws.root)
    _force_processes(monkeypatch)
    first = add(ws, [ws.root / "d"], name="ds")
    assert first.new_chunks > 0
    (ws.root / "d" / "s2" / "new.bin").write_bytes(os.urandom(3000))
    second = add(ws, [ws.root / "d"], name="ds")
    assert second.version.number == 2
    assert second.new_chunks == 1  # the first add's chunks are known to this process's store
    shutil.rmtree(ws.root / "d")
    checkout(ws, "ds@v2", force=True)
    assert (ws.root / "d" / "s2" / "new.bin").is_file()


def test_a_file_vanishing_in_a_child_is_reported_as_in_the_parent(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(ws.root)
    _force_processes(monkeypatch)
    entries = scan(ws, ["d"]).files
    (ws.root / "d" / "s4" / "f060.bin").unlink()
    with pytest.raises(InputError, match=r"d/s4/f060.bin disappeared while it was being read") as info:
        _add.hash_entries(ws, entries)
    assert info.value.hint  # the hint travels too
    assert verify(ws, all_objects=True).ok


def test_a_child_that_dies_fails_the_add_and_leaves_the_store_clean(ws: Workspace,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(ws.root)
    _force_processes(monkeypatch)
    real_work = _workers._hash_share

    def dying(share: list, *a: object) -> object:
        if any(e.rel == "d/s5/f005.bin" for e in share):
            os.kill(os.getpid(), signal.SIGKILL)
        return real_work(share, *a)

    monkeypatch.setattr(_workers, "_hash_share", dying)
    with pytest.raises(AssayError, match=r"a worker process died without a result \(killed by signal 9\)"):
        add(ws, [ws.root / "d"], name="ds")
    assert ws.ledger.query("SELECT COUNT(*) FROM versions")[0][0] == 0
    assert verify(ws, all_objects=True).ok
    monkeypatch.setattr(_workers, "_hash_share", real_work)
    assert add(ws, [ws.root / "d"], name="ds").created  # and the next run completes


def test_no_fork_when_other_threads_run_or_one_worker_is_asked(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    (ws.root / "d").mkdir()
    for i in range(2100):
        (ws.root / "d" / f"{i}.txt").write_text(str(i))
    entries = scan(ws, ["d"]).files
    cores = len(os.sched_getaffinity(0))
    nbytes = sum(e.st.st_size for e in entries)
    with monkeypatch.context() as m:
        m.setattr(_fork, "can_fork", lambda: True)  # the command line's single thread
        assert _fork.processes_for(len(entries), nbytes) == (min(cores, 8) if cores > 1 else 0)
        assert _fork.processes_for(len(entries), nbytes, 1) == 0
        assert _fork.processes_for(100, nbytes) == 0  # few small files: not worth a fork
        assert _fork.processes_for(2, 2 << 30, 2) == 2  # two big files: one each
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert _fork.processes_for(len(entries), nbytes) == 0  # a fork would copy no other thread: keep the threads' path
    finally:
        stop.set()
        other.join()


def test_shares_are_contiguous_and_balanced(ws: Workspace) -> None:
    (ws.root / "d").mkdir()
    for i in range(1000):
        (ws.root / "d" / f"{i:04d}.txt").write_bytes(b"x" * (i % 50))
    (ws.root / "d" / "big.bin").write_bytes(b"\0" * (8 << 20))
    entries = scan(ws, ["d"]).files
    shares = _fork.split(entries, 3, lambda e: e.st.st_size)
    assert [e for s in shares for e in s] == entries
    work = [sum(e.st.st_size + (32 << 10) for e in s) for s in shares]
    assert max(work) < 1.6 * min(work)
    assert _fork.split(entries[:2], 4, lambda e: e.st.st_size) == [[entries[0]], [entries[1]]]


_SLOW_ADD = """
import os, sys, time
from assay.data import _add, _workers, add
from assay.workspace import Workspace
from assay.data import _fork
_fork.FORK_MIN_FILES = 4
os.sched_getaffinity = lambda pid: {0, 1}
_workers._hash_share = lambda *a: time.sleep(120)
add(Workspace.open(sys.argv[1]), [sys.argv[1] + "/d"], name="ds")
"""


def _children_of(pid: int) -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_killing_the_parent_kills_its_workers(ws: Workspace) -> None:
    _tree(ws.root)
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_ADD, str(ws.root)],
                            env={**os.environ, "ASSAY_PROGRESS": "0"})
    try:
        deadline = time.monotonic() + 30
        kids: list[int] = []
        while len(kids) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            kids = _children_of(proc.pid)
        assert len(kids) == 2, "the add should be waiting on two forked workers"
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    while any(_alive(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(k) for k in kids)


def test_checkout_in_processes_writes_the_version_exactly(ws: Workspace, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(ws.root)
    add(ws, [ws.root / "d"], name="ds")
    original = {p.relative_to(ws.root): (p.read_bytes(), p.stat().st_mode & 0o777)
                for p in (ws.root / "d").rglob("*") if p.is_file()}
    _force_processes(monkeypatch)
    forked = []
    real = _fork.fork_map
    monkeypatch.setattr(_checkout_write, "fork_map", lambda shares, *a, **k: forked.append(len(shares)) or real(shares, *a, **k))
    shutil.rmtree(ws.root / "d")
    r = checkout(ws, "ds")
    assert forked == [3] and len(r.written) == len(original)
    assert {p.relative_to(ws.root): (p.read_bytes(), p.stat().st_mode & 0o777)
            for p in (ws.root / "d").rglob("*") if p.is_file()} == original
    assert not status(ws, "ds").dirty
    out = tmp_path / "elsewhere"
    checkout(ws, "ds", to=out)
    assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == sorted(original)


@pytest.mark.parametrize("target", ["new folders", "existing files"])
def test_a_damaged_chunk_in_one_share_leaves_the_target_as_it_was(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                                  target: str) -> None:
    _tree(ws.root)
    add(ws, [ws.root / "d"], name="ds")
    victim = ws.root / "d" / "s6" / "f111.bin"
    from assay.data._versions import load_snapshot, resolve

    snap = load_snapshot(ws.store, resolve(ws, "ds").snapshot)
    flip_bit_in_chunk(ws, snap.files["d/s6/f111.bin"].chunks[0][0])
    if target == "new folders":
        shutil.rmtree(ws.root / "d")
        before = {}
    else:
        for p in (ws.root / "d").rglob("*.bin"):
            p.write_bytes(b"local")
        before = {p: p.read_bytes() for p in (ws.root / "d").rglob("*") if p.is_file()}
    _force_processes(monkeypatch)
    with pytest.raises(CorruptionError, match="f111.bin"):
        checkout(ws, "ds", force=True)
    after = {p: p.read_bytes() for p in (ws.root / "d").rglob("*") if p.is_file()} if (ws.root / "d").exists() else {}
    assert after == before  # nothing half-written, no temp files left behind
    assert victim not in after or after[victim] == b"local"


def test_quick_handoffs_restores_the_switch_interval_when_the_last_user_leaves() -> None:
    before = sys.getswitchinterval()
    with _fork.quick_handoffs():
        assert sys.getswitchinterval() == pytest.approx(min(before, 0.001))
        with _fork.quick_handoffs():
            pass
        assert sys.getswitchinterval() == pytest.approx(min(before, 0.001))  # still one user inside
    assert sys.getswitchinterval() == before


def test_an_interrupted_fork_map_kills_and_reaps_its_children() -> None:
    def children() -> list[str]:
        return Path(f"/proc/self/task/{os.getpid()}/children").read_text().split()

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    before = children()
    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            _fork.fork_map([1, 2], lambda share, report: time.sleep(60))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert children() == before  # killed and waited for: no zombie, no orphan


def test_fork_map_returns_each_share_result_or_failure_in_order() -> None:
    def work(share: int, report: object) -> int:
        if share == 2:
            raise InputError("share two is bad", hint="fix it")
        return share * 10

    outcomes = _fork.fork_map([1, 2, 3], work, stop_on_error=False)
    assert [ok for ok, _ in outcomes] == [True, False, True]
    assert outcomes[0][1] == 10 and outcomes[2][1] == 30
    assert isinstance(outcomes[1][1], InputError) and outcomes[1][1].hint == "fix it"
    with pytest.raises(InputError, match="share two is bad"):
        _fork.raise_first_failure(outcomes)


def test_fork_map_works_in_a_process_that_holds_over_1024_files() -> None:
    # select() refuses a descriptor numbered past 1,024: a process embedding assay (or a long
    # test session) may hold that many files when it starts workers.
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"this process may open only {hard} files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200) if hard == resource.RLIM_INFINITY
                                                else min(max(soft, 1200), hard), hard))
    held = []
    try:
        while not held or held[-1] <= 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
        outcomes = _fork.fork_map([1, 2, 3], lambda share, report: share * 10)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert outcomes == [(True, 10), (True, 20), (True, 30)]


def test_a_killed_checkout_leaves_no_file_under_its_real_name(ws: Workspace, tmp_path: Path) -> None:
    d = ws.root / "d" / "sub"
    d.mkdir(parents=True)
    for i in range(5):
        (d / f"f{i}.bin").write_bytes(os.urandom(100_000))
    add(ws, ["d"], name="ds")
    out = tmp_path / "out"
    child = f"""
import os, signal
from assay.data import _checkout_write, checkout
from assay.workspace import Workspace
real, seen = _checkout_write._write_all, [0]
def half_then_die(fd, data):
    seen[0] += 1
    if seen[0] == 3:
        real(fd, bytes(data)[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    real(fd, data)
_checkout_write._write_all = half_then_die
checkout(Workspace.open({str(ws.root)!r}), "ds", to={str(out)!r})
"""
    proc = subprocess.run([sys.executable, "-c", child], env={**os.environ, "ASSAY_PROGRESS": "0"})
    assert proc.returncode == -signal.SIGKILL
    temps = [p for p in out.rglob(".assay-tmp-*")]
    assert temps  # (d is new: it is written under a temp name, and what it holds under their own)
    for p in out.rglob("*"):
        if p.is_file() and not any(part.startswith(".assay-tmp-") for part in p.relative_to(out).parts):
            assert p.read_bytes() == (ws.root / p.relative_to(out)).read_bytes()  # whole, or not there
    checkout(ws, "ds", to=out)  # and a rerun completes
    assert all((out / "d" / "sub" / f"f{i}.bin").read_bytes() == (d / f"f{i}.bin").read_bytes() for i in range(5))
    assert not list(out.rglob(".assay-tmp-*"))  # what the killed one left is gone


def test_an_interrupted_forked_checkout_leaves_the_target_as_it_was(ws: Workspace, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(ws.root)
    add(ws, [ws.root / "d"], name="ds")
    _force_processes(monkeypatch)
    real = _checkout_write._write_all
    monkeypatch.setattr(_checkout_write, "_write_all", lambda fd, data: time.sleep(0.02) or real(fd, data))  # in the workers too
    out = tmp_path / "out"

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.6)
    try:
        with pytest.raises(KeyboardInterrupt):
            checkout(ws, "ds", to=out)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert [p for p in out.rglob("*") if p.is_file()] == []  # no file, whole or partial, temp or not


def _scan_tree(root: Path) -> None:
    """Enough folders to share out among walkers, with what a walk skips or warns about."""
    for i in range(40):
        for j in range(60):
            (root / "d" / f"f{i:02d}" / "deep").mkdir(parents=True, exist_ok=True)
            (root / "d" / f"f{i:02d}" / f"x{j}.bin").write_bytes(os.urandom(10 + j))
        (root / "d" / f"f{i:02d}" / "deep" / "y.txt").write_text(f"deep {i}")
    (root / "d" / "f03" / "empty").mkdir()
    (root / "d" / "f04" / "link.bin").symlink_to(root / "d" / "f05" / "x1.bin")
    (root / "d" / "f06" / "out").symlink_to("/etc/hostname")
    (root / "d" / "f07" / "dirlink").symlink_to(root / "d" / "f08")
    os.mkfifo(root / "d" / "f09" / "pipe")
    (root / "d" / "f10" / ".git").mkdir()
    (root / "d" / "f10" / ".git" / "HEAD").write_text("ref")
    (root / "d" / "top.txt").write_text("top")


def test_the_forked_scan_finds_what_the_walk_in_one_process_finds(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.data import _scan

    _scan_tree(ws.root)
    # As in the command line's single thread (the test session may run an S3 server's threads).
    monkeypatch.setattr(_fork, "can_fork", lambda: True)
    calls: list[bool] = []
    real = _scan._walk_forked
    monkeypatch.setattr(_scan, "_walk_forked", lambda *a: calls.append(real(*a)) or calls[-1])
    forked = scan(ws, ["d"])
    assert calls == [True]  # the walkers did the walk
    monkeypatch.setattr(_scan, "_walk_forked", lambda *a: False)
    here = scan(ws, ["d"])
    assert [(e.rel, e.path) for e in forked.files] == [(e.rel, e.path) for e in here.files]
    fields = ("st_size", "st_mtime_ns", "st_ino", "st_mode", "st_ctime_ns")
    assert [[getattr(e.st, f) for f in fields] for e in forked.files] == [[getattr(e.st, f) for f in fields]
                                                                          for e in here.files]
    assert forked.empty_dirs == here.empty_dirs == ["d/f03/empty"]
    assert forked.warnings == here.warnings and len(here.warnings) == 3  # in one order, however walked
    assert len(here.files) == 40 * 61 + 2  # the symlinked file is taken; .git is not
    # And a version added from the forked scan is the one added from the other.
    monkeypatch.setattr(_scan, "_walk_forked", real)
    v1 = add(ws, [ws.root / "d"], name="a").version
    monkeypatch.setattr(_scan, "_walk_forked", lambda *a: False)
    assert add(ws, [ws.root / "d"], name="b", allow_overlap=True).version.snapshot == v1.snapshot


def test_a_walker_that_meets_an_error_leaves_it_for_the_walk_here_to_report(ws: Workspace,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.data import _scan

    monkeypatch.setattr(_fork, "can_fork", lambda: True)
    _scan_tree(ws.root)
    tried: list[bool] = []
    real = _scan._walk_forked
    monkeypatch.setattr(_scan, "_walk_forked", lambda *a: tried.append(real(*a)) or tried[-1])
    bad = os.fsencode(ws.root / "d" / "f20" / "deep") + b"/caf\xe9.txt"
    with open(bad, "wb") as fh:
        fh.write(b"latin-1 name")
    with pytest.raises(InputError, match="not valid UTF-8") as err:
        scan(ws, ["d"])
    assert "d/f20/deep/" in err.value.message and tried == [False]  # a walker met it; the walk here said it


def test_a_tree_too_small_to_share_out_is_listed_once(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    # A few big folders: the folders listed while looking for enough to share out are not
    # listed again by a second walk.
    from assay.data import _scan

    monkeypatch.setattr(_fork, "can_fork", lambda: True)
    for i in range(3):
        (ws.root / "d" / f"f{i}" / "sub").mkdir(parents=True)
        for j in range(300):
            (ws.root / "d" / f"f{i}" / f"x{j}").write_bytes(b"x")
        (ws.root / "d" / f"f{i}" / "sub" / "y").write_bytes(b"y")
    listed: list[str] = []
    real = _scan._list_folder
    monkeypatch.setattr(_scan, "_list_folder", lambda root, path, rel, *more: listed.append(rel) or real(root, path, rel, *more))
    monkeypatch.setattr(_scan, "_walk", lambda *a: pytest.fail("walked twice"))
    found = scan(ws, ["d"])
    assert len(found.files) == 3 * 301 and sorted(listed) == sorted(set(listed)) and len(listed) == 7
