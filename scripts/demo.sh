#!/usr/bin/env bash
# assay's main job end to end, on embedded defaults (SQLite ledger, local object store).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
BIN="$REPO/.venv/bin"
ASSAY="$BIN/assay"
DEMO="$(pwd)/.tmp/demo"
WS="$DEMO/ws"  # the workspace; the remote, the clone and the checks' workspace beside it, not inside
rm -rf "$DEMO"
mkdir -p "$WS"
cd "$WS"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "assay init"
"$ASSAY" init

step "generate a dataset: a customers table and a folder of images"
"$BIN/python" - <<'PY'
import os, random
random.seed(0)
os.makedirs("data/images", exist_ok=True)
with open("data/customers.csv", "w") as fh:
    fh.write("customer_id,age,country,spend\n")
    for i in range(50_000):
        fh.write(f"{i},{random.randint(18, 90)},{random.choice(['DE', 'FR', 'US', 'JP'])},{random.gauss(100, 30):.2f}\n")
for i in range(200):
    with open(f"data/images/img_{i:03d}.bin", "wb") as fh:
        fh.write(random.randbytes(16_384))
PY

step "assay data add data --name customers"
"$ASSAY" data add data --name customers -m "initial export"

step "change it: 15,000 new customers who spend more, one image replaced, one removed"
"$BIN/python" - <<'PY'
import os, random
random.seed(1)
with open("data/customers.csv", "a") as fh:
    for i in range(50_000, 65_000):
        fh.write(f"{i},{random.randint(18, 90)},{random.choice(['DE', 'FR', 'US', 'JP', 'BR'])},{random.gauss(140, 30):.2f}\n")
with open("data/images/img_007.bin", "wb") as fh:
    fh.write(random.randbytes(16_384))
os.remove("data/images/img_199.bin")
PY

step "assay data status"
"$ASSAY" data status customers || true

step "assay data add (v2)"
"$ASSAY" data add data --name customers -m "weekly refresh"

step "assay data log customers"
"$ASSAY" data log customers

step "assay data diff customers@v1 customers@v2 --key customer_id"
"$ASSAY" data diff customers@v1 customers@v2 --key customer_id

step "a run that turns the data into features, with lineage"
"$ASSAY" run --in customers@v2 --out features=features -- "$BIN/python" -c "
import csv, os, collections
os.makedirs('features', exist_ok=True)
spend = collections.defaultdict(float)
for row in csv.DictReader(open('data/customers.csv')):
    spend[row['country']] += float(row['spend'])
open('features/spend_by_country.csv', 'w').write('country,spend\n' + ''.join(f'{k},{v:.2f}\n' for k, v in sorted(spend.items())))
"
"$ASSAY" lineage features@v1

step "assay data checkout customers@v1 (back to the old version)"
"$ASSAY" data checkout customers@v1
"$BIN/python" -c "print('rows in data/customers.csv:', sum(1 for _ in open('data/customers.csv')) - 1)"

step "push to a folder remote and pull into a second workspace"
"$ASSAY" remote add backup "$DEMO/remote"
"$ASSAY" data push
mkdir -p "$DEMO/clone" && cd "$DEMO/clone" && "$ASSAY" init >/dev/null
"$ASSAY" remote add backup "$DEMO/remote" >/dev/null
"$ASSAY" data pull customers@v2 --checkout
cd "$WS"

step "assay data verify --all"
"$ASSAY" data verify --all

step "a flipped bit on disk: verify names it, pull --repair mends it from the remote"
"$BIN/python" - <<'PY'
import pathlib
pack = max(pathlib.Path(".assay/objects/packs").glob("*.pack"), key=lambda p: p.stat().st_size)
data = bytearray(pack.read_bytes())
data[len(data) // 2] ^= 0x04
pack.write_bytes(bytes(data))
print(f"flipped one bit in the middle of {pack.name}")
PY
set +e
"$ASSAY" data verify --all
code=$?
set -e
[ "$code" = 1 ] || { echo "verify should have found the damage (exit $code)"; exit 1; }
"$ASSAY" data pull --repair

step "drift: has the refreshed export moved away from the first one?"
"$ASSAY" data checkout customers@v1 --to "$DEMO/v1" >/dev/null
"$ASSAY" data checkout customers@v2 --to "$DEMO/v2" >/dev/null
set +e
"$ASSAY" drift "$DEMO/v1/data/customers.csv" "$DEMO/v2/data/customers.csv" --columns age,country,spend --report "$DEMO/drift.html"
code=$?
set -e
case $code in
  0) echo "no drift by the rule (exit 0)";;
  1) echo "drift found (exit 1); report: $DEMO/drift.html";;
  *) echo "assay drift failed with exit $code"; exit $code;;
esac

bash "$REPO/scripts/demo_checks.sh" "$DEMO/checks" "$BIN"
bash "$REPO/scripts/demo_serve.sh" "$WS" "$BIN"

printf '\n\033[1mdemo done.\033[0m workspace: %s\n' "$WS"
