"""The environment a run records is the one its code ran in: a command that starts a Python
interpreter other than assay's own is recorded with that interpreter's version and package set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import assay
from assay.lineage import run_command
from assay.workspace import Workspace


def recorded(ws: Workspace, run_id: str) -> dict:
    return json.loads(ws.ledger.query("SELECT env FROM runs WHERE id = ?", (run_id,))[0][0])


def test_a_command_run_by_another_python_records_that_python(ws: Workspace, tmp_path: Path) -> None:
    venv = tmp_path.parent / f"{tmp_path.name}-venv"  # (outside the workspace: not data)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    other = str(venv / "bin" / "python")
    run = run_command(ws, [other, "-c", "print('trained')"])
    env = recorded(ws, run.id)
    assert env["python_executable"] == other
    assert env["packages"] == 0  # a bare venv: none of assay's own packages
    # assay's own Python, where the command is not a Python interpreter (or is assay's own)
    ours = recorded(ws, run_command(ws, ["true"]).id)
    assert ours["python_executable"] == sys.executable and ours["packages"] > 0
    assert recorded(ws, run_command(ws, [sys.executable, "-c", "pass"]).id)["packages_hash"] == ours["packages_hash"]
    with assay.track(ws) as tracked:
        pass
    assert recorded(ws, tracked.id)["packages_hash"] == ours["packages_hash"]
    for key in ("python", "implementation", "platform", "hostname"):
        assert env[key] and ours[key]


def test_a_python_that_cannot_say_what_it_is_records_no_version(ws: Workspace, tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "python3"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    env = recorded(ws, run_command(ws, [str(fake), "train.py"]).id)
    # not assay's own Python's version put in its place
    assert env["python_executable"] == str(fake) and "python" not in env and "packages_hash" not in env
    fake.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 'Python 2.7.18' >&2\nexit 0\n")
    env = recorded(ws, run_command(ws, [str(fake), "train.py"]).id)
    assert env["python"] == "2.7.18" and "packages_hash" not in env  # as old a Python says its version
