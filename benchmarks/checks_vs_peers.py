"""assay check vs Deepchecks' model-evaluation suite vs MLflow evaluate (with baseline validation).

Same model pair, same data, whole process each (imports included), in one run; prints wall
time, peak memory (max RSS of the process) and the ratios. Peers are *not* assay dependencies:
install them in a separate environment and name its python with --peers-python, e.g.

    python3 -m venv /tmp/peers-venv
    /tmp/peers-venv/bin/pip install deepchecks mlflow "scikit-learn<1.6" "category-encoders<2.7" pandas pyarrow

(Deepchecks 0.19 does not import with scikit-learn ≥ 1.6, and pickles do not cross numpy 1/2, so the
peers' environment re-trains the same model pair — same data, hyper-parameters and seeds — in an
untimed step before its timed run.)

    .venv/bin/python benchmarks/checks_vs_peers.py --rows 100000 --peers-python /tmp/peers-venv/bin/python

A peer that is missing or runs past --peer-timeout is reported as such, never silently skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "ASSAY_PROGRESS": "0"}


def run(cmd: list[str], *, cwd: Path, timeout: float, env: dict[str, str] | None = None) -> dict[str, object]:
    """Wall time and peak RSS of one child process (os.wait4 gives that child's own rusage)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **THREADS, **(env or {})})
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"status": f"timeout after {timeout:.0f} s", "wall_s": time.perf_counter() - t0, "peak_mb": None}
    wall = time.perf_counter() - t0
    # communicate() already reaped the child; its rusage is in RUSAGE_CHILDREN (max over children so far),
    # so each tool runs in a fresh wrapper that prints its own maxrss instead.
    doc: dict[str, object] = {"status": "ok" if proc.returncode in (0, 1) else f"exit {proc.returncode}", "wall_s": wall,
                              "returncode": proc.returncode}
    for line in err.splitlines()[::-1]:
        if line.startswith("PEAK_RSS_MB="):
            doc["peak_mb"] = float(line.split("=", 1)[1])
            break
    if doc["status"] != "ok":
        doc["stderr"] = err[-2000:]
    doc["stdout"] = out
    return doc


WRAP = textwrap.dedent("""
    import resource, runpy, sys
    sys.argv = sys.argv[1:]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    print(f"PEAK_RSS_MB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}", file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)
""")

PREPARE = textwrap.dedent("""
    import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq, joblib, skops.io as sio
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier
    rows, folder = int(sys.argv[1]), sys.argv[2]
    X, y = make_classification(n_samples=rows + 20000, n_features=30, n_informative=12, n_redundant=6,
                               flip_y=0.03, class_sep=0.8, random_state=0)
    Xtr, ytr, Xte, yte = X[:20000], y[:20000], X[20000:], y[20000:]
    base = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(Xtr, ytr)
    # the candidate: fewer boosting rounds, a little worse
    cand = HistGradientBoostingClassifier(max_iter=30, learning_rate=0.05, random_state=1).fit(Xtr, ytr)
    for name, m in (("baseline", base), ("candidate", cand)):
        sio.dump(m, f"{folder}/{name}.skops")
        joblib.dump(m, f"{folder}/{name}.joblib")
    cols = {f"f{j:02d}": Xte[:, j] for j in range(30)}
    cols["label"] = yte
    pq.write_table(pa.table(cols), f"{folder}/test.parquet")
    trcols = {f"f{j:02d}": Xtr[:, j] for j in range(30)}
    trcols["label"] = ytr
    pq.write_table(pa.table(trcols), f"{folder}/train.parquet")
    print(f"baseline acc {base.score(Xte, yte):.4f}, candidate acc {cand.score(Xte, yte):.4f}")
""")

