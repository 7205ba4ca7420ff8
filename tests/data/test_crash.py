"""SIGKILL at many instants during `data add`, `push`, `checkout`, `pull --checkout` and the
repairs; two writers at once.

After each kill: the workspace opens, verify is clean, the interrupted version
exists whole or not at all, and rerunning completes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assay.data import add, add_remote, checkout, log, pull, verify
from assay.workspace import Workspace

ENV = {**os.environ, "ASSAY_PROGRESS": "0"}


def _make_data(root: Path, small: int = 300, big: int = 24 << 20) -> None:
    d = root / "d"
    d.mkdir()
    for i in range(small):
        (d / f"s{i:03d}.bin").write_bytes(os.urandom(8_000))
    (d / "big.bin").write_bytes(os.urandom(big))


def _kill_after(args: list[str], cwd: Path, delay: float, runs: list[tuple[float, int, float]] | None = None) -> int:
    """Run ``assay ARGS``, SIGKILL it after ``delay`` seconds unless it ended; its exit code.
    ``runs`` collects ``(delay, exit code, seconds it ran)`` for a failure's message."""
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "assay", *args], cwd=cwd, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    if runs is not None:
        runs.append((round(delay, 3), proc.returncode, round(time.monotonic() - start, 3)))
    return proc.returncode


def _kill_when(args: list[str], cwd: Path, ready: Callable[[], bool], timeout: float = 120.0) -> bool:
    """Run ``assay ARGS`` and SIGKILL it as soon as ``ready()`` (polled); whether it was killed."""
    proc = subprocess.Popen([sys.executable, "-m", "assay", *args], cwd=cwd, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    return proc.returncode == -signal.SIGKILL


def _instants(args: list[str], cwd: Path, count: int) -> list[float]:
    """Kill times spread over how long the command takes here, measured on a scratch run.

    Fixed delays stop interrupting anything once the code or the machine gets faster.
    """
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "assay", *args], cwd=cwd, env=ENV, check=True, capture_output=True)
    took = time.monotonic() - start
    return [took * (i + 0.5) / count for i in range(count)]


def _still_running_in(root: Path, grace: float = 10.0) -> list[int]:
    """Processes whose working folder is ``root`` (waiting up to ``grace`` seconds for them to go:
    a killed process inside an fsync dies only when the disk is done with it)."""
    deadline = time.monotonic() + grace
    while True:
        found = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and os.readlink(proc / "cwd") == str(root):
                    found.append(int(proc.name))
            except OSError:
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _state(root: Path) -> list[int]:
    ws = Workspace.open(root)
    try:
        numbers = [r[0] for r in ws.ledger.query("SELECT number FROM versions WHERE dataset = ? ORDER BY number", ("ds",))]
        assert verify(ws, all_objects=True).ok
        return numbers
    finally:
        ws.close()


@pytest.mark.parametrize("small", [300, 2500], ids=["threads", "processes"])  # 2,500 files: read by forked workers
def test_sigkill_during_add(tmp_path: Path, small: int) -> None:
    pristine = tmp_path / "pristine"
    Workspace.init(pristine).close()
    _make_data(pristine, small)
    # Fast storage settings make more of the run fall inside the small windows that matter.
    cfg = pristine / ".assay" / "config.toml"
    cfg.write_text(cfg.read_text().replace("pack_size = 134217728", "pack_size = 4194304"))
    probe = tmp_path / "probe"
    shutil.copytree(pristine, probe)
    delays = _instants(["data", "add", "d", "--name", "ds"], probe, 10)
    shutil.rmtree(probe)
    # Each instant interrupts a whole add, in a fresh copy: an add that follows a completed
    # one finds its chunks and stat cache there and ends before most instants.
    runs: list[tuple[float, int, float]] = []
    interrupted = 0
    for i, delay in enumerate(delays):
        root = tmp_path / f"w{i}"
        shutil.copytree(pristine, root)
        code = _kill_after(["data", "add", "d", "--name", "ds"], root, delay, runs)
        assert code in (0, -signal.SIGKILL), runs
        assert _still_running_in(root) == []  # forked readers die with the process that forked them
        numbers = _state(root)
        assert numbers in ([], [1]), (numbers, runs)  # whole or not at all
        if numbers:
            ws = Workspace.open(root)
            out = tmp_path / f"out-{i}"
            checkout(ws, "ds@v1", to=out)
            assert (out / "d" / "big.bin").read_bytes() == (root / "d" / "big.bin").read_bytes()
            ws.close()
            shutil.rmtree(out)
        if code == -signal.SIGKILL:  # re-running completes after an interruption at any instant
            interrupted += 1
            proc = subprocess.run([sys.executable, "-m", "assay", "data", "add", "d", "--name", "ds", "--json"],
                                  cwd=root, env=ENV, capture_output=True, text=True, check=True)
            assert json.loads(proc.stdout)["created"] is (numbers == [])
            assert _state(root) == [1]
            leftovers = list((root / ".assay" / "objects" / ".tmp").iterdir()) + list((root / ".assay" / "tmp").glob("*.pack"))
            assert leftovers == []  # the next run cleaned the dead writers' temp files
        shutil.rmtree(root)
    assert interrupted >= 3, f"the harness must actually interrupt some runs: (delay, exit code, seconds) {runs}"


