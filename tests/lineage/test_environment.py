"""The environment a run records is the one its code ran in: a command that starts a Python
interpreter other than assay's own is recorded with that interpreter's version and package set;
the code is dirty for changes to code, not to the workspace's data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import assay
from assay.errors import UsageError
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


def _git(ws: Workspace, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=ws.root, check=True,
                   capture_output=True, timeout=60)


def test_data_in_the_repository_does_not_make_the_code_dirty(ws: Workspace) -> None:
    from assay.data import add

    _git(ws, "init", "-q", ".")
    (ws.root / "make.py").write_text("print('made')\n")  # (.assay/, its config not committed yet, is no code)
    _git(ws, "add", "make.py")
    _git(ws, "commit", "-q", "-m", "code")
    (ws.root / "raw").mkdir()
    (ws.root / "raw" / "r.csv").write_text("a\n1\n")
    add(ws, ["raw"], name="raw")
    script = "import os; os.makedirs('feat', exist_ok=True); open('feat/f', 'w').write('1')"
    first = run_command(ws, ["sh", "-c", "mkdir -p feat && echo 1 > feat/f"], inputs=["raw@v1"], outputs={"feat": "feat"})
    env = recorded(ws, first.id)
    assert len(env["git_commit"]) == 40 and env["git_dirty"] is False  # raw/ is data, not code
    again = run_command(ws, ["sh", "-c", "echo 2 > feat/f"], inputs=["raw@v1"], outputs={"feat": "feat"})
    assert recorded(ws, again.id)["git_dirty"] is False  # nor is feat/, the output of a run
    (ws.root / "make.py").write_text("print('changed')\n")
    assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is True
    _git(ws, "checkout", "-q", "make.py")
    (ws.root / "new_step.py").write_text(script)  # code not in the commit
    assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is True
    # a model written outside the workspace is no reason to refuse the run
    outside = ws.root.parent / f"{ws.root.name}-m.skops"
    with pytest.raises(UsageError, match="is not a file"):
        run_command(ws, ["true"], models={"m": str(outside)})


def test_code_outside_a_workspace_in_a_subfolder_of_the_repository_counts(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # A repository with its code in src/ and the workspace in ml/: a change to src/ is a change
    # to the code the run ran (git status was asked of the workspace's folder alone).
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "ml").mkdir()
    (repo / "src" / "model.py").write_text("x = 1\n")
    (repo / ".gitignore").write_text(".assay/\n")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", "."], cwd=repo, check=True, timeout=60)
    subprocess.run([*git, "add", "."], cwd=repo, check=True, timeout=60)
    subprocess.run([*git, "commit", "-q", "-m", "code"], cwd=repo, check=True, timeout=60)
    monkeypatch.chdir(repo / "ml")
    monkeypatch.delenv("ASSAY_HOME", raising=False)
    ws = Workspace.init(repo / "ml")
    try:
        from assay.data import add

        (repo / "ml" / "raw").mkdir()
        (repo / "ml" / "raw" / "r.csv").write_text("a\n1\n")
        add(ws, ["raw"], name="raw")
        assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is False  # ml/raw is data
        (repo / "src" / "model.py").write_text("x = 2\n")
        assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is True
    finally:
        ws.close()


def test_code_is_not_called_clean_when_git_status_fails(ws: Workspace) -> None:
    # git answers nothing on stdout when it fails (here a corrupt index): that is not "no changes".
    _git(ws, "init", "-q", ".")
    (ws.root / "make.py").write_text("print('made')\n")
    _git(ws, "add", "make.py")
    _git(ws, "commit", "-q", "-m", "code")
    (ws.root / ".git" / "index").write_bytes(b"not an index")
    env = recorded(ws, run_command(ws, ["true"]).id)
    assert len(env["git_commit"]) == 40 and "git_dirty" not in env


def test_an_interpreter_named_relative_to_a_relative_cwd_is_asked(ws: Workspace) -> None:
    # run_command(cwd="jobs"), the command "./bin/python": the probe ran "jobs/./bin/python" in
    # jobs/ (jobs/jobs/bin/python: not found), and recorded no Python at all.
    fake = ws.root / "jobs" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\n[ \"$1\" = -c ] && echo '{\"python\": \"3.99.0\", \"packages_hash\": \"h\", \"packages\": 1}'\n"
                    "exit 0\n")
    fake.chmod(0o755)
    env = recorded(ws, run_command(ws, ["./bin/python", "train.py"], cwd=Path("jobs")).id)
    assert env["python"] == "3.99.0" and env["packages_hash"] == "h"