SUITE = """\
name: benchmark suite
data: test.parquet
target: label
task: binary
metrics: [accuracy, precision, recall, f1, roc_auc, pr_auc, log_loss, brier, ece]
gates:
  - {metric: accuracy, non_inferiority: 0.01, slices: all}
  - {metric: roc_auc, non_inferiority: 0.01}
  - {metric: log_loss, non_inferiority: 0.02}
  - {metric: f1, non_inferiority: 0.01}
  - {metric: roc_auc, min: 0.8}
  - {metric: flip_rate, max: 0.2}
slices:
  - {column: f00, bins: [-100, -1, 0, 1, 100]}
  - {name: tail, where: "f01 > 1.5"}
discover: {bins: 4, top: 10}
behaviour:
  - invariance: {column: f29, noise: 0.05, max_flip_rate: 0.05}
  - directional: {column: f00, delta: 0.1, expect: increase, max_violation_rate: 0.9}
"""

ROBUSTNESS_SUITE = """\
data: test.parquet
target: label
task: binary
metrics: [accuracy]
robustness:
  - {generator: gaussian_noise, n: 1000000, scale: 0.05, max_failure_rate: 0.2}
"""

PEER_PREPARE = textwrap.dedent("""
    import joblib, pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    train = pd.read_parquet("train.parquet")
    X, y = train.drop(columns="label").to_numpy(), train["label"].to_numpy()
    joblib.dump(HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(X, y), "peer_baseline.joblib")
    joblib.dump(HistGradientBoostingClassifier(max_iter=30, learning_rate=0.05, random_state=1).fit(X, y), "peer_candidate.joblib")
""")

DEEPCHECKS = textwrap.dedent("""
    import joblib, pandas as pd
    from deepchecks.tabular import Dataset
    from deepchecks.tabular.suites import model_evaluation
    train = pd.read_parquet("train.parquet"); test = pd.read_parquet("test.parquet")
    model = joblib.load("peer_candidate.joblib")
    tr = Dataset(train, label="label", cat_features=[]); te = Dataset(test, label="label", cat_features=[])
    result = model_evaluation().run(train_dataset=tr, test_dataset=te, model=model)
    print(len(result.results), "checks")
""")

