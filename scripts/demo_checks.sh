#!/usr/bin/env bash
# The checks step of `make demo`: a baseline and a slightly worse candidate on scikit-learn's
# bundled digits data, both registered, one suite, the failing gate and the report.
# Usage: scripts/demo_checks.sh WORKSPACE_DIR VENV_BIN_DIR
set -euo pipefail
WS="$1"
BIN="$2"
ASSAY="$BIN/assay"
mkdir -p "$WS"
cd "$WS"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "assay init (idempotent)"
"$ASSAY" init >/dev/null

step "train a baseline and a slightly worse candidate on the digits data (scikit-learn, bundled)"
"$BIN/python" - <<'PY'
import numpy as np, pyarrow as pa, pyarrow.parquet as pq, skops.io as sio
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_digits(return_X_y=True)
order = np.random.default_rng(0).permutation(len(y))
train, test = order[:900], order[900:]
baseline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X[train], y[train])
# the candidate was "simplified": trained with stronger regularisation
candidate = make_pipeline(StandardScaler(), LogisticRegression(C=0.002, max_iter=2000)).fit(X[train], y[train])
sio.dump(baseline, "baseline.skops")
sio.dump(candidate, "candidate.skops")
cols = {f"px{j:02d}": X[test, j] for j in range(X.shape[1])}
cols["digit"] = y[test]
pq.write_table(pa.table(cols), "digits-test.parquet")
print(f"accuracy on the {len(test)} test rows: baseline {baseline.score(X[test], y[test]):.3f}, "
      f"candidate {candidate.score(X[test], y[test]):.3f}")
PY

step "assay model add digits baseline.skops; assay model add digits candidate.skops"
"$ASSAY" model add digits baseline.skops -m "baseline"
"$ASSAY" model add digits candidate.skops -m "candidate: stronger regularisation"
"$ASSAY" data add digits-test.parquet --name digits-test -m "held-out digits"

cat > digits-suite.yaml <<'YAML'
name: digits regression gate
data: digits-test@latest
target: digit
task: multiclass
metrics: [accuracy, f1, log_loss, ece]
gates:
  - metric: accuracy
    non_inferiority: 0.01     # the candidate may trail the baseline by at most 1 point, at 95%
  - metric: log_loss
    non_inferiority: 0.05
slices:
  - column: px36              # the centre of the image: blank, faint, dark
    bins: [0, 1, 8, 16]
discover: {bins: 3, top: 5}
YAML

step "assay check digits-suite.yaml --candidate digits@v2 --baseline digits@v1"
set +e
"$ASSAY" check digits-suite.yaml --candidate digits@v2 --baseline digits@v1 \
  --report check-report.html --junit check-junit.xml
rc=$?
set -e
echo "assay check exited $rc (1: a gate failed, as this demo intends)"
if [ "$rc" -ne 1 ]; then
  echo "expected exit code 1" >&2
  exit 1
fi
echo "HTML report: $WS/check-report.html"
echo "JUnit XML:   $WS/check-junit.xml"

step "assay check log"
"$ASSAY" check log
