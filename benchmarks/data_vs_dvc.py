#!/usr/bin/env python3
"""assay's data pillar vs DVC, side by side: same data, same run, same machine.

Workloads (sizes at --scale 1.0):
  a  50,000 files of 1-64 KiB in 500 folders (~1.66 GB); then one file rewritten
  b  four 1 GiB files of random bytes; then 1 MiB appended to one, and 1 MiB
     inserted in the middle of another
  c  one 2 GB CSV; then 1,000 rows appended

Steps per workload, each one a separate subprocess timed for wall clock and peak
RSS (GNU ``/usr/bin/time -v``: the largest resident set of any process in the
tree; falls back to RUSAGE_CHILDREN from a fresh wrapper process):
  add           first add into an empty cache
  status        no-change status right after it
  push          push to a fresh folder remote
  pull          pull into an empty cache in a fresh workspace, with checkout
  re-add:<mod>  add again after a modification (+ storage growth of the cache)
  push:<mod>    incremental push of that change

Each tool works on its own copy of the data (plain copies, no hard links). By
default the page cache is dropped before every step (``sync; echo 3 >
/proc/sys/vm/drop_caches``) when that is possible (root), so the figures are
cold-cache; ``--warm`` keeps the cache.

Writeback: assay fsyncs what it stores before it records it (a version is on disk when
the command returns); DVC leaves its writes in the page cache, for the kernel to write
later. In cold mode, a timed ``sync`` right after each step measures that writeback, and
the "incl. writeback" ratio compares the two with every byte on disk. The targets are
judged on the plain ratio, as the issue states them.

DVC must not be installed into assay's environment; put it in its own venv:

    python3 -m venv /tmp/dvc-venv && /tmp/dvc-venv/bin/pip install dvc
    .venv/bin/python benchmarks/data_vs_dvc.py --scale 0.05            # quick
    .venv/bin/python benchmarks/data_vs_dvc.py --workloads a --json out.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

MiB = 1 << 20
GiB = 1 << 30
DATASET = "ds"
DATA_DIR = "data"

# Targets from the issue, as ratios to DVC in the same run.
TIME_TARGETS = {"add": 5.0, "status": 10.0, "push": 5.0, "pull": 5.0, "push:": 5.0}
GROWTH_TARGET = 20.0  # DVC's growth / assay's growth after each append or insert


# --------------------------------------------------------------------------- measuring


@dataclass
class Measure:
    seconds: float
    peak_mib: float
    rc: int
    tail: str = ""
    flush_seconds: float | None = None  # a sync right after the step: writes it left in the page cache


_TIME_BIN = "/usr/bin/time" if Path("/usr/bin/time").exists() else None
_WRAPPER = r"""
import resource, subprocess, sys, json
rc = subprocess.call(sys.argv[2:])
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(json.dumps({"maxrss_kb": ru.ru_maxrss, "rc": rc}))
sys.exit(rc)
"""


class Runner:
    def __init__(self, drop_caches: bool, env: dict[str, str], log) -> None:
        self.drop_caches = drop_caches
        self.env = env
        self.log = log

    def _drop(self) -> None:
        if not self.drop_caches:
            return
        os.sync()
        try:
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
        except OSError:
            pass

    def run(self, argv: list[str], cwd: Path, *, measure: bool = True) -> Measure:
        """Run argv in cwd; wall time and peak RSS of the whole process tree."""
        if not measure:
            p = subprocess.run(argv, cwd=cwd, env=self.env, capture_output=True, text=True, check=False)
            return Measure(0.0, 0.0, p.returncode, (p.stdout + p.stderr)[-4000:])
        self._drop()
        with tempfile.NamedTemporaryFile("r", suffix=".rusage", delete=False) as tf:
            rfile = tf.name
        try:
            if _TIME_BIN:
                full = [_TIME_BIN, "-v", "-o", rfile, *argv]
            else:
                full = [sys.executable, "-c", _WRAPPER, rfile, *argv]
            t0 = time.perf_counter()
            p = subprocess.run(full, cwd=cwd, env=self.env, capture_output=True, text=True, check=False)
            secs = time.perf_counter() - t0
            text = Path(rfile).read_text(errors="replace")
        finally:
            os.unlink(rfile)
        if _TIME_BIN:
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
            kb = int(m.group(1)) if m else 0
        else:
            kb = json.loads(text or '{"maxrss_kb": 0}')["maxrss_kb"]
        flush = None
        if self.drop_caches:  # the page cache was flushed before the step: what is dirty now is its own
            t1 = time.perf_counter()
            os.sync()
            flush = time.perf_counter() - t1
        out = (p.stdout + p.stderr)[-4000:]
        self.log(f"    $ {' '.join(argv)}  [{cwd.name}] -> rc={p.returncode} {secs:.2f}s {kb / 1024:.0f} MiB"
                 + (f" (+{flush:.2f}s writeback)" if flush is not None else ""))
        if p.returncode != 0:
            self.log("      " + out[-1500:].replace("\n", "\n      "))
        return Measure(secs, kb / 1024, p.returncode, out, flush)


def tree_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except FileNotFoundError:
                pass
    return total


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


# --------------------------------------------------------------------------- data


def _randbytes(rng: np.random.Generator, n: int) -> bytes:
    return rng.bytes(n)


def _write_random(path: Path, size: int, rng: np.random.Generator) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 16 * MiB)
            f.write(_randbytes(rng, n))
            left -= n


_CATS = np.frombuffer(b"alpha___beta____gamma___delta___epsilon_zeta____eta_____theta___", dtype=np.uint8).reshape(8, 8)


def _digits(vals: np.ndarray, width: int) -> np.ndarray:
    pw = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((vals[:, None] // pw) % 10 + 48).astype(np.uint8)


def csv_rows(start: int, n: int, rng: np.random.Generator) -> bytes:
    """n CSV rows (ids start..start+n-1), fixed-width fields, random values: ~80 bytes a row."""
    ids = np.arange(start, start + n, dtype=np.int64)
    month = rng.integers(1, 13, n)
    day = rng.integers(1, 29, n)
    user = rng.integers(0, 10**7, n)
    cents = rng.integers(0, 10**8, n)
    cat = rng.integers(0, 8, n)
    token = rng.integers(0, 16, (n, 16))
    hexd = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[token]
    c = lambda ch: np.full((n, 1), ord(ch), dtype=np.uint8)
    row = np.hstack([
        _digits(ids, 10), c(","), np.full((n, 5), np.frombuffer(b"2024-", np.uint8)), _digits(month, 2), c("-"),
        _digits(day, 2), c(","), _digits(user, 7), c(","), _digits(cents // 100, 6), c("."), _digits(cents % 100, 2),
        c(","), _CATS[cat], c(","), hexd, c("\n"),
    ])
    return row.tobytes()


CSV_HEADER = b"id,date,user_id,amount,category,token\n"
CSV_BLOCK = 200_000


def write_csv(path: Path, size: int, rng: np.random.Generator) -> int:
    """A CSV of about `size` bytes; returns the number of rows."""
    written, rows = 0, 0
    with open(path, "wb") as f:
        f.write(CSV_HEADER)
        written += len(CSV_HEADER)
        while written < size:
            block = csv_rows(rows, CSV_BLOCK, rng)
            rowlen = len(block) // CSV_BLOCK
            need = max(1, min(CSV_BLOCK, -(-(size - written) // rowlen)))
            f.write(block[: need * rowlen])
            written += need * rowlen
            rows += need
    return rows


@dataclass
class Mod:
    name: str  # "rewrite", "append-1MiB", "insert-1MiB", "append-rows"
    label: str
    growth_target: bool  # counted against the 1/20 storage-growth target
    apply: object = field(repr=False)  # callable(root: Path) -> None


@dataclass
class Workload:
    key: str
    title: str
    nbytes: int
    nfiles: int
    mods: list[Mod]


def gen_a(src: Path, scale: float) -> Workload:
    nfiles = max(10, round(50_000 * scale))
    nfolders = max(1, round(500 * scale))
    rng = np.random.default_rng(1001)
    sizes = rng.integers(1024, 64 * 1024 + 1, nfiles)
    total = 0
    for i, size in enumerate(sizes):
        d = src / DATA_DIR / f"dir{i % nfolders:03d}"
        if i < nfolders:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"file{i:05d}.bin").write_bytes(_randbytes(rng, int(size)))
        total += int(size)
    victim = f"{DATA_DIR}/dir{7 % nfolders:03d}/file{7:05d}.bin"

    def rewrite(root: Path) -> None:
        p = root / victim
        p.write_bytes(np.random.default_rng(2001).bytes(p.stat().st_size))

    mods = [Mod("rewrite", "one file rewritten", False, rewrite)]
    return Workload("a", f"{nfiles:,} files of 1-64 KiB in {nfolders} folders", total, nfiles, mods)


def gen_b(src: Path, scale: float) -> Workload:
    size = max(4 * MiB, int(GiB * scale))
    (src / DATA_DIR).mkdir(parents=True)
    for i in range(4):
        _write_random(src / DATA_DIR / f"big{i}.bin", size, np.random.default_rng(3000 + i))

    def append(root: Path) -> None:
        with open(root / DATA_DIR / "big0.bin", "ab") as f:
            f.write(np.random.default_rng(4001).bytes(MiB))

    def insert(root: Path) -> None:
        p = root / DATA_DIR / "big1.bin"
        tmp = p.with_suffix(".tmp")
        half = p.stat().st_size // 2
        with open(p, "rb") as fi, open(tmp, "wb") as fo:
            left = half
            while left:
                b = fi.read(min(left, 16 * MiB))
                fo.write(b)
                left -= len(b)
            fo.write(np.random.default_rng(4002).bytes(MiB))
            shutil.copyfileobj(fi, fo, 16 * MiB)
        os.replace(tmp, p)

    mods = [
        Mod("append-1MiB", "1 MiB appended to a big file", True, append),
        Mod("insert-1MiB", "1 MiB inserted mid-file", True, insert),
    ]
    return Workload("b", f"4 files of {fmt_bytes(size)} random bytes", 4 * size, 4, mods)


def gen_c(src: Path, scale: float) -> Workload:
    size = max(8 * MiB, int(2_000_000_000 * scale))
    (src / DATA_DIR).mkdir(parents=True)
    nrows = write_csv(src / DATA_DIR / "table.csv", size, np.random.default_rng(5001))

    def append_rows(root: Path) -> None:
        with open(root / DATA_DIR / "table.csv", "ab") as f:
            f.write(csv_rows(nrows, 1000, np.random.default_rng(6001)))

    mods = [Mod("append-rows", "1,000 rows appended to the CSV", True, append_rows)]
    real = (src / DATA_DIR / "table.csv").stat().st_size
    return Workload("c", f"one CSV of {fmt_bytes(real)} ({nrows:,} rows)", real, 1, mods)


GENERATORS = {"a": gen_a, "b": gen_b, "c": gen_c}


def copy_tree(src: Path, dst: Path) -> None:
    """A real copy (no hard links, no reflinks) so each tool reads its own bytes."""
    shutil.copytree(src, dst, copy_function=shutil.copyfile, dirs_exist_ok=True)


def same_trees(a: Path, b: Path, full_compare: int = 5) -> str | None:
    """None if trees hold the same files/sizes (and the first few identical bytes); else why not."""
    def listing(root: Path) -> dict[str, int]:
        out = {}
        for r, _d, fs in os.walk(root):
            for f in fs:
                p = os.path.join(r, f)
                out[os.path.relpath(p, root)] = os.lstat(p).st_size
        return out

    la, lb = listing(a), listing(b)
    if la != lb:
        missing = sorted(set(la) - set(lb))[:5]
        extra = sorted(set(lb) - set(la))[:5]
        diff = [k for k in la if k in lb and la[k] != lb[k]][:5]
        return f"trees differ: missing={missing} extra={extra} size-differs={diff} ({len(la)} vs {len(lb)} files)"
    for rel in sorted(la)[:full_compare]:
        with open(a / rel, "rb") as fa, open(b / rel, "rb") as fb:
            while True:
                x, y = fa.read(8 * MiB), fb.read(8 * MiB)
                if x != y:
                    return f"content differs: {rel}"
                if not x:
                    break
    return None


# --------------------------------------------------------------------------- the tools


class Tool:
    name = ""

    def __init__(self, exe: str, runner: Runner) -> None:
        self.exe = exe
        self.r = runner

    def store_bytes(self, ws: Path) -> int:
        raise NotImplementedError


class Assay(Tool):
    name = "assay"

    def init(self, ws: Path) -> None:
        self._ok(self.r.run([self.exe, "init", "--json"], ws, measure=False), "init")

    def store_bytes(self, ws: Path) -> int:
        return tree_bytes(ws / ".assay" / "objects")

    def add(self, ws: Path) -> Measure:
        return self.r.run([self.exe, "data", "add", DATA_DIR, "--name", DATASET, "--json"], ws)

    def status(self, ws: Path) -> tuple[Measure, bool | None]:
        m = self.r.run([self.exe, "data", "status", DATASET, "--json"], ws)
        try:
            clean = json.loads(m.tail[m.tail.index("{"):])["clean"]
        except (ValueError, KeyError):
            clean = None
        return m, clean

    def add_remote(self, ws: Path, url: Path) -> None:
        self._ok(self.r.run([self.exe, "remote", "add", "r", str(url), "--default", "--json"], ws, measure=False), "remote add")

    def push(self, ws: Path) -> Measure:
        return self.r.run([self.exe, "data", "push", "--json"], ws)

    def clone_and_pull(self, ws: Path, clone: Path, remote: Path) -> tuple[Measure, list[str]]:
        clone.mkdir()
        self.init(clone)
        self.add_remote(clone, remote)
        notes = []
        m = self.r.run([self.exe, "data", "pull", "--checkout", "--json"], clone)
        if m.rc != 0 and "local changes" in m.tail:
            # Known bug: in a fresh workspace the missing files count as "local changes".
            notes.append("BUG: `assay data pull --checkout` in a fresh workspace exits 2 "
                         "('has local changes that checkout would overwrite'); timed pull + `data checkout --force`")
            m2 = self.r.run([self.exe, "data", "checkout", DATASET, "--force", "--json"], clone)
            flush = (m.flush_seconds + m2.flush_seconds
                     if m.flush_seconds is not None and m2.flush_seconds is not None else None)
            m = Measure(m.seconds + m2.seconds, max(m.peak_mib, m2.peak_mib), m2.rc, m2.tail, flush)
        return m, notes

    @staticmethod
    def _ok(m: Measure, what: str) -> None:
        if m.rc != 0:
            raise RuntimeError(f"assay {what} failed: {m.tail}")


class Dvc(Tool):
    name = "dvc"

    def init(self, ws: Path) -> None:
        self._ok(self.r.run([self.exe, "init", "--no-scm", "-q"], ws, measure=False), "init")
        for k, v in (("core.analytics", "false"), ("core.check_update", "false")):
            self._ok(self.r.run([self.exe, "config", k, v], ws, measure=False), "config")

    def store_bytes(self, ws: Path) -> int:
        return tree_bytes(ws / ".dvc" / "cache")

    def add(self, ws: Path) -> Measure:
        return self.r.run([self.exe, "add", "-q", DATA_DIR], ws)

    def status(self, ws: Path) -> tuple[Measure, bool | None]:
        m = self.r.run([self.exe, "status"], ws)
        return m, ("up to date" in m.tail) if m.rc == 0 else None

    def add_remote(self, ws: Path, url: Path) -> None:
        self._ok(self.r.run([self.exe, "remote", "add", "-d", "r", str(url)], ws, measure=False), "remote add")

    def push(self, ws: Path) -> Measure:
        return self.r.run([self.exe, "push", "-q"], ws)

    def clone_and_pull(self, ws: Path, clone: Path, remote: Path) -> tuple[Measure, list[str]]:
        clone.mkdir()
        self.init(clone)
        shutil.copyfile(ws / ".dvc" / "config", clone / ".dvc" / "config")
        shutil.copyfile(ws / f"{DATA_DIR}.dvc", clone / f"{DATA_DIR}.dvc")
        return self.r.run([self.exe, "pull", "-q"], clone), []

    @staticmethod
    def _ok(m: Measure, what: str) -> None:
        if m.rc != 0:
            raise RuntimeError(f"dvc {what} failed: {m.tail}")


# --------------------------------------------------------------------------- one run of a workload


@dataclass
class StepResult:
    step: str
    kind: str  # add | status | push | pull | re-add | push:
    seconds: dict[str, float] = field(default_factory=dict)
    flush: dict[str, float] = field(default_factory=dict)  # timed sync after the step (cold mode only)
    peak_mib: dict[str, float] = field(default_factory=dict)
    growth: dict[str, int] = field(default_factory=dict)  # bytes added to the tool's cache/objects
    ok: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    growth_target: bool = False  # counted against the 1/20 storage-growth target
    load1: float = 0.0  # 1-minute load average when the step started (the machine is shared)


def run_workload(wl: Workload, src: Path, base: Path, tools: list[Tool], log) -> list[StepResult]:
    steps: list[StepResult] = []
    ws = {t.name: base / f"{t.name}-ws" for t in tools}
    remote = {t.name: base / f"{t.name}-remote" for t in tools}

    def step(name: str, kind: str) -> StepResult:
        s = StepResult(name, kind, load1=round(os.getloadavg()[0], 2))
        steps.append(s)
        log(f"  [{wl.key}] {name}")
        return s

    def record(s: StepResult, t: Tool, m: Measure) -> None:
        s.seconds[t.name] = m.seconds
        if m.flush_seconds is not None:
            s.flush[t.name] = m.flush_seconds
        s.peak_mib[t.name] = m.peak_mib
        s.ok[t.name] = m.rc == 0
        if m.rc != 0:
            s.notes.append(f"{t.name} exited {m.rc}: {m.tail.strip()[-300:]}")

    for t in tools:
        ws[t.name].mkdir()
        copy_tree(src, ws[t.name])
        t.init(ws[t.name])
    time.sleep(1.5)  # so that no file is "racy" (modified within the stat cache's tick) for either tool

    s = step("add", "add")
    for t in tools:
        before = t.store_bytes(ws[t.name])
        record(s, t, t.add(ws[t.name]))
        s.growth[t.name] = t.store_bytes(ws[t.name]) - before

    def status_step(title: str, kind: str, *, clean: bool, wrong: str) -> None:
        s = step(title, kind)
        for t in tools:
            m, said_clean = t.status(ws[t.name])
            record(s, t, m)
            if said_clean is (not clean):
                s.ok[t.name] = False
                s.notes.append(f"{t.name} status {wrong}: {m.tail[-300:]}")

    status_step("status (no change)", "status", clean=True, wrong="reports changes right after add")

    s = step("push (fresh folder remote)", "push")
    for t in tools:
        t.add_remote(ws[t.name], remote[t.name])
        record(s, t, t.push(ws[t.name]))
        s.growth[t.name] = tree_bytes(remote[t.name])

    s = step("pull (empty cache, checkout)", "pull")
    for t in tools:
        clone = base / f"{t.name}-clone"
        m, notes = t.clone_and_pull(ws[t.name], clone, remote[t.name])
        record(s, t, m)
        s.notes += notes
        if m.rc == 0:
            why = same_trees(src / DATA_DIR, clone / DATA_DIR)
            if why:
                s.ok[t.name] = False
                s.notes.append(f"{t.name} pull restored wrong data: {why}")
        shutil.rmtree(clone, ignore_errors=True)

    for mod in wl.mods:
        for t in tools:
            mod.apply(ws[t.name])
        time.sleep(1.5)
        status_step(f"status after {mod.label}", "status:", clean=False, wrong=f"reports no change after {mod.label}")
        s = step(f"re-add after {mod.label}", "re-add")
        s.growth_target = mod.growth_target
        for t in tools:
            before = t.store_bytes(ws[t.name])
            record(s, t, t.add(ws[t.name]))
            s.growth[t.name] = t.store_bytes(ws[t.name]) - before
        s = step(f"incremental push ({mod.name})", "push:")
        for t in tools:
            before = tree_bytes(remote[t.name])
            record(s, t, t.push(ws[t.name]))
            s.growth[t.name] = tree_bytes(remote[t.name]) - before
    return steps


# --------------------------------------------------------------------------- summary


def summarize(runs: list[list[StepResult]]) -> list[dict]:
    """Medians over repeats, per step."""
    out = []
    for i, first in enumerate(runs[0]):
        rows = [r[i] for r in runs]
        row: dict = {"step": first.step, "kind": first.kind, "growth_target": first.growth_target}
        for tool in first.seconds:
            row[f"{tool}_s"] = statistics.median(r.seconds[tool] for r in rows)
            row[f"{tool}_peak_mib"] = statistics.median(r.peak_mib[tool] for r in rows)
            row[f"{tool}_growth"] = statistics.median(r.growth[tool] for r in rows) if tool in first.growth else None
            row[f"{tool}_ok"] = all(r.ok.get(tool, False) for r in rows)
        row["notes"] = sorted({n for r in rows for n in r.notes})
        a, d = row.get("assay_s"), row.get("dvc_s")
        row["time_ratio"] = d / a if a and d else None
        per_run = [r.seconds["dvc"] / r.seconds["assay"] for r in rows
                   if r.seconds.get("assay") and r.seconds.get("dvc")]
        row["time_ratio_range"] = (min(per_run), max(per_run)) if len(per_run) > 1 else None
        # Runs are paired (both tools run each step back to back): the median of the per-run
        # ratios can differ from the ratio of the medians; a target counts as met only on both.
        row["time_ratio_run_median"] = statistics.median(per_run) if len(per_run) > 1 else None
        if all("assay" in r.flush and "dvc" in r.flush for r in rows):
            for tool in ("assay", "dvc"):
                row[f"{tool}_flush_s"] = statistics.median(r.flush[tool] for r in rows)
            # As the plain ratio: of the medians (here of each tool's step time with its writeback).
            durable = {tool: statistics.median(r.seconds[tool] + r.flush[tool] for r in rows) for tool in ("assay", "dvc")}
            row["durable_ratio"] = durable["dvc"] / durable["assay"] if durable["assay"] else None
        row["load1"] = [r.load1 for r in rows]
        ga, gd = row.get("assay_growth"), row.get("dvc_growth")
        row["growth_ratio"] = (gd / ga if ga else float("inf")) if ga is not None and gd else None
        row["targets"] = check_targets(row)
        out.append(row)
    return out


def check_targets(row: dict) -> list[str]:
    res = []
    tgt = TIME_TARGETS.get(row["kind"])
    if tgt and row["time_ratio"] is not None:
        worst = min(row["time_ratio"], row.get("time_ratio_run_median") or row["time_ratio"])
        res.append(f"time>={tgt:g}x:{'met' if worst >= tgt else 'MISSED'}")
    if row["kind"] == "re-add" and row.get("growth_target") and row["growth_ratio"] is not None:
        res.append(f"growth<=1/{GROWTH_TARGET:g}:{'met' if row['growth_ratio'] >= GROWTH_TARGET else 'MISSED'}")
    if row.get("assay_peak_mib") and row.get("dvc_peak_mib"):
        res.append(f"mem<=dvc:{'met' if row['assay_peak_mib'] <= row['dvc_peak_mib'] else 'MISSED'}")
    if not row.get("assay_ok", True):
        res.append("assay:FAILED")
    if not row.get("dvc_ok", True):
        res.append("dvc:FAILED")
    return res


def table(workloads: list[dict], markdown: bool = False) -> str:
    head = ["step", "assay s", "dvc s", "dvc/assay", "writeback assay / dvc s", "dvc/assay incl. writeback",
            "assay peak MiB", "dvc peak MiB",
            "assay growth", "dvc growth", "growth dvc/assay", "targets"]
    lines = []
    for w in workloads:
        rows = []
        for r in w["summary"]:
            gr = r["growth_ratio"]
            rows.append([
                r["step"], f"{r['assay_s']:.2f}", f"{r['dvc_s']:.2f}",
                (f"{r['time_ratio']:.1f}x" + (" ({:.1f}-{:.1f}; per run {:.1f}x)".format(
                    *r["time_ratio_range"], r["time_ratio_run_median"]) if r.get("time_ratio_range") else ""))
                if r["time_ratio"] else "-",
                (f"{r['assay_flush_s']:.2f} / {r['dvc_flush_s']:.2f}" if r.get("assay_flush_s") is not None else "-"),
                (f"{r['durable_ratio']:.1f}x" if r.get("durable_ratio") else "-"),
                f"{r['assay_peak_mib']:.0f}", f"{r['dvc_peak_mib']:.0f}",
                fmt_bytes(r["assay_growth"]), fmt_bytes(r["dvc_growth"]),
                "-" if gr is None else ("inf" if gr == float("inf") else f"{gr:.0f}x"),
                " ".join(r["targets"]),
            ])
        loads = [x for r in w["summary"] for x in r.get("load1", [])]
        title = f"({w['key']}) {w['title']}, {fmt_bytes(w['bytes'])}, scale {w['scale']:g}"
        if loads:
            title += f"; 1-min load average {min(loads):.1f}-{max(loads):.1f} at step starts"
        if markdown:
            lines += [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(x.replace("|", "/") for x in row) + " |" for row in rows]
            notes = sorted({n for r in w["summary"] for n in r["notes"] })
            lines += [""] + [f"- {n}" for n in notes] + ([""] if notes else [])
        else:
            widths = [max(len(head[i]), *(len(row[i]) for row in rows)) for i in range(len(head))]
            lines.append(title)
            lines.append("  ".join(h.ljust(widths[i]) for i, h in enumerate(head)))
            lines += ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)) for row in rows]
            for n in sorted({n for r in w["summary"] for n in r["notes"] }):
                lines.append(f"  note: {n}")
            lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def _version(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False).stdout.strip().splitlines()[-1]
    except Exception as e:  # noqa: BLE001
        return f"unknown ({e})"


def _python_of(exe: str) -> str:
    """The interpreter of a console script (its shebang), else this one."""
    try:
        first = Path(shutil.which(exe) or exe).read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return sys.executable
    return first[2:].strip() if first.startswith("#!") and Path(first[2:].strip()).exists() else sys.executable


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_dvc = shutil.which("dvc") or "/tmp/dvc-venv/bin/dvc"
    ap.add_argument("--dvc", default=default_dvc, help=f"dvc executable (default: {default_dvc})")
    ap.add_argument("--assay", default=str(Path(sys.executable).parent / "assay"), help="assay executable")
    ap.add_argument("--workloads", default="a,b,c", help="comma-separated subset of a,b,c")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies data sizes (default 1.0)")
    ap.add_argument("--repeats", type=int, default=1, help="runs per workload; medians when > 1")
    ap.add_argument("--tmp", default=None, help="folder for the generated data (default: system temp)")
    ap.add_argument("--json", dest="json_out", default=None, help="write all results to this JSON file")
    ap.add_argument("--markdown", default=None, help="write the table as Markdown to this file")
    ap.add_argument("--warm", action="store_true", help="do not drop the page cache before each step")
    ap.add_argument("--keep", action="store_true", help="keep the generated data (debugging)")
    args = ap.parse_args()

    for exe, what in ((args.dvc, "dvc"), (args.assay, "assay")):
        if not shutil.which(exe):
            ap.error(f"{what} executable not found: {exe}")
    keys = [k.strip() for k in args.workloads.split(",") if k.strip()]
    if bad := [k for k in keys if k not in GENERATORS]:
        ap.error(f"unknown workloads: {bad}")

    drop = not args.warm and os.geteuid() == 0 and os.access("/proc/sys/vm/drop_caches", os.W_OK)
    env = dict(os.environ, DVC_NO_ANALYTICS="1", PYTHONUNBUFFERED="1")
    # Both tools start from compiled bytecode, as after `pip install`: an editable install of
    # assay (or PYTHONDONTWRITEBYTECODE) would otherwise compile its modules on every run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    compiled = subprocess.run([_python_of(args.assay), "-c", "import assay, compileall, os; "
                               "compileall.compile_dir(os.path.dirname(assay.__file__), quiet=1)"],
                              env=env, capture_output=True, text=True)
    if compiled.returncode != 0:
        print(f"could not compile assay's modules (runs will compile them): {compiled.stderr[-300:]}", file=sys.stderr)
    if args.tmp:
        Path(args.tmp).mkdir(parents=True, exist_ok=True)  # (a --tmp that does not exist yet is made)
    tmp_root = Path(tempfile.mkdtemp(prefix="assay-vs-dvc-", dir=args.tmp))
    # DVC keeps per-repo state under a "site cache" folder: keep it inside the run's temp folder.
    env["DVC_SITE_CACHE_DIR"] = str(tmp_root / "dvc-site-cache")

    def log(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    runner = Runner(drop, env, log)
    tools: list[Tool] = [Assay(args.assay, runner), Dvc(args.dvc, runner)]
    meta = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "assay_version": _version([args.assay, "--version"]),
        "dvc_version": _version([args.dvc, "--version"]),
        "python": platform.python_version(), "platform": platform.platform(),
        "cpus": os.cpu_count(), "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GiB, 1),
        "scale": args.scale, "repeats": args.repeats, "cache": "cold (drop_caches before each step)" if drop else "warm",
        "peak_rss": "GNU time -v (max RSS of any process in the tree)" if _TIME_BIN else "RUSAGE_CHILDREN ru_maxrss",
        "loadavg_start": os.getloadavg(),
    }
    log(f"assay {meta['assay_version']} vs {meta['dvc_version']}; scale {args.scale}; "
        f"{meta['cache']}; temp {tmp_root}")
    results = {"meta": meta, "workloads": []}
    rc = 0
    try:
        for key in keys:
            src = tmp_root / f"src-{key}"
            src.mkdir()
            t0 = time.perf_counter()
            wl = GENERATORS[key](src, args.scale)
            log(f"({key}) generated {wl.title}: {fmt_bytes(wl.nbytes)} in {time.perf_counter() - t0:.0f}s")
            runs = []
            for rep in range(args.repeats):
                base = tmp_root / f"run-{key}-{rep}"
                base.mkdir()
                log(f"({key}) repeat {rep + 1}/{args.repeats}")
                runs.append(run_workload(wl, src, base, tools, log))
                if args.json_out:  # keep finished repeats even if a later one is interrupted
                    partial = {"key": key, "partial": True, "raw": [[asdict(s) for s in r] for r in runs]}
                    Path(args.json_out).write_text(json.dumps(
                        {**results, "workloads": results["workloads"] + [partial]}, indent=2, default=str))
                if not args.keep:
                    shutil.rmtree(base, ignore_errors=True)
            if not args.keep:
                shutil.rmtree(src, ignore_errors=True)
            w = {"key": key, "title": wl.title, "bytes": wl.nbytes, "files": wl.nfiles, "scale": args.scale,
                 "summary": summarize(runs), "raw": [[asdict(s) for s in r] for r in runs]}
            results["workloads"].append(w)
            print(table([w]), flush=True)
            if args.json_out:
                Path(args.json_out).write_text(json.dumps(results, indent=2, default=str))
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    finally:
        if not args.keep:
            shutil.rmtree(tmp_root, ignore_errors=True)
    meta["loadavg_end"] = os.getloadavg()
    if results["workloads"]:
        print(f"# assay {meta['assay_version']} vs {meta['dvc_version']}, {meta['cpus']} CPUs, "
              f"{meta['mem_gib']} GiB, {meta['cache']} cache, peak RSS via {meta['peak_rss']}")
        print(table(results["workloads"]))
        if args.markdown:
            Path(args.markdown).write_text(table(results["workloads"], markdown=True) + "\n")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2, default=str))
    return rc


if __name__ == "__main__":
    sys.exit(main())
