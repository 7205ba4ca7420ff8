"""Drift detection speed and accuracy: assay vs Evidently, NannyML and alibi-detect, in the same run.

Generates reference and current tables (20 numeric + 5 categorical columns, shifts
injected into 5 of them) as Parquet files in a temporary folder, runs each tool as
its own process on the same files, and prints wall time of the whole process, peak
memory (max RSS) and injected columns found / missed / falsely flagged.

Peers are not assay dependencies; install them into a separate environment and
point --peers-python at it (see benchmarks/README.md):

    python3 -m venv /tmp/peers-venv
    /tmp/peers-venv/bin/pip install evidently nannyml alibi-detect 'pyarrow>=15,<19'
    python benchmarks/drift_vs_peers.py --rows 100000 1000000 --peers-python /tmp/peers-venv/bin/python

The generated data is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

NUMERIC, CATEGORICAL = 20, 5
CATS = ["a", "b", "c", "d"]
# column -> what changes in the current table; sizes are well above every tool's effect threshold
SHIFTED = {
    "num_0": "mean +0.5 sd",
    "num_1": "sd x2",
    "num_2": "exponential scale x1.5",
    "cat_0": "probabilities (.4,.3,.2,.1) -> (.25,.3,.2,.25)",
    "cat_1": "a new category takes 20% of rows",
}
CHUNK = 1_000_000


def generate(path: Path, rows: int, *, current: bool, seed: int) -> None:
    """Write the table in chunks of a million rows, so 10M rows fit in little memory."""
    rng = np.random.default_rng(seed)
    writer = None
    done = 0
    while done < rows:
        n = min(CHUNK, rows - done)
        cols: dict[str, np.ndarray] = {}
        for i in range(NUMERIC):
            if i == 2:
                cols[f"num_{i}"] = rng.exponential(1.5 if current else 1.0, n)
            else:
                loc = 0.5 if (current and i == 0) else 0.0
                scale = 2.0 if (current and i == 1) else 1.0
                cols[f"num_{i}"] = rng.normal(loc + i, scale, n)
        for j in range(CATEGORICAL):
            if j == 0 and current:
                cols[f"cat_{j}"] = rng.choice(CATS, n, p=[0.25, 0.3, 0.2, 0.25])
            elif j == 1 and current:
                cols[f"cat_{j}"] = rng.choice(CATS + ["new"], n, p=[0.32, 0.24, 0.16, 0.08, 0.2])
            else:
                cols[f"cat_{j}"] = rng.choice(CATS, n, p=[0.4, 0.3, 0.2, 0.1])
        table = pa.table(cols)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=256_000)
        done += n
    assert writer is not None
    writer.close()


# assay runs as its own command line; each peer as a small script that prints {"drifted": [...]} last.
ASSAY = None

EVIDENTLY = """
import json, pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref, cur = pd.read_parquet(REF), pd.read_parquet(CUR)
snap = Report([DataDriftPreset()]).run(cur, ref)
drifted = []
for m in snap.dict()["metrics"]:
    cfg = m["config"]
    if cfg.get("type", "").endswith("ValueDrift"):
        p_value = "p_value" in cfg["method"]
        if (m["value"] < cfg["threshold"]) if p_value else (m["value"] >= cfg["threshold"]):
            drifted.append(cfg["column"])
print(json.dumps({"drifted": sorted(drifted)}))
"""

NANNYML = """
import json, pandas as pd, nannyml as nml
ref, cur = pd.read_parquet(REF), pd.read_parquet(CUR)
cols = list(ref.columns)
calc = nml.UnivariateDriftCalculator(column_names=cols, chunk_number=5,
    continuous_methods=["kolmogorov_smirnov"], categorical_methods=["chi2"])
calc.fit(ref)
df = calc.calculate(cur).filter(period="analysis").to_df()
drifted = [c for c in cols if any(df[(c, m, "alert")].any() for m in ("kolmogorov_smirnov", "chi2") if (c, m, "alert") in df.columns)]
print(json.dumps({"drifted": sorted(drifted)}))
"""

ALIBI = """
import json, numpy as np, pandas as pd
from alibi_detect.cd import TabularDrift
ref, cur = pd.read_parquet(REF), pd.read_parquet(CUR)
cols = list(ref.columns)
cat_idx = [i for i, c in enumerate(cols) if ref[c].dtype == object]
def encode(df, levels):
    out = np.empty((len(df), len(cols)), dtype=np.float32)
    for i, c in enumerate(cols):
        out[:, i] = pd.Categorical(df[c], categories=levels[c]).codes if i in cat_idx else df[c].to_numpy()
    return out