MLFLOW = textwrap.dedent("""
    import joblib, pandas as pd, mlflow, mlflow.sklearn, tempfile, os
    mlflow.set_tracking_uri("sqlite:///" + os.path.abspath("mlflow.db"))
    test = pd.read_parquet("test.parquet")
    cand, base = joblib.load("peer_candidate.joblib"), joblib.load("peer_baseline.joblib")
    with mlflow.start_run():
        trusted = {"skops_trusted_types": ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]}
        try:
            cand_info = mlflow.sklearn.log_model(cand, name="candidate", **trusted)
            base_info = mlflow.sklearn.log_model(base, name="baseline", **trusted)
        except TypeError:  # MLflow 2.x
            cand_info = mlflow.sklearn.log_model(cand, "candidate")
            base_info = mlflow.sklearn.log_model(base, "baseline")
        kwargs = dict(data=test, targets="label", model_type="classifier", evaluators=["default"])
        try:
            from mlflow.models import MetricThreshold
            thresholds = {"accuracy_score": MetricThreshold(threshold=0.8, min_absolute_change=None,
                                                           min_relative_change=None, greater_is_better=True)}
        except ImportError:
            thresholds = None
        try:  # MLflow 2.x: baseline comparison inside evaluate
            result = mlflow.evaluate(cand_info.model_uri, baseline_model=base_info.model_uri,
                                     validation_thresholds=thresholds, **kwargs)
            how = "evaluate(baseline_model=...)"
        except TypeError:  # MLflow 3: evaluate each, then validate
            result = mlflow.evaluate(cand_info.model_uri, **kwargs)
            baseline = mlflow.evaluate(base_info.model_uri, **kwargs)
            try:
                mlflow.validate_evaluation_results(thresholds, result, baseline)
            except Exception as exc:  # a failed threshold raises: that is the verdict
                print("validation:", type(exc).__name__)
            how = "evaluate ×2 + validate_evaluation_results"
    print(how, len(result.metrics), "metrics")
""")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--peers-python", help="python of a venv with deepchecks and mlflow")
    ap.add_argument("--peer-timeout", type=float, default=1800)
    ap.add_argument("--skip", default="", help="comma-separated: deepchecks,mlflow,robustness")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="assay-bench-checks-"))
    (work / "wrap.py").write_text(WRAP)
    (work / "prepare.py").write_text(PREPARE)
    (work / "suite.yaml").write_text(SUITE)
    (work / "robustness.yaml").write_text(ROBUSTNESS_SUITE)
    (work / "deepchecks_run.py").write_text(DEEPCHECKS)
    (work / "mlflow_run.py").write_text(MLFLOW)
    (work / "peer_prepare.py").write_text(PEER_PREPARE)
    print(f"data: {args.rows} test rows × 30 features, HistGradientBoosting pair, in {work}", flush=True)
    prep = subprocess.run([sys.executable, "prepare.py", str(args.rows), "."], cwd=work, capture_output=True, text=True,
                          env={**os.environ, **THREADS})
    if prep.returncode:
        sys.exit(prep.stderr)
    print(prep.stdout.strip(), flush=True)
    assay_cli = str(VENV_BIN / "assay")
    results: dict[str, dict[str, object]] = {}
    results["assay"] = run([sys.executable, "wrap.py", assay_cli, "check", "suite.yaml", "--candidate", "candidate.skops",
                            "--baseline", "baseline.skops", "--trust", "--json", "--no-record"], cwd=work, timeout=args.peer_timeout)
    if results["assay"]["status"] == "ok":
        doc = json.loads(str(results["assay"]["stdout"]))
        results["assay"]["checks"] = len(doc["gates"]) + len(doc["metrics"]) + len(doc["slices"]) + len(doc["discovered_slices"])
        results["assay"]["timings"] = doc["timings"]
    if "robustness" not in skip:
        r = run([sys.executable, "wrap.py", assay_cli, "check", "robustness.yaml", "--candidate", "candidate.skops", "--trust", "--json",
                 "--no-record"], cwd=work, timeout=args.peer_timeout)
        if r["status"] == "ok":
            r["timings"] = json.loads(str(r["stdout"]))["timings"]
        results["assay robustness 1M"] = r
    if args.peers_python and not {"deepchecks", "mlflow"} <= skip:
        prep = subprocess.run([args.peers_python, "peer_prepare.py"], cwd=work, capture_output=True, text=True,
                              env={**os.environ, **THREADS})
        if prep.returncode:
            sys.exit(f"the peers' environment could not train the model pair:\n{prep.stderr[-2000:]}")
    for name, script in (("deepchecks", "deepchecks_run.py"), ("mlflow", "mlflow_run.py")):
        if name in skip:
            continue
        if not args.peers_python:
            results[name] = {"status": "not run: pass --peers-python"}
            continue
        r = run([args.peers_python, "wrap.py", script], cwd=work, timeout=args.peer_timeout)
        if r.get("returncode") == 1:  # only assay uses exit 1 for a verdict; for a peer it is an error
            r["status"] = "exit 1"
        results[name] = r
    print(f"\n{'tool':<24}{'status':<26}{'wall s':>10}{'peak MB':>10}{'× assay':>10}")
    base = results["assay"].get("wall_s")
    for name, r in results.items():
        wall = r.get("wall_s")
        ratio = f"{wall / base:.1f}" if isinstance(wall, float) and isinstance(base, float) and r["status"] == "ok" else "–"
        peak = r.get("peak_mb")
        print(f"{name:<24}{str(r['status'])[:25]:<26}{wall if wall is None else round(wall, 1)!s:>10}"
              f"{'–' if peak is None else round(peak)!s:>10}{ratio:>10}")
    for name, r in results.items():
        if r.get("timings"):
            print(f"{name} phases: " + ", ".join(f"{k} {v:.2f}" for k, v in r["timings"].items()))  # type: ignore[union-attr]
        if "checks" in r:
            print(f"{name}: {r['checks']} gate/metric/slice results")
        if r["status"] not in ("ok",) and r.get("stderr"):
            print(f"{name} stderr tail:\n{r['stderr']}")
        if name in ("deepchecks", "mlflow") and r["status"] == "ok":
            print(f"{name}: {str(r.get('stdout', '')).strip().splitlines()[-1:]}")


if __name__ == "__main__":
    main()
