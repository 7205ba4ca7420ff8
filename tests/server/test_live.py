"""A real `assay serve` process: the CLI around it, the Python client, and SIGKILL during ingestion."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from tests.server.serve_helpers import LiveServer, free_port, make_rows

from assay.errors import InputError
from assay.monitor import BufferFull, Client, get_monitor, list_alerts, list_windows
from assay.workspace import Workspace


def _token(cli: Any, scope: str) -> str:
    return cli.json("token", "create", "--scope", scope, "--name", f"test {scope}")["token"]


def test_cli_commands(cli: Any, ref_ws: Workspace) -> None:
    made = cli.json("token", "create", "--scope", "ingest", "--scope", "read")
    assert made["token"].startswith("assay_") and made["scopes"] == ["ingest", "read"]
    listed = cli.json("token", "list")["tokens"]
    assert listed[0]["id"] == made["id"] and "token" not in listed[0]
    cli("token", "revoke", made["id"])
    assert cli.json("token", "list")["tokens"][0]["revoked_at"]
    assert cli("token", "create", "--scope", "root", check=2).returncode == 2
    doc = cli.json("monitor", "create", "m", "--reference", "ref@v1", "--columns", "age,country", "--window", "15m", "--rule", "drift",
                   "--rule", "share>=0.5", "--webhook", "http://127.0.0.1:9/hook")  # fmt: skip
    assert doc["columns"] == ["age", "country"] and doc["window"]["text"] == "15m" and doc["rules"] == ["drift", "share>=0.5"]
    assert cli.json("monitor", "list")["monitors"][0]["name"] == "m"
    assert cli.json("monitor", "show", "m")["windows"] == []
    assert cli.json("monitor", "create", "m", "--reference", "ref@v1", check=2)["error"] == "UsageError"
    assert cli.json("monitor", "create", "x", "--reference", "ref@v1", "--window", "soon", check=2)["error"] == "UsageError"
    assert cli.json("monitor", "show", "nope", check=2)["error"] == "NotFoundError"
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "assay", "user", "add", "alice", "--password-stdin", "--json"], cwd=cli.cwd, input="correct horse\n",
                          capture_output=True, text=True, env={**os.environ, "ASSAY_PROGRESS": "0"}, check=True)  # fmt: skip
    assert json.loads(proc.stdout) == {"user": "alice"}
    assert cli.json("user", "list")["users"][0]["name"] == "alice"
    for command in ("serve", "monitor", "token", "user"):
        assert cli(command, "--help").stdout.strip()


def test_serve_and_the_python_client(cli: Any, ref_ws: Workspace, live: LiveServer) -> None:
    cli("monitor", "create", "m", "--reference", "ref@v1", "--window", "1000rows")
    token = _token(cli, "ingest")
    live.start()
    assert httpx.get(f"{live.url}/api/v1/health").json() == {"ok": True}
    with Client(f"{live.url}/monitors/m", token, batch_size=300, flush_interval=0.2) as client:
        for row in make_rows(2500, seed=1, shift=10):
            client.log(row)
    assert client.sent_rows == 2500 and client.last_error is None
    labelled = Client(live.url, token, monitor="m")
    assert labelled.send_labels({"e1": "churned", "e2": 0}) == 2 and labelled.send_labels([("e1", "stayed")]) == 1
    assert ref_ws.ledger.query("SELECT event_id, label FROM monitor_labels ORDER BY event_id") == [("e1", '"stayed"'), ("e2", "0")]
    with pytest.raises(InputError, match="HTTP 422"):
        labelled.send_labels({"e3": None})
    labelled.close()
    deadline = time.monotonic() + 20
    while len(list_windows(ref_ws, get_monitor(ref_ws, "m"))) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert get_monitor(ref_ws, "m").events == 2500
    assert len(list_alerts(ref_ws)) == 2
    shown = cli("monitor", "show", "m", "--json", check=1)  # the last window drifted: exit 1
    assert json.loads(shown.stdout)["windows"][-1]["drift"]
    second = LiveServer(ref_ws.root, free_port())  # (live.port + 1 was once in use by another test process)
    with pytest.raises(AssertionError, match="another `assay serve`"):
        second.start()


def test_sigterm_stops_the_service_cleanly(cli: Any, ref_ws: Workspace, live: LiveServer) -> None:
    """A stopped service ends by the signal, having released what its window process shared with it."""
    import signal

    cli("monitor", "create", "m", "--reference", "ref@v1", "--window", "1000rows")
    live.start()
    assert live.stop() == -signal.SIGTERM
    assert live.proc is not None and live.proc.stderr is not None
    err = live.proc.stderr.read()
    assert "leaked" not in err and "Traceback" not in err, err


@pytest.mark.parametrize("signame", ["SIGHUP", "SIGTERM"])
def test_a_signal_to_the_whole_process_group_stops_the_service_cleanly(cli: Any, ref_ws: Workspace, signame: str) -> None:
    """SIGHUP: a closed terminal hangs up its whole process group; the service ended at once ('leaked semaphore
    objects' on stderr, nothing shut down), and its window process with it. SIGTERM: systemd
    (KillMode=control-group) signals the service and its window process at once; it must not restart the latter."""
    import os
    import signal
    import subprocess
    import sys

    cli("monitor", "create", "m", "--reference", "ref@v1", "--window", "1000rows")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "assay", "serve", "--port", str(port), "--json"], cwd=ref_ws.root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env={**os.environ, "ASSAY_PROGRESS": "0"})  # fmt: skip
    try:
        assert proc.stdout is not None and json.loads(proc.stdout.readline())["url"].endswith(f":{port}")
        time.sleep(1.5)  # the service's watchdog looks at its window process every second
        os.killpg(proc.pid, getattr(signal, signame))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -getattr(signal, signame)
    assert "leaked" not in err and "died" not in err and "Traceback" not in err, err


def test_a_second_service_or_a_busy_port_is_a_plain_error(cli: Any, ref_ws: Workspace, live: LiveServer, tmp_path: Any) -> None:
    """Exit 2 with what is in the way, not uvicorn's startup traceback and exit 3."""
    live.start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        other = s.getsockname()[1]
    second = cli("serve", "--port", str(other), check=2, timeout=120)
    assert "another `assay serve` is running on this workspace" in second.stderr and "Traceback" not in second.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cli("init", cwd=elsewhere)
    busy = cli("serve", "--port", str(live.port), "--json", check=2, cwd=elsewhere, timeout=120)
    assert json.loads(busy.stdout)["message"] == f"port {live.port} on 127.0.0.1 is in use" and "Traceback" not in busy.stderr


def test_client_needs_a_monitor() -> None:
    with pytest.raises(InputError, match="no monitor"):
        Client("http://127.0.0.1:9", "t")
    assert Client("http://127.0.0.1:9/api/v1/monitors/x", "t").monitor == "x"


def test_client_buffer_is_bounded_when_the_service_is_down(ref_ws: Workspace) -> None:
    client = Client("http://127.0.0.1:9", "assay_x_y", monitor="m", max_buffer=10, flush_interval=60, batch_size=1000)
    client.log(make_rows(10, seed=0))
    with pytest.raises(BufferFull):
        client.log(make_rows(1, seed=1), block=False)
    client._closed = True  # nothing will ever be acknowledged; do not wait on close


def test_sigkill_during_ingestion_loses_nothing_and_duplicates_nothing(cli: Any, ref_ws: Workspace, live: LiveServer) -> None:
    """Producers retry unacknowledged batches with the same id across a SIGKILL and a restart."""
    _sigkill_scenario(cli, ref_ws, live)


@pytest.mark.postgres
def test_sigkill_on_postgres(cli: Any, tmp_path: Any, pg_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.server.serve_helpers import add_reference, free_port

    root = tmp_path / "pg"
    monkeypatch.chdir(tmp_path)
    ws = Workspace.init(root, ledger=pg_database)
    add_reference(ws)
    cli.cwd = root
    server = LiveServer(root, free_port())
    try:
        _sigkill_scenario(cli, ws, server)
    finally:
        server.stop()
        ws.close()


def _sigkill_scenario(cli: Any, ref_ws: Workspace, live: LiveServer) -> None:
    cli("monitor", "create", "m", "--reference", "ref@v1", "--window", "2000rows", "--rule", "drift")
    token = _token(cli, "ingest")
    live.start()
    producers, batches_each, rows_each = 3, 30, 200
    acked: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    def produce(p: int) -> None:
        with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
            for k in range(batches_each):
                batch_id = f"p{p}-b{k}"
                rows = [{**r, "event_id": f"{batch_id}-{i}"} for i, r in enumerate(make_rows(rows_each, seed=p * 1000 + k, shift=10 if k >= 15 else 0))]
                while True:  # retry the same batch id until acknowledged
                    try:
                        response = http.post("/api/v1/monitors/m/events", json={"rows": rows, "batch_id": batch_id})
                    except httpx.HTTPError:
                        time.sleep(0.05)
                        continue
                    if response.status_code in (200, 201):
                        with lock:
                            acked[batch_id] = response.json()
                        break
                    assert response.status_code == 503, response.text
                    time.sleep(0.05)

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 20:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    live.kill()  # SIGKILL in the middle of the stream
    acked_before = dict(acked)
    time.sleep(0.5)
    live.start()
    for t in threads:
        t.join(timeout=120)
    assert len(acked) == producers * batches_each
    deadline = time.monotonic() + 60
    while len(list_windows(ref_ws, get_monitor(ref_ws, "m"))) < producers * batches_each * rows_each // 2000:
        assert time.monotonic() < deadline, "windows did not resume after the restart"
        time.sleep(0.1)
    live.stop()

    ws = Workspace.open(ref_ws.root)
    monitor = get_monitor(ws, "m")
    stored = {r[0]: (int(r[1]), int(r[2])) for r in ws.ledger.query("SELECT batch_id, seq, n_rows FROM monitor_batches")}
    assert set(stored) == set(acked)
    for batch_id, ack in acked_before.items():  # acknowledged before the kill: kept, with the same place in the stream
        assert stored[batch_id][0] == ack["seq"]
    assert monitor.events == producers * batches_each * rows_each
    from assay.monitor._windows import read_any

    ids: list[str] = []
    for seq, segment, offset, length, archive in ws.ledger.query("SELECT seq, segment, seg_offset, seg_length, archive FROM monitor_batches ORDER BY seq"):
        ids.extend(read_any(ws, segment, offset, length, archive, int(seq)).column("event_id").to_pylist())
    assert len(ids) == len(set(ids)) == producers * batches_each * rows_each
    windows = list_windows(ws, monitor)
    assert [w["window"] for w in windows] == list(range(len(windows)))
    assert len(windows) == monitor.events // 2000  # every full window closed, across the restart
    assert all(w["rows"] == 2000 for w in windows)
    keys = [(a["window"], a["rule"]) for a in list_alerts(ws)]
    assert len(keys) == len(set(keys)) and keys


def test_delete_monitors_while_serving(cli: Any, ref_ws: Workspace, live: LiveServer) -> None:
    """`assay monitor delete` from another process and DELETE over the API, with events flowing to the server."""
    cli("monitor", "create", "gone", "--reference", "ref@v1", "--window", "500rows")
    cli("monitor", "create", "api-gone", "--reference", "ref@v1", "--window", "500rows")
    cli("monitor", "create", "stays", "--reference", "ref@v1", "--window", "500rows")
    ingest, admin = _token(cli, "ingest"), _token(cli, "admin")
    live.start()
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {ingest}"}, timeout=30) as http:
        for name in ("gone", "api-gone", "stays"):
            assert http.post(f"/api/v1/monitors/{name}/events", json={"rows": make_rows(700, seed=1)}).status_code == 201
        deadline = time.monotonic() + 30
        while len(list_windows(ref_ws, get_monitor(ref_ws, "gone"))) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        done = cli.json("monitor", "delete", "gone", "--yes")
        assert done["deleted"] and done["events"] == 700
        refused = http.post("/api/v1/monitors/gone/events", json={"rows": make_rows(10, seed=2)})
        assert refused.status_code == 404 and "no monitor named 'gone'" in refused.json()["message"]
        removed = http.delete("/api/v1/monitors/api-gone", headers={"Authorization": f"Bearer {admin}"})
        assert removed.status_code == 200 and removed.json()["events"] == 700
        assert http.post("/api/v1/monitors/api-gone/events", json={"rows": make_rows(10, seed=2)}).status_code == 404
        # the service goes on: the remaining monitor's windows keep closing
        assert http.post("/api/v1/monitors/stays/events", json={"rows": make_rows(900, seed=3)}).status_code == 201
        deadline = time.monotonic() + 30
        while len(list_windows(ref_ws, get_monitor(ref_ws, "stays"))) < 3:
            assert time.monotonic() < deadline, "windows stopped closing after the deletes"
            time.sleep(0.05)
        # a monitor created again under a deleted name takes events at once
        cli("monitor", "create", "gone", "--reference", "ref@v1", "--window", "500rows")
        again = http.post("/api/v1/monitors/gone/events", json={"rows": make_rows(10, seed=4)})
        assert again.status_code == 201 and again.json()["first_event"] == 0
    live.stop()
    assert live.proc is not None and live.proc.stderr is not None
    log = live.proc.stderr.read()
    assert "Traceback" not in log and "failed" not in log, log
    assert [m.name for m in __import__("assay.monitor", fromlist=["list_monitors"]).list_monitors(ref_ws)] == ["gone", "stays"]


def test_ctrl_c_stops_the_service_with_one_json_document(ref_ws: Workspace) -> None:
    """Ctrl-C at a terminal (SIGINT to the group): exit 130, and stdout keeps its one document."""
    import os
    import signal
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "assay", "serve", "--port", str(port), "--json"], cwd=ref_ws.root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,  # (SIGINT not ignored, as a terminal's job)
                            env={**os.environ, "ASSAY_PROGRESS": "0"}, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        assert proc.stdout is not None and json.loads(proc.stdout.readline())["url"].endswith(f":{port}")
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert out == "" and "Traceback" not in err and err.rstrip().endswith("assay serve: stopped"), (out, err)