def test_sigkill_during_push(tmp_path: Path) -> None:
    root = tmp_path / "w"
    ws = Workspace.init(root)
    _make_data(root)
    ws.config.data.pack_size = 2 << 20
    ws.save_config()
    add(ws, [root / "d"], name="ds")
    remote = tmp_path / "remote"
    add_remote(ws, "origin", str(remote))
    ws.close()
    killed = 0
    probe = tmp_path / "probe"
    shutil.copytree(root, probe)
    cfg = probe / ".assay" / "config.toml"
    cfg.write_text(cfg.read_text().replace(str(remote), str(tmp_path / "probe-remote")))
    (tmp_path / "probe-remote").mkdir()
    delays = _instants(["data", "push", "-j", "1"], probe, 5)
    for delay in delays:
        killed += _kill_after(["data", "push", "-j", "1"], root, delay) == -signal.SIGKILL
    assert killed >= 2
    subprocess.run([sys.executable, "-m", "assay", "data", "push"], cwd=root, env=ENV, check=True, capture_output=True)
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", str(remote))
    pull(clone, checkout=False)
    assert verify(clone, all_objects=True).ok
    checkout(clone, "ds", to=tmp_path / "o")
    assert (tmp_path / "o" / "d" / "big.bin").read_bytes() == (root / "d" / "big.bin").read_bytes()