levels = {c: sorted(set(ref[c]) | set(cur[c])) for c in cols if ref[c].dtype == object}
cd = TabularDrift(encode(ref, levels), p_val=0.05, categories_per_feature={i: None for i in cat_idx})
pred = cd.predict(encode(cur, levels), drift_type="feature")
print(json.dumps({"drifted": sorted(c for c, d in zip(cols, pred["data"]["is_drift"]) if d)}))
"""

RUNNERS = {"assay": ASSAY, "evidently": EVIDENTLY, "nannyml": NANNYML, "alibi-detect": ALIBI}


def run_tool(python: str, script: str | None, ref: Path, cur: Path, timeout: float, extra: list[str] | None = None) -> dict:
    """Run one tool as a child process; wall time and its own peak RSS (wait4), and what it flagged.

    ``wait4`` reports the largest resident set of the process and the children it
    waited for, not their sum: run assay with ``--assay-args=--workers=1`` to measure
    one process that does everything.
    """
    if script is None:
        argv = [python, "-m", "assay", "drift", str(ref), str(cur), "--json", "--no-record", *(extra or [])]
    else:
        argv = [python, "-c", f"REF, CUR = {str(ref)!r}, {str(cur)!r}\n" + script]
    env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1", "DO_NOT_TRACK": "1", "EVIDENTLY_DISABLE_TELEMETRY": "1", "ASSAY_PROGRESS": "0"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, text=True, env=env)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                return {"error": f"timed out after {timeout:.0f} s"}
            time.sleep(0.05)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if script is None:
        if proc.returncode not in (0, 1):
            return {"error": (stderr.strip().splitlines() or ["failed"])[-1][:200], "wall_s": wall}
        doc = json.loads(stdout)
        result = {"drifted": doc["drifted_columns"], "mode": doc["method"]["mode"]}
    else:
        if proc.returncode != 0:
            return {"error": (stderr.strip().splitlines() or ["failed"])[-1][:200], "wall_s": wall}
        result = json.loads(stdout.strip().splitlines()[-1])
    # Linux reports ru_maxrss in KiB: the peak of the child (and any children it waited for)
    result.update(wall_s=wall, peak_kib=usage.ru_maxrss)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--tools", nargs="+", default=list(RUNNERS), choices=list(RUNNERS))
    parser.add_argument("--peers-python", default=sys.executable, help="interpreter with evidently, nannyml and alibi-detect installed")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--max-peer-rows", type=int, default=1_000_000, help="skip peers above this size (they take many minutes)")
    parser.add_argument("--assay-args", default="", help="extra arguments for `assay drift`, e.g. '--workers=1' or '--method=binned'")
    parser.add_argument("--data-dir", type=Path, help="keep the generated files here and reuse them (default: a temporary folder, deleted)")
    args = parser.parse_args()

    truth = set(SHIFTED)
    columns = {f"num_{i}" for i in range(NUMERIC)} | {f"cat_{j}" for j in range(CATEGORICAL)}
    rows_out = []
    for rows in args.rows:
        folder = Path(tempfile.mkdtemp(prefix="assay-drift-bench-")) if args.data_dir is None else args.data_dir / str(rows)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            ref, cur = folder / "reference.parquet", folder / "current.parquet"
            t0 = time.perf_counter()
            if not (ref.exists() and cur.exists()):
                generate(ref, rows, current=False, seed=1)
                generate(cur, rows, current=True, seed=2)
            print(f"# {rows:,} rows: data generated in {time.perf_counter() - t0:.1f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", file=sys.stderr)
            results = {}
            for tool in args.tools:
                if tool != "assay" and rows > args.max_peer_rows:
                    results[tool] = {"error": f"skipped above {args.max_peer_rows:,} rows"}
                    continue
                python = sys.executable if tool == "assay" else args.peers_python
                load = os.getloadavg()[0]  # other work on the machine: seconds are only comparable at similar load
                res = run_tool(python, RUNNERS[tool], ref, cur, args.timeout, args.assay_args.split() if tool == "assay" else None)
                res["load"] = load
                results[tool] = res
                print(f"#   {tool}: {res}", file=sys.stderr)
            for tool, res in results.items():
                row = {"rows": rows, "tool": tool, "load": res.get("load")}
                if "error" in res:
                    row["error"] = res["error"]
                else:
                    found = set(res["drifted"]) & columns
                    row.update(wall_s=res["wall_s"], peak_gib=(res["peak_kib"] / 2**20) if res.get("peak_kib") else None,
                               found=len(found & truth), missed=len(truth - found), false=len(found - truth))  # fmt: skip
                    base = results.get("assay", {})
                    if tool != "assay" and "wall_s" in base:
                        row["x_slower_than_assay"] = res["wall_s"] / base["wall_s"]
                rows_out.append(row)
        finally:
            if args.data_dir is None:
                shutil.rmtree(folder, ignore_errors=True)
    print(f"| rows | tool | wall s | peak GiB | found / missed / false (of {len(truth)} shifted) | time vs assay | load before |")
    print("|---:|---|---:|---:|---|---:|---:|")
    for r in rows_out:
        load = f"{r['load']:.1f}" if r.get("load") is not None else "–"
        if "error" in r:
            print(f"| {r['rows']:,} | {r['tool']} | – | – | {r['error']} | – | {load} |")
            continue
        peak = f"{r['peak_gib']:.2f}" if r["peak_gib"] is not None else "n/a"
        ratio = f"{r['x_slower_than_assay']:.1f}×" if "x_slower_than_assay" in r else "1×"
        print(f"| {r['rows']:,} | {r['tool']} | {r['wall_s']:.1f} | {peak} | {r['found']} / {r['missed']} / {r['false']} | {ratio} | {load} |")


if __name__ == "__main__":
    main()
