"""The environment a run records is the one its code ran in: a command that starts a Python
interpreter other than assay's own is recorded with that interpreter's version and package set;
the code is dirty for changes to code, not to the workspace's data."""

from __future__ import annotations

import json
import os
import platform
import shutil
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
    # assay's own Python, where the command is assay's own interpreter, or a tracked block
    ours = recorded(ws, run_command(ws, [sys.executable, "-c", "pass"]).id)
    assert ours["python_executable"] == sys.executable and ours["packages"] > 0
    with assay.track(ws) as tracked:
        pass
    assert recorded(ws, tracked.id)["packages_hash"] == ours["packages_hash"]
    for key in ("python", "implementation", "platform", "hostname"):
        assert env[key] and ours[key]


def test_a_python_that_cannot_say_what_it_is_records_no_version(ws: Workspace, tmp_path: Path) -> None:
    # A binary named like Python is asked; one that says nothing of itself is recorded so.
    fake = tmp_path / "bin" / "python3"
    fake.parent.mkdir()
    shutil.copy(shutil.which("true") or "/bin/true", fake)
    env = recorded(ws, run_command(ws, [str(fake), "train.py"]).id)
    # not assay's own Python's version put in its place
    assert env["python_executable"] == str(fake) and "python" not in env and "packages_hash" not in env


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
    python = ws.root / "jobs" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.symlink_to(os.path.realpath(sys.executable))  # (a link: not assay's own path)
    env = recorded(ws, run_command(ws, ["./bin/python", "-c", "pass"], cwd=Path("jobs")).id)
    assert env["python_executable"] == "./bin/python" and env["python"] == platform.python_version()
    assert "packages_hash" in env


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare virtual environment (no packages), outside any workspace."""
    folder = tmp_path_factory.mktemp("envs") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    return folder


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_a_program_named_python_that_is_a_script_is_not_run_to_ask(ws: Workspace, tmp_path: Path) -> None:
    # A wrapper called python that submits a cluster job: asking it which Python it is (python
    # -c ...) submitted a job. It is run once, as the command, and recorded as not known.
    wrapper = _script(tmp_path / "bin" / "python", "#!/bin/sh\necho submitted >> \"$0.jobs\"\n")
    env = recorded(ws, run_command(ws, [str(wrapper), "train.py"]).id)
    assert (tmp_path / "bin" / "python.jobs").read_text() == "submitted\n"  # the command's run alone
    assert env["python_executable"] == str(wrapper) and "script" in env["python_unknown"]
    assert "python" not in env and "packages_hash" not in env  # not assay's own put in its place


def test_a_console_script_records_the_python_of_its_shebang(ws: Workspace, tmp_path: Path, venv: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # torchrun, accelerate, deepspeed, a `#!/usr/bin/env python` script: Python code run by the
    # interpreter its #! line names, not assay's.
    python = str(venv / "bin" / "python")
    monkeypatch.setenv("PATH", f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")  # (for env python)
    for text in (f"#!{python}\nprint('launched')\n",
                 f"#!/bin/sh\n'''exec' \"{python}\" \"$0\" \"$@\"\n' '''\nprint('launched')\n",  # (pip's, for a long path)
                 "#!/usr/bin/env python\nprint('launched')\n"):
        tool = _script(tmp_path / "torchrun", text)
        run = run_command(ws, [str(tool), "--nproc-per-node", "1", "train.py"], cwd=tmp_path)
        env = recorded(ws, run.id)
        assert run.exit_code == 0 and env["packages"] == 0, text
        assert env["python_executable"] == python, text


def test_a_command_that_installs_packages_records_the_set_before_and_after(ws: Workspace, tmp_path: Path) -> None:
    # `python -m pip install X`: the set recorded when the command started is not the one it
    # ended with; both are kept, and said to differ.
    fresh = tmp_path.parent / f"{tmp_path.name}-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True, timeout=120)
    python = str(fresh / "bin" / "python")
    install = ("import os, sysconfig; d = os.path.join(sysconfig.get_paths()['purelib'], 'fake-1.0.dist-info');"
               "os.makedirs(d); open(os.path.join(d, 'METADATA'), 'w').write('Name: fake\\nVersion: 1.0\\n')")
    env = recorded(ws, run_command(ws, [python, "-c", install]).id)
    assert env["packages"] == 0 and env["packages_changed"] is True and env["packages_after"] == 1
    assert env["packages_hash_after"] != env["packages_hash"]
    again = recorded(ws, run_command(ws, [python, "-c", "pass"]).id)
    assert again["packages"] == 1 and "packages_changed" not in again  # nothing installed this time
    assert "packages_changed" not in recorded(ws, run_command(ws, ["true"]).id)


def test_launchers_that_only_change_how_a_command_runs_are_looked_through(ws: Workspace, tmp_path: Path,
                                                                          venv: Path) -> None:
    python = str(venv / "bin" / "python")
    run = run_command(ws, ["nice", "-n", "5", "timeout", "-k", "5", "60", "nohup", "taskset", "-c", "0",
                           "stdbuf", "-oL", python, "-c", "pass"])
    env = recorded(ws, run.id)
    assert run.exit_code == 0 and env["python_executable"] == python and env["packages"] == 0
    # env VAR=x: what the command gets, the probe gets too (here a folder of packages on its path)
    extra = tmp_path / "extra" / "fake-1.0.dist-info"
    extra.mkdir(parents=True)
    (extra / "METADATA").write_text("Name: fake\nVersion: 1.0\n")
    env = recorded(ws, run_command(ws, ["env", f"PYTHONPATH={extra.parent}", "HF_HOME=/tmp/x", python, "-c", "pass"]).id)
    assert env["python_executable"] == python and env["packages"] == 1
    # env's PATH decides which python that is
    env = recorded(ws, run_command(ws, ["env", f"PATH={venv / 'bin'}:/usr/bin:/bin", "python", "-c", "pass"]).id)
    assert env["python_executable"] == python and env["packages"] == 0  # the one PATH gave, not the bare word


def test_launchers_that_cannot_be_looked_through_record_an_unknown_python(ws: Workspace) -> None:
    # srun runs the command on a cluster node; uv run --with makes an environment: assay's own
    # Python was recorded as theirs.
    from assay.lineage._interpreter import find_python

    for command in (["srun", "-N", "1", "python", "train.py"], ["uv", "run", "--with", "torch", "python", "t.py"],
                    ["poetry", "run", "python", "t.py"], ["ssh", "node1", "python", "t.py"],
                    ["timeout", "--weird", "10", "python", "t.py"], ["sudo", "python", "t.py"]):
        found = find_python(command, ws.root)
        assert found.unknown and not found.own and found.program is None, command
    with pytest.raises(UsageError):  # (no srun here: the run is recorded all the same)
        run_command(ws, ["srun", "python", "train.py"])
    env = json.loads(ws.ledger.query("SELECT env FROM runs")[0][0])
    assert "srun" in env["python_unknown"] and "packages_hash" not in env and "python" not in env


def test_project_environments_are_found_on_disk_without_running_their_tool(tmp_path: Path, venv: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.lineage._interpreter import find_python

    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (project / ".venv").symlink_to(venv)
    python = str(project / ".venv" / "bin" / "python")
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.delenv("UV_PROJECT_ENVIRONMENT", raising=False)
    for command in (["uv", "run", "python", "t.py"], ["uv", "run", "--no-sync", "python", "t.py"],
                    ["poetry", "run", "python", "t.py"], ["uv", "run", "make", "train"]):
        found = find_python(command, project / "src")
        assert found.program == python and not found.unknown, command
    assert find_python(["uv", "run", "--directory", "proj", "python"], tmp_path).program == python
    # a script with its own dependencies inline (PEP 723): uv runs it in an environment it
    # makes for it, not the project's
    (project / "src" / "job.py").write_text("# /// script\n# dependencies = ['torch']\n# ///\nimport torch\n")
    found = find_python(["uv", "run", "job.py"], project / "src")
    assert found.unknown and found.program is None and "inline" in found.unknown
    (project / "src" / "plain.py").write_text("import torch\n")
    assert find_python(["uv", "run", "plain.py"], project / "src").program == python
    # a conda environment by name (listed by conda), or by its folder
    prefix = tmp_path / "conda" / "envs" / "ml"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "bin").symlink_to(venv / "bin")
    monkeypatch.setenv("CONDA_EXE", str(tmp_path / "conda" / "bin" / "conda"))
    assert find_python(["conda", "run", "-n", "ml", "python", "t.py"]).program == str(prefix / "bin" / "python")
    assert find_python(["conda", "run", "-p", str(prefix), "python"]).program == str(prefix / "bin" / "python")
    # not there yet (the tool would make it): not known
    assert find_python(["conda", "run", "-n", "other", "python"]).unknown
    assert find_python(["uv", "run", "python"], tmp_path).unknown


def test_a_pyenv_shim_is_looked_through_to_the_version_it_selects(tmp_path: Path, venv: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # A shim is a script (pyenv picks the version, then runs it): read where it leads from
    # pyenv's files instead of recording the Python as not known.
    from assay.lineage._interpreter import find_python

    root = tmp_path / "pyenv"
    _script(root / "shims" / "python", f'#!/usr/bin/env bash\nexport PYENV_ROOT="{root}"\n'
                                      f'exec "{root}/libexec/pyenv" exec "$program" "$@"\n')
    for version in ("3.98.0", "3.99.0"):
        (root / "versions" / version).mkdir(parents=True)
        (root / "versions" / version / "bin").symlink_to(venv / "bin")
    (root / "version").write_text("3.99.0\n")
    monkeypatch.setenv("PATH", f"{root / 'shims'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("PYENV_VERSION", raising=False)
    project = tmp_path / "project"
    project.mkdir()
    assert find_python(["python", "t.py"], project).program == str(root / "versions" / "3.99.0" / "bin" / "python")
    (project / ".python-version").write_text("3.98.0\n")
    assert find_python(["python", "t.py"], project).program == str(root / "versions" / "3.98.0" / "bin" / "python")
    monkeypatch.setenv("PYENV_VERSION", "system")  # (the system's: not read here)
    assert find_python(["python", "t.py"], project).unknown


def test_a_python_found_on_path_is_recorded_by_its_path(ws: Workspace, tmp_path: Path, venv: Path,
                                                      cli) -> None:  # type: ignore[no-untyped-def]
    # `assay run -- python train.py` with python a pyenv shim (a bash script that execs the real
    # Python): the record said "python", which tells none of them apart.
    root = tmp_path / "pyenv"
    shim = _script(root / "shims" / "python", f'#!/usr/bin/env bash\nexport PYENV_ROOT="{root}"\n'
                                             f'exec "{root}/libexec/pyenv" exec "$program" "$@"\n')
    _script(root / "libexec" / "pyenv", f'#!/bin/sh\nshift 2\nexec "{venv / "bin" / "python"}" "$@"\n')
    (root / "versions" / "3.99.0").mkdir(parents=True)
    (root / "versions" / "3.99.0" / "bin").symlink_to(venv / "bin")
    (tmp_path / "train.py").write_text("print('trained')\n")
    path = f"{shim.parent}{os.pathsep}{os.environ['PATH']}"

    def run(**env: str) -> dict:
        proc = cli("run", "--json", "--", "python", "train.py", env={"PATH": path, **env})
        return recorded(ws, json.loads(proc.stdout)["id"])

    # a shim of a version pyenv's files do not name (the system's): the shim's path, not known
    env = run(PYENV_VERSION="system")
    assert env["python_executable"] == str(shim) and "pyenv shim" in env["python_unknown"] and "packages" not in env
    # a shim of one of pyenv's versions: the interpreter it leads to
    env = run(PYENV_VERSION="3.99.0")
    assert env["python_executable"] == str(root / "versions" / "3.99.0" / "bin" / "python") and "python_unknown" not in env
    # any other script called python on PATH: its path, not known
    wrapper = _script(tmp_path / "bin" / "python", f'#!/usr/bin/env bash\nexec "{venv / "bin" / "python"}" "$@"\n')
    proc = cli("run", "--json", "--", "python", "train.py", env={"PATH": f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}"})
    env = recorded(ws, json.loads(proc.stdout)["id"])
    assert env["python_executable"] == str(wrapper) and "script" in env["python_unknown"]


def test_the_probe_imports_nothing_from_the_commands_folder(ws: Workspace, venv: Path) -> None:
    # `python -c PROBE` puts its folder first on sys.path: a project's own platform.py, csv.py or
    # email.py (what the probe and importlib.metadata import) was run by asking which Python
    # it is, and broke the probe, so that no version or package set was recorded.
    jobs = ws.root / "jobs"
    jobs.mkdir()
    for name in ("platform", "csv", "email", "json", "hashlib"):
        (jobs / f"{name}.py").write_text(f"open({str(jobs / 'imported')!r}, 'a').write('{name} ')\n")
    env = recorded(ws, run_command(ws, [str(venv / "bin" / "python"), "-c", "pass"], cwd=jobs).id)
    assert not (jobs / "imported").exists(), (jobs / "imported").read_text()
    assert env["packages"] == 0 and env["python"] == platform.python_version()


def test_a_link_to_an_interpreter_under_another_name_is_that_interpreter(ws: Workspace, tmp_path: Path,
                                                                       venv: Path) -> None:
    # `ln -s .venv/bin/python train-py`: a binary that is a real Python once its link is
    # followed; it was taken for any other program (make), and assay's own Python recorded.
    link = tmp_path / "train-py"
    link.symlink_to(venv / "bin" / "python")
    count = "from importlib import metadata as m; print(len([d for d in m.distributions() if d.metadata['Name']]))"
    said = subprocess.run([str(link), "-c", count], capture_output=True, text=True, check=True).stdout.strip()
    run = run_command(ws, [str(link), "-c", "pass"])
    env = recorded(ws, run.id)
    # (run through a link outside the venv, Python does not find the venv's pyvenv.cfg: the
    # packages are those it says it sees, not the venv's, and not assay's own)
    assert env["python_executable"] == str(link) and env["packages"] == int(said)
    assert env["packages_hash"] != recorded(ws, run_command(ws, [sys.executable, "-c", "pass"]).id)["packages_hash"]


def test_interpreter_flags_written_together_are_passed_to_the_probe(ws: Workspace, tmp_path: Path,
                                                                    venv: Path) -> None:
    # `python -Es train.py` ignores PYTHONPATH: the probe, asked without -Es (not known as
    # written together), counted the packages there as the command's.
    extra = tmp_path / "extra" / "fake-1.0.dist-info"
    extra.mkdir(parents=True)
    (extra / "METADATA").write_text("Name: fake\nVersion: 1.0\n")
    python = str(venv / "bin" / "python")
    for flags in (["-Es"], ["-sE", "-u"], ["-Ec", "pass"], ["-E", "-Wignore", "-c", "pass"]):
        command = ["env", f"PYTHONPATH={extra.parent}", python, *flags] + ([] if "pass" in flags else ["-c", "pass"])
        assert recorded(ws, run_command(ws, command).id)["packages"] == 0, flags
    env = recorded(ws, run_command(ws, ["env", f"PYTHONPATH={extra.parent}", python, "-u", "-c", "pass"]).id)
    assert env["packages"] == 1  # (and where it is read, its packages are the command's)


def test_an_interpreter_is_not_asked_again_after_a_run_that_changed_none_of_its_folders(
        ws: Workspace, tmp_path: Path, venv: Path) -> None:
    # Whether the package set changed while the command ran was asked of the interpreter
    # again after every run (a second start, ~0.2 s for a bare venv, more with torch's): now
    # only where a folder it imports from has changed since the first time.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(f"open({str(tmp_path / 'starts')!r}, 'a').write('1')\n")
    command = ["env", f"PYTHONPATH={site}", str(venv / "bin" / "python"), "-c", "pass"]
    env = recorded(ws, run_command(ws, command).id)
    assert env["packages"] == 0 and "_site" not in env and "packages_changed" not in env
    assert (tmp_path / "starts").read_text() == "11"  # asked once, and the command
    (tmp_path / "starts").unlink()
    install = ("import os; d = os.path.join(os.environ['PYTHONPATH'], 'fake-1.0.dist-info'); os.makedirs(d);"
               "open(os.path.join(d, 'METADATA'), 'w').write('Name: fake\\nVersion: 1.0\\n')")
    env = recorded(ws, run_command(ws, [*command[:-1], install]).id)
    assert env["packages_changed"] is True and env["packages_after"] == 1
    assert (tmp_path / "starts").read_text() == "111"


def test_a_script_whose_python_cannot_be_read_records_an_unknown_python(ws: Workspace, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # `#!/usr/bin/env python3` where that python3 is a wrapper script (or a pyenv shim of the
    # system's Python, or missing): the script's Python was recorded as assay's own.
    from assay.lineage._interpreter import find_python

    wrapper = _script(tmp_path / "bin" / "python3", "#!/bin/sh\nexec /usr/bin/env -i python3 \"$@\"\n")
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    job = _script(tmp_path / "job.py", "#!/usr/bin/env python3\nprint('trained')\n")
    found = find_python([str(job)], tmp_path)
    assert found.unknown and not found.own and found.program is None
    env = recorded(ws, run_command(ws, [str(job)]).id)
    assert "python_unknown" in env and "packages_hash" not in env
    gone = _script(tmp_path / "gone.py", f"#!{tmp_path / 'nowhere' / 'python3'}\nprint('x')\n")
    assert find_python([str(gone)], tmp_path).unknown
    # not a Python at all: what Python it may start is not known either (not assay's own)
    shell = find_python([str(_script(tmp_path / "job.sh", "#!/bin/sh\necho hi\n"))], tmp_path)
    assert shell.unknown and not shell.own and shell.program is None


def test_a_program_that_is_not_python_records_an_unknown_python(ws: Workspace, tmp_path: Path, venv: Path,
                                                                cli) -> None:  # type: ignore[no-untyped-def]
    # `sh -c "python train.py"`, `make train`, a shell script: assay's own Python's version and
    # package set were recorded as if the command had run in them. Whatever Python such a
    # program starts is its own choice (its PATH, its Makefile): not known without running it.
    _script(tmp_path / "train.sh", "#!/bin/sh\nexec python3 -c pass\n")
    (tmp_path / "Makefile").write_text("train:\n\tpython3 -c pass\n")
    commands = [["sh", "-c", "python3 -c pass"], [str(tmp_path / "train.sh")], ["true"],
                ["env", "X=1", "nice", "sh", "-c", "true"]]
    if shutil.which("make"):
        commands.append(["make", "-s", "-C", str(tmp_path), "train"])
    for command in commands:
        run = run_command(ws, command)
        env = recorded(ws, run.id)
        assert run.exit_code == 0 and env["python_unknown"], command
        for key in ("python_executable", "python", "implementation", "packages_hash", "packages"):
            assert key not in env, (command, key)
        # what is assay's own is kept, and named so
        assert env["assay_version"] == assay.__version__ and env["assay_python"] == platform.python_version()
        assert env["platform"] and env["hostname"]
    node = next(n for n in cli.json("lineage", f"run:{run.id}")["nodes"] if n["id"] == f"run:{run.id}")
    assert "python_unknown" in node["env"] and "packages_hash" not in node["env"] and "python" not in node["env"]
    text = cli("lineage", f"run:{run.id[:12]}").stdout
    assert "python_unknown=" in text and "assay_version=" in text and "packages_hash=" not in text
    # the interpreter a command does name is still the one recorded
    python = str(venv / "bin" / "python")
    job = _script(tmp_path / "job.py", f"#!{python}\nprint('trained')\n")
    for command, named in (([python, "-m", "json.tool", "--help"], python), ([str(job)], python),
                           (["./job.py"], python), ([sys.executable, str(job)], sys.executable)):
        env = recorded(ws, run_command(ws, command, cwd=tmp_path, stdout=subprocess.DEVNULL).id)
        assert env["python_executable"] == named and "python_unknown" not in env, command
        assert (env["packages"] == 0) == (named == python), command  # (a bare venv: no packages)
    proc = cli("run", "--json", "--", python, "-c", "pass")
    node = next(n for n in cli.json("lineage", f"run:{json.loads(proc.stdout)['id']}")["nodes"] if n["type"] == "run")
    assert node["env"]["python_executable"] == python and node["env"]["packages"] == 0
    with assay.track(ws) as tracked:
        pass
    env = recorded(ws, tracked.id)
    assert env["python_executable"] == sys.executable and env["python"] == env["assay_python"]


def test_an_env_split_string_shebang_is_read_with_what_it_sets(ws: Workspace, tmp_path: Path, venv: Path) -> None:
    # `#!/usr/bin/env -S VAR=x python3`: env splits its one argument, sets VAR and runs python3
    # found on the PATH it now has. "-S" and every VAR=x were dropped, and the probe ran with
    # none of them: here the PATH that selects the venv and a folder of packages on its path.
    from assay.lineage._interpreter import find_python

    extra = tmp_path / "extra" / "fake-1.0.dist-info"
    extra.mkdir(parents=True)
    (extra / "METADATA").write_text("Name: fake\nVersion: 1.0\n")
    path = f"{venv / 'bin'}:/usr/bin:/bin"
    job = _script(tmp_path / "job.py", f"#!/usr/bin/env -S PATH={path} PYTHONPATH={extra.parent} python3 -u\n"
                                       "import sys; print(sys.prefix)\n")
    found = find_python([str(job)], tmp_path)
    assert found.program == str(venv / "bin" / "python3") and found.options == ("-u",)
    assert found.env is not None and found.env["PYTHONPATH"] == str(extra.parent)
    run = run_command(ws, [str(job)], cwd=tmp_path, stdout=subprocess.DEVNULL)
    env = recorded(ws, run.id)
    assert run.exit_code == 0 and env["python_executable"] == str(venv / "bin" / "python3")
    assert env["packages"] == 1  # the probe saw PYTHONPATH, as the script did
    # quoted, with a comment and ${VAR}; --split-string= as well
    quoted = _script(tmp_path / "quoted.py", f"#!/usr/bin/env --split-string=PATH='{path}' 'PYTHONPATH=${{HOME}}' "
                                             "python3 # a comment\npass\n")
    found = find_python([str(quoted)], tmp_path)
    assert found.program == str(venv / "bin" / "python3") and found.env["PYTHONPATH"] == os.environ["HOME"]
    # what is not read here (env's own escapes) is said so, not guessed
    escaped = _script(tmp_path / "escaped.py", "#!/usr/bin/env -S X=a\\_b python3\npass\n")
    assert find_python([str(escaped)], tmp_path).unknown
    # without -S (one word, as on Linux): as before, in this process's environment
    plain = find_python([str(_script(tmp_path / "plain.py", "#!/usr/bin/env python3\npass\n"))], tmp_path)
    assert plain.env is None and (plain.own or plain.program)


def test_what_earlier_runs_wrote_as_outputs_does_not_make_the_code_dirty(ws: Workspace) -> None:
    # Datasets' folders were left out of git status, but not a model file a run registered
    # (models/m.skops), a model checked out (.assay-model-m/), nor the outputs of a run that
    # failed: each later run in the repository was recorded as run on code not committed.
    import assay
    from assay.data import checkout

    _git(ws, "init", "-q", ".")
    (ws.root / "make.py").write_text("print('made')\n")
    _git(ws, "add", "make.py")
    _git(ws, "commit", "-q", "-m", "code")
    train = ("import os, skops.io; from sklearn.linear_model import LogisticRegression as L; os.makedirs('models', "
             "exist_ok=True); skops.io.dump(L().fit([[0], [1]], [0, 1]), 'models/m.skops')")
    (ws.root / "models").mkdir()
    model = run_command(ws, [sys.executable, "-c", train], models={"m": "models/m.skops"}, cwd=ws.root)
    assert model.status == "succeeded" and recorded(ws, model.id)["git_dirty"] is False
    assert recorded(ws, run_command(ws, [sys.executable, "-c", "pass"]).id)["git_dirty"] is False  # models/m.skops
    failed = run_command(ws, ["sh", "-c", "mkdir -p out && echo 1 > out/f; exit 1"], outputs={"out": "out"})
    assert failed.status == "failed"
    assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is False  # out/, declared as data
    with pytest.raises(RuntimeError), assay.track(ws) as tracked:
        (ws.root / "tracked").mkdir()
        (ws.root / "tracked" / "f").write_text("1")
        tracked.output("tracked", "tracked")
        raise RuntimeError("no")
    assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is False  # tracked/, declared as data
    checkout(ws, "m@v1")
    assert (ws.root / ".assay-model-m").is_dir()
    assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is False  # a model checked out
    (ws.root / "step.py").write_text("print('new')\n")  # code still counts
    assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is True


def test_a_failed_run_s_output_folder_hides_no_change_to_the_code_git_tracks_there(ws: Workspace) -> None:
    # A folder of code declared as a failed run's output by mistake: what the run left there
    # (new files) is data, but a later change to a committed file there is code all the same.
    _git(ws, "init", "-q", ".")
    (ws.root / "src").mkdir()
    (ws.root / "src" / "code.py").write_text("x = 1\n")
    _git(ws, "add", "src/code.py")
    _git(ws, "commit", "-q", "-m", "code")
    failed = run_command(ws, ["sh", "-c", "echo 1 > src/partial.txt; exit 1"], outputs={"res": "src"}, cwd=ws.root)
    assert failed.status == "failed"
    assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is False  # src/partial.txt: its output
    (ws.root / "src" / "code.py").write_text("x = 2\n")
    assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is True
    _git(ws, "add", "src/code.py")  # staged, not committed: still not the commit's code
    assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is True
    _git(ws, "commit", "-q", "-m", "code 2")
    assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is False
    # a run that succeeded with that output made it a dataset's folder: data, as before
    (ws.root / "src" / "code.py").write_text("x = 3\n")
    assert run_command(ws, ["true"], outputs={"res": "src"}, cwd=ws.root).status == "succeeded"
    assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is False


def test_a_failed_run_s_output_folder_does_not_make_a_dataset_committed_inside_it_code(ws: Workspace) -> None:
    # A dataset's file committed to git, inside a folder a failed run declared as its output:
    # a change to it is data (the dataset's), not code, though git tracks it there.
    from assay.data import add

    _git(ws, "init", "-q", ".")
    (ws.root / "data").mkdir()
    (ws.root / "data" / "raw.csv").write_text("a\n1\n")
    (ws.root / "make.py").write_text("print('made')\n")
    _git(ws, "add", "data/raw.csv", "make.py")
    _git(ws, "commit", "-q", "-m", "code and data")
    failed = run_command(ws, ["sh", "-c", "echo 1 > data/partial.txt; exit 1"], outputs={"res": "data"}, cwd=ws.root)
    assert failed.status == "failed"
    add(ws, ["data/raw.csv"], name="raw")  # (after: a run's output may not be declared over a dataset's files)
    (ws.root / "data" / "raw.csv").write_text("a\n2\n")
    assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is False
    (ws.root / "make.py").write_text("print('changed')\n")
    assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is True


def test_a_model_checked_out_in_place_does_not_make_the_code_dirty(ws: Workspace) -> None:
    # A checkout of a registered model writes .assay-model-NAME/ at the workspace root: its
    # files, as a dataset's, are data, not code changed since the commit.
    from assay.data import checkout
    from assay.models import register_model

    _git(ws, "init", "-q", ".")
    (ws.root / "score.py").write_text("def predict(rows):\n    return [0 for _ in rows]\n")
    _git(ws, "add", "score.py")
    _git(ws, "commit", "-q", "-m", "code")
    register_model(ws, "scorer", "score.py:predict")
    checkout(ws, "scorer@v1")
    assert (ws.root / ".assay-model-scorer").is_dir()
    assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is False
    (ws.root / "score.py").write_text("def predict(rows):\n    return [1 for _ in rows]\n")
    assert recorded(ws, run_command(ws, ["true"]).id)["git_dirty"] is True