def test_two_processes_adding_at_once(tmp_path: Path) -> None:
    root = tmp_path / "w"
    Workspace.init(root).close()
    for name in ("a", "b"):
        (root / name).mkdir()
    script = (
        "import sys, os; from assay import Workspace; from assay.data import add\n"
        "ws = Workspace.open(sys.argv[1]); folder = sys.argv[2]\n"
        "for i in range(8):\n"
        "    open(os.path.join(ws.root, folder, f'{i}.txt'), 'w').write(folder * (i + 1))\n"
        "    add(ws, [os.path.join(ws.root, folder)], name='shared', message=f'{folder}{i}')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(root), name], env=ENV) for name in ("a", "b")]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    ws = Workspace.open(root)
    versions = log(ws, "shared")
    assert sorted(v.number for v in versions) == list(range(1, 17))
    assert sorted(v.message for v in versions) == sorted([f"a{i}" for i in range(8)] + [f"b{i}" for i in range(8)])
    assert verify(ws, all_objects=True).ok
    ws.close()


# 80 MiB: a big file is written by one thread per core, stripe by stripe (_checkout_write._write_striped).
@pytest.mark.parametrize("big", [24 << 20, 80 << 20], ids=["one-writer", "striped"])
def test_sigkill_during_checkout(tmp_path: Path, big: int) -> None:
    """A checkout killed mid-write leaves temp files beside its targets: no status reports
    them, no add snapshots them, gc removes them, and checking out again completes."""
    from assay.data._checkout_write import _BIG_FILE, _CORES, _STRIPE

    striped = big >= _BIG_FILE
    if striped and _CORES < 2:
        pytest.skip("one core: big files are written by one thread")
    root = tmp_path / "w"
    ws = Workspace.init(root)
    _make_data(root, big=big)
    add(ws, [root / "d"], name="ds")
    v1 = {p.name: p.read_bytes() for p in (root / "d").iterdir()}
    for i in range(0, 300, 2):
        (root / "d" / f"s{i:03d}.bin").write_bytes(os.urandom(8_000))
    (root / "d" / "big.bin").write_bytes(os.urandom(big))
    add(ws, [root / "d"], name="ds")
    ws.close()
    probe = tmp_path / "probe"
    shutil.copytree(root, probe)
    delays = _instants(["data", "checkout", "ds@v1"], probe, 8)
    def temps() -> list[Path]:
        return [p for p in (root / "d").iterdir() if p.name.startswith(".assay-tmp-")]

    def big_temp() -> bool:
        return any(p.stat().st_size > _STRIPE for p in temps())

    # Kills spread over a timed run; then, for the striped writer, kills on sight of a big
    # temp file (a loaded machine can make every timed kill land before the big file).
    instants: list[float | None] = [*delays, *([None] * 3 if striped else [])]
    killed = left = 0
    for delay in instants:
        if delay is None and big_temp():
            break
        subprocess.run([sys.executable, "-m", "assay", "data", "checkout", "ds@v2", "--force"], cwd=root, env=ENV,
                       check=True, capture_output=True)
        before = len(temps())
        if delay is None:
            killed += _kill_when(["data", "checkout", "ds@v1"], root, lambda n=before: len(temps()) > n and big_temp())
        else:
            killed += _kill_after(["data", "checkout", "ds@v1"], root, delay) == -signal.SIGKILL
        left = max(left, len(temps()))  # (the next checkout removes them: see below)
        assert not _still_running_in(root)
        out = subprocess.run([sys.executable, "-m", "assay", "data", "status", "ds", "--json"], cwd=root, env=ENV,
                             check=True, capture_output=True, text=True)
        changed = json.loads(out.stdout)
        assert not any(".assay-tmp-" in p for key in ("added", "modified", "removed") for p in changed[key])
    assert killed >= 2
    assert left, "no kill left a temp file"
    if not temps():  # the last checkout in the loop removed what the kill before it left: kill one more
        subprocess.run([sys.executable, "-m", "assay", "data", "checkout", "ds@v2", "--force"], cwd=root, env=ENV,
                       check=True, capture_output=True)
        assert _kill_when(["data", "checkout", "ds@v1"], root, lambda: bool(temps()))
    if striped:
        assert big_temp(), "no kill stopped the striped writer"
    ws = Workspace.open(root)
    assert verify(ws, all_objects=True).ok
    result = add(ws, [root / "d"], name="ds")  # whatever mix of v1 and v2 is there: no temp file in it
    from assay.data._versions import load_snapshot
    assert not any(".assay-tmp-" in p for p in load_snapshot(ws.store, result.version.snapshot).files)
    from assay.data import gc
    assert gc(ws, dry_run=True).checkout_leftovers >= 1
    assert gc(ws).checkout_leftovers >= 1
    assert not any(p.name.startswith(".assay-tmp-") for p in (root / "d").iterdir())
    checkout(ws, "ds@v1", force=True)
    assert {p.name: p.read_bytes() for p in (root / "d").iterdir()} == v1
    ws.close()


def _damage(packs_dir: Path, every: int = 3) -> int:
    """Flip a byte in the first chunk of every ``every``-th pack in ``packs_dir`` and delete the
    last pack; how many chunks that damaged."""
    from assay.data._packs import decode_index

    damaged = 0
    indexes = sorted(packs_dir.glob("*.idx"))
    for idx in indexes[:-1:every]:
        entry = decode_index(idx.read_bytes(), idx.name)[0]
        with open(idx.with_suffix(".pack"), "r+b") as fh:
            fh.seek(entry[1] + entry[2] // 2)
            byte = fh.read(1)
            fh.seek(-1, 1)
            fh.write(bytes([byte[0] ^ 0x20]))
        damaged += 1
    damaged += len(decode_index(indexes[-1].read_bytes(), indexes[-1].name))
    indexes[-1].with_suffix(".pack").unlink()
    return damaged


def _good_chunks(packs_dir: Path) -> set[bytes]:
    """Every chunk some pack in ``packs_dir`` holds good (its bytes decode to its digest)."""
    from assay.data._packs import ChunkLocation, PackStore, decode_index
    from assay.errors import CorruptionError
    from assay.store import LocalStore

    store = PackStore(LocalStore(packs_dir.parent))
    good: set[bytes] = set()
    for idx in sorted(packs_dir.glob("*.idx")):
        try:
            entries = decode_index(idx.read_bytes(), idx.name)
        except CorruptionError:
            continue
        items = [(e[0], ChunkLocation(idx.stem, *e[1:])) for e in entries]
        good.update(d for d, _ in store.read_pack(idx.stem, items, errors=[]))
    store.close()
    return good


@pytest.mark.parametrize("side", ["pull", "push"])
def test_sigkill_during_repair(tmp_path: Path, side: str) -> None:
    """A repair killed at any instant loses no good chunk: the rerun completes, copying at most
    the chunks that were damaged, and verify is then clean on both sides."""
    pristine = tmp_path / "pristine"
    ws = Workspace.init(pristine)
    _make_data(pristine, small=300, big=12 << 20)
    ws.config.data.pack_size = 1 << 20  # many packs: many to rewrite
    ws.save_config()
    add(ws, [pristine / "d"], name="ds")
    add_remote(ws, "origin", str(tmp_path / "remote"))
    from assay.data import push

    push(ws)
    ws.close()
    shutil.move(str(tmp_path / "remote"), str(pristine / "remote"))  # copied with the workspace below
    mended = ".assay/objects/packs" if side == "pull" else "remote/packs"
    damaged = _damage(pristine / mended)
    good_before = _good_chunks(pristine / mended)
    args = ["data", side, "--repair"]

    def copy(name: str) -> Path:
        root = tmp_path / name
        shutil.copytree(pristine, root)
        cfg = root / ".assay" / "config.toml"
        cfg.write_text(cfg.read_text().replace(str(tmp_path / "remote"), str(root / "remote")))
        return root

    probe = copy("probe")
    delays = _instants(args, probe, 6)
    shutil.rmtree(probe)
    runs: list[tuple[float, int, float]] = []
    killed = 0
    for i, delay in enumerate(delays):
        root = copy(f"w{i}")
        code = _kill_after(args, root, delay, runs)
        assert code in (0, -signal.SIGKILL), runs
        killed += code == -signal.SIGKILL
        assert _good_chunks(root / mended) >= good_before, runs  # at no instant is a good chunk gone
        proc = subprocess.run([sys.executable, "-m", "assay", *args, "--json"], cwd=root, env=ENV, check=False,
                              capture_output=True, text=True)
        assert proc.returncode == 0, (proc.stdout, proc.stderr, runs)
        assert json.loads(proc.stdout)["chunks_copied"] <= damaged, runs  # no good chunk was lost on the way
        ws = Workspace.open(root)
        assert verify(ws, all_objects=True).ok and verify(ws, remote="origin").ok
        out = tmp_path / f"out-{i}"
        checkout(ws, "ds@v1", to=out)
        assert (out / "d" / "big.bin").read_bytes() == (pristine / "d" / "big.bin").read_bytes()
        ws.close()
        shutil.rmtree(out)
        shutil.rmtree(root)
    assert killed >= 2, f"the harness must actually interrupt some runs: (delay, exit code, seconds) {runs}"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # renamed into place, or removed, since it was listed
        return 0


def test_sigkill_during_pull_checkout(tmp_path: Path) -> None:
    """`pull --checkout` writes the new chunks of big files straight into staged temp files
    (``.assay/tmp/<pid>-stage-…``) while it stores them. Killed at any instant, and on sight
    of a big staged file: the workspace verifies clean, the next open removes the dead
    pull's staged files, and pulling again completes with the exact bytes."""
    from assay.data._checkout_write import _BIG_FILE, _STRIPE

    source = tmp_path / "source"
    ws = Workspace.init(source)
    _make_data(source, small=50, big=_BIG_FILE + (8 << 20))
    add(ws, [source / "d"], name="ds")
    add_remote(ws, "origin", str(tmp_path / "remote"))
    from assay.data import push

    push(ws)
    ws.close()
    want = {p.name: p.read_bytes() for p in (source / "d").iterdir()}
    pristine = tmp_path / "pristine"
    Workspace.init(pristine).close()
    subprocess.run([sys.executable, "-m", "assay", "remote", "add", "origin", str(tmp_path / "remote")],
                   cwd=pristine, env=ENV, check=True, capture_output=True)
    args = ["data", "pull", "--checkout"]
    probe = tmp_path / "probe"
    shutil.copytree(pristine, probe)
    delays = _instants(args, probe, 6)
    shutil.rmtree(probe)

    def staged(root: Path) -> list[Path]:
        folder = root / ".assay" / "tmp"
        try:
            return [p for p in folder.iterdir() if "-stage-" in p.name]
        except FileNotFoundError:  # not made yet
            return []

    runs: list[tuple[float, int, float]] = []
    killed = mid_stage = 0
    for i, delay in enumerate([*delays, None, None]):
        root = tmp_path / f"w{i}"
        shutil.copytree(pristine, root)
        if delay is None:  # on sight of a staged file past its first stripe
            hit = _kill_when(args, root, lambda r=root: any(_size(p) > _STRIPE for p in staged(r)))
            killed += hit
            mid_stage += hit
        else:
            code = _kill_after(args, root, delay, runs)
            assert code in (0, -signal.SIGKILL), runs
            killed += code == -signal.SIGKILL
            mid_stage += code == -signal.SIGKILL and bool(staged(root))
        assert not _still_running_in(root)
        ws = Workspace.open(root)
        assert verify(ws, all_objects=True).ok
        assert staged(root) == []  # opening the store removed the dead pull's staged files
        ws.close()
        subprocess.run([sys.executable, "-m", "assay", *args], cwd=root, env=ENV, check=True, capture_output=True)
        got = {p.name: p.read_bytes() for p in (root / "d").iterdir() if not p.name.startswith(".assay-tmp-")}
        assert got == want, runs
        ws = Workspace.open(root)
        assert verify(ws, all_objects=True).ok and [v.number for v in log(ws, "ds")] == [1]
        ws.close()
        shutil.rmtree(root)
    assert killed >= 3, runs
    assert mid_stage >= 1, f"no kill stopped the staged writer: {runs}"
