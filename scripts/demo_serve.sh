#!/usr/bin/env bash
# Demo step for `assay serve`: start the service on a free loopback port, create a monitor on a
# dataset version, stream a drifting dataset into it, print the dashboard address and the alerts
# raised (and delivered to a local webhook), then stop the service.
#   usage: scripts/demo_serve.sh DEMO_WORKSPACE_DIR VENV_BIN_DIR
set -euo pipefail
DEMO="$(cd "${1:?demo workspace dir}" && pwd)"
BIN="$(cd "${2:?venv bin dir}" && pwd)"
ASSAY="$BIN/assay"
PY="$BIN/python"
cd "$DEMO"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
SERVE_PID=""
HOOK_PID=""
cleanup() {
  [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null || true
  [ -n "$HOOK_PID" ] && kill "$HOOK_PID" 2>/dev/null && wait "$HOOK_PID" 2>/dev/null || true
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

step "serve: a reference dataset of payments (what the model was trained on)"
rm -rf serve && mkdir -p serve/reference
"$PY" - <<'PY'
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
rng = np.random.default_rng(7)
n = 20_000
pq.write_table(pa.table({
    "amount": rng.lognormal(3.5, 0.6, n),
    "age": rng.normal(41, 12, n).round(),
    "channel": rng.choice(["web", "app", "store"], n, p=[0.5, 0.3, 0.2]),
    "country": rng.choice(["DE", "FR", "US", "JP"], n, p=[0.4, 0.3, 0.2, 0.1]),
}), "serve/reference/payments.parquet")
PY
"$ASSAY" data add serve/reference --name payments -m "training window" >/dev/null
echo "payments@v1 added"

step "serve: a local webhook receiver and a monitor (window 2000rows, rules drift and share>=0.5)"
HOOK_PORT=$(free_port)
"$PY" - "$HOOK_PORT" > serve/webhook.log 2>&1 <<'PY' &
import http.server, json, sys
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        print(f"webhook received: window {body['window']} [{body['rule']}] {body['message']}", flush=True)
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
PY
HOOK_PID=$!
"$ASSAY" monitor create payments --reference payments@v1 --window 2000rows --rule drift --rule 'share>=0.5' \
  --webhook "http://127.0.0.1:$HOOK_PORT/hook"
INGEST=$("$ASSAY" token create --scope ingest --name demo-producer --json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["token"])')
READ=$("$ASSAY" token create --scope read --name demo-dashboard --json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["token"])')

step "serve: assay serve on a free loopback port"
PORT=$(free_port)
"$ASSAY" serve --port "$PORT" --json > serve/serve.json 2> serve/serve.log &
SERVE_PID=$!
for _ in $(seq 1 100); do [ -s serve/serve.json ] && break; sleep 0.1; done
URL=$("$PY" -c 'import json; print(json.load(open("serve/serve.json"))["url"])')
echo "service at $URL"

step "serve: stream 20,000 events; from the 6th window on, amounts grow and the app takes over"
"$PY" - "$URL" "$INGEST" <<'PY'
import sys, numpy as np
from assay.monitor import Client
url, token = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(11)
with Client(url, token, monitor="payments", batch_size=500, flush_interval=0.2) as client:
    for window in range(10):
        drift = max(0, window - 4) / 5  # 0 for windows 0-4, then rising
        n = 2000
        amount = rng.lognormal(3.5 + 0.5 * drift, 0.6, n)
        age = rng.normal(41, 12, n).round()
        p_app = 0.3 + 0.5 * drift
        channel = rng.choice(["web", "app", "store"], n, p=[(1 - p_app) * 0.7, p_app, (1 - p_app) * 0.3])
        country = rng.choice(["DE", "FR", "US", "JP"], n, p=[0.4, 0.3, 0.2, 0.1])
        client.log([{"amount": float(a), "age": float(b), "channel": str(c), "country": str(d), "event_id": f"w{window}-{i}"}
                    for i, (a, b, c, d) in enumerate(zip(amount, age, channel, country))])
print(f"sent {client.sent_rows} events")
PY
for _ in $(seq 1 150); do
  closed=$("$ASSAY" monitor list --json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["monitors"][0]["windows_closed"])')
  [ "$closed" -ge 10 ] && break
  sleep 0.2
done
for _ in $(seq 1 50); do
  n=$(grep -c "webhook received" serve/webhook.log || true)
  [ "$n" -gt 0 ] && "$PY" - <<'PY' && break
import sys
from assay.workspace import Workspace
ws = Workspace.open()
left = ws.ledger.query("SELECT COUNT(*) FROM webhook_deliveries WHERE state != 'delivered'")[0][0]
sys.exit(1 if left else 0)
PY
  sleep 0.2
done

step "serve: windows and alerts (assay monitor show payments)"
"$ASSAY" monitor show payments || true
echo
cat serve/webhook.log

step "serve: stopping the service"
kill "$SERVE_PID" && wait "$SERVE_PID" 2>/dev/null || true
SERVE_PID=""
echo "stopped"

step "serve: the dashboard, after the demo"
echo "start the service again:  cd $DEMO && $ASSAY serve"
echo "then open http://127.0.0.1:8765/monitors/payments and log in with this read token (or add a user: assay user add NAME):"
echo "read token: $READ"
