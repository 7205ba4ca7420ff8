#!/usr/bin/env bash
# The checks step of `make demo`: a baseline and a slightly worse candidate trained on
# scikit-learn's bundled digits data by recorded runs that register them, one suite, the
# failing gate and the report, the lineage from the training data to the check, and a
# teammate's clone that pulls the candidate and sees its training run and its check.
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

step "split scikit-learn's bundled digits data; version the training and test sets"
"$BIN/python" - <<'PY'
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from sklearn.datasets import load_digits

X, y = load_digits(return_X_y=True)
order = np.random.default_rng(0).permutation(len(y))
for name, rows in (("digits-train.parquet", order[:900]), ("digits-test.parquet", order[900:])):
    cols = {f"px{j:02d}": X[rows, j] for j in range(X.shape[1])}
    cols["digit"] = y[rows]
    pq.write_table(pa.table(cols), name)
PY
"$ASSAY" data add digits-train.parquet --name digits-train -m "training rows"
"$ASSAY" data add digits-test.parquet --name digits-test -m "held-out digits"
cat > train.py <<'PY'
import sys
import pyarrow.parquet as pq, skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

frame = pq.read_table("digits-train.parquet").to_pandas()
model = make_pipeline(StandardScaler(), LogisticRegression(C=float(sys.argv[1]), max_iter=2000))
model.fit(frame.drop(columns="digit"), frame["digit"])
sio.dump(model, "model.skops")
print(f"trained with C={sys.argv[1]}")
PY

step "train a baseline and a slightly worse candidate, each a recorded run that registers model digits"
"$ASSAY" run --in digits-train@v1 --model digits=model.skops -- "$BIN/python" train.py 1.0
# the candidate was "simplified": trained with stronger regularisation
"$ASSAY" run --in digits-train@v1 --model digits=model.skops -- "$BIN/python" train.py 0.002

step "assay lineage digits@v2 --up (what did the candidate learn from?)"
"$ASSAY" lineage digits@v2 --up

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

step "assay lineage digits-train@v1 --down (the runs, the models and the checks built on it)"
"$ASSAY" lineage digits-train@v1 --down

step "a teammate's clone: push, pull the candidate, and see its training run and its failed check"
"$ASSAY" remote add team "$WS/team-remote" --default >/dev/null
"$ASSAY" data push
rm -rf "$WS-clone"  # beside the workspace, not inside it
"$ASSAY" init "$WS-clone" >/dev/null
(cd "$WS-clone" && "$ASSAY" remote add team "$WS/team-remote" >/dev/null && "$ASSAY" data pull digits@v2 \
  && "$ASSAY" check log && "$ASSAY" lineage digits@v2)
