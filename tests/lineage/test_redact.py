"""Secrets given on a command line or as parameters are not kept in run records, which
travel with a push to every workspace that pulls the outputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import assay
from assay.data import add_remote, push
from assay.lineage import run_command
from assay.lineage._redact import REDACTED, redact_command, redact_params, secret_name
from assay.workspace import Workspace


def test_secret_names_and_look_alikes() -> None:
    for name in ("--password", "--api-key", "--hf-token", "-apikey", "AWS_SECRET_ACCESS_KEY", "db.password",
                 "--client-secret", "GITHUB_TOKEN", "private_key", "--auth", "wandb_api_key", "--passphrase"):
        assert secret_name(name), name
    for name in ("--tokenizer", "--key", "--max-tokens", "--token-file", "--password-length", "--no-auth",
                 "--keyword", "--secretary", "--lr", "--auth-url", "monkey", "--access-key-id", "-p"):
        assert not secret_name(name), name


def test_a_command_line_keeps_everything_but_the_secret_values() -> None:
    command = ["python", "train.py", "--api-key", "sk-123", "--password=hunter2", "--tokenizer", "bert",
               "--key", "customer_id", "HF_TOKEN=hf_abc", "DB=postgresql://me:pw@db:5432/x", "--lr", "0.1",
               "--hf-token", "--verbose", "s3://AKIA:sekret@host/bucket", "--token-file", "t.txt", "--",
               "--secret", "s"]
    assert redact_command(command) == [
        "python", "train.py", "--api-key", REDACTED, f"--password={REDACTED}", "--tokenizer", "bert",
        "--key", "customer_id", f"HF_TOKEN={REDACTED}", f"DB=postgresql://me:{REDACTED}@db:5432/x", "--lr", "0.1",
        "--hf-token", "--verbose", f"s3://AKIA:{REDACTED}@host/bucket", "--token-file", "t.txt", "--",
        "--secret", REDACTED]
    assert redact_command(["ls", "-la", "http://host/path@x"]) == ["ls", "-la", "http://host/path@x"]


def test_parameters_at_any_depth() -> None:
    params = {"lr": 0.1, "db": {"password": "x", "url": "postgresql://u:pw@h/db", "port": 5432},
              "tokenizer": "bert", "api_key": None, "layers": [{"token": "t"}, 3], "n": (1, 2)}
    assert redact_params(params) == {"lr": 0.1, "db": {"password": REDACTED, "url": f"postgresql://u:{REDACTED}@h/db",
                                                      "port": 5432},
                                     "tokenizer": "bert", "api_key": None, "layers": [{"token": REDACTED}, 3],
                                     "n": [1, 2]}


def test_a_run_record_and_its_pushed_copy_hold_no_secret(ws: Workspace, tmp_path: Path) -> None:
    script = "import pathlib, sys; pathlib.Path('out').mkdir(exist_ok=True); pathlib.Path('out/k').write_text(sys.argv[2])"
    run = run_command(ws, [sys.executable, "-c", script, "--api-key", "sk-live-123"], outputs={"o": "out"},
                      cwd=ws.root)
    assert (ws.root / "out" / "k").read_text() == "sk-live-123"  # the command itself got the real value
    with assay.track(ws, params={"lr": 0.1, "wandb_api_key": "wb-456"}) as tracked:
        (ws.root / "m").mkdir()
        (ws.root / "m" / "w").write_text("weights")
        tracked.output("m", ws.root / "m")
    rows = {r[0]: (json.loads(r[1]), json.loads(r[2])) for r in ws.ledger.query("SELECT id, command, params FROM runs")}
    assert rows[run.id][0][-2:] == ["--api-key", REDACTED]
    assert rows[tracked.id][1] == {"lr": 0.1, "wandb_api_key": REDACTED}
    add_remote(ws, "origin", str(tmp_path / "remote"))
    push(ws)
    sent = "".join(p.read_text() for p in (tmp_path / "remote" / "runs").glob("*.json"))
    assert "sk-live-123" not in sent and "wb-456" not in sent and REDACTED in sent
    ledger_bytes = b"".join(p.read_bytes() for p in ws.dir.glob("ledger.db*"))
    assert b"sk-live-123" not in ledger_bytes and b"wb-456" not in ledger_bytes
