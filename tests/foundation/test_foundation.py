"""The workspace, config, CLI contracts and the light core."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import assay
from assay.cli._app import COMMANDS, cli as root
from assay.config import Config
from assay.errors import InputError, UsageError, WorkspaceNotFoundError
from assay.workspace import Workspace


def test_public_surface() -> None:
    assert assay.__all__ == sorted(assay.__all__)
    assert set(assay.__all__) == {"AssayError", "AssayWarning", "Workspace", "__version__", "track"}
    assert callable(assay.track)


def test_compute_surface() -> None:
    import assay.compute
    import assay.drift

    assert assay.compute.__all__ == ["LocalExecutor", "RayExecutor", "get_executor"]
    # drift keeps exporting the executors it has always exported: the same objects
    assert all(getattr(assay.drift, name) is getattr(assay.compute, name) for name in assay.compute.__all__)
    assert assay.compute.get_executor("local", workers=1).map(abs, [-1, 2]) == [1, 2]


def test_report_surface() -> None:
    # The writers the CLI calls; importing them loads neither the drift pillar nor pyarrow.
    import assay.report

    assert assay.report.__all__ == sorted(assay.report.__all__) == [
        "check_chart_option", "check_output_paths", "check_report_path", "render_check_html", "render_check_junit", "render_check_lines", "render_drift_html",
        "write_check_html", "write_check_junit", "write_drift_html"]
    assert all(callable(getattr(assay.report, name)) for name in assay.report.__all__)
    code = "import sys, assay.report; print(sorted(m for m in ('assay.drift', 'pyarrow', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


HEAVY = "{'torch', 'onnxruntime', 'ray', 'fastapi', 'pandas', 'polars', 'sklearn', 'uvicorn', 'starlette', 'jinja2'}"


def test_import_assay_is_light() -> None:
    code = (
        "import sys, assay, assay.compute, assay.data, assay.lineage, assay.ledger, assay.store;"
        f"heavy = {HEAVY} | {{'pyarrow', 'scipy'}};"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("pillar", ["assay.drift", "assay.checks", "assay.models", "assay.monitor", "assay.cli"])
def test_pillars_import_no_heavy_framework(pillar: str) -> None:
    code = f"import sys, importlib; importlib.import_module({pillar!r}); heavy = {HEAVY}; print(sorted(m for m in heavy if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_init_creates_workspace_and_is_idempotent(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "proj")
    assert (ws.dir / "config.toml").is_file()
    assert (ws.dir / "ledger.db").is_file()
    assert ws.ledger.schema_version() >= 1
    again = Workspace.init(tmp_path / "proj")
    assert again.root == ws.root


def test_workspace_found_walking_up(tmp_path: Path) -> None:
    Workspace.init(tmp_path)
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert Workspace.find_root(deep) == tmp_path.resolve()


def test_no_workspace_is_a_clear_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_HOME", raising=False)
    with pytest.raises(WorkspaceNotFoundError) as err:
        Workspace.open(tmp_path)
    assert "assay init" in str(err.value)
    proc = subprocess.run([sys.executable, "-m", "assay", "data", "status"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "no assay workspace" in proc.stderr and "assay init" in proc.stderr


def test_assay_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Workspace.init(tmp_path / "home")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    assert Workspace.open().root == (tmp_path / "home").resolve()
    monkeypatch.setenv("ASSAY_HOME", str(elsewhere))
    with pytest.raises(WorkspaceNotFoundError):
        Workspace.open()


def test_init_without_a_directory_makes_the_workspace_assay_home_names(tmp_path: Path) -> None:
    # Every other command takes ASSAY_HOME as the workspace: init did its work in the current
    # folder instead, and the next command said ASSAY_HOME holds no workspace.
    here = tmp_path / "here"
    here.mkdir()
    env = {**os.environ, "ASSAY_HOME": str(tmp_path / "home")}
    made = subprocess.run([sys.executable, "-m", "assay", "init", "--json"], cwd=here, env=env,
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["root"] == str((tmp_path / "home").resolve())
    assert not (here / ".assay").exists()
    st = subprocess.run([sys.executable, "-m", "assay", "data", "status", "--json"], cwd=here, env=env,
                        capture_output=True, text=True)
    assert st.returncode == 0, st.stderr
    env["ASSAY_HOME"] = str(tmp_path / "home" / ".assay")  # its .assay folder names it too
    again = subprocess.run([sys.executable, "-m", "assay", "init", "--json"], cwd=here, env=env,
                           capture_output=True, text=True)
    assert again.returncode == 0 and json.loads(again.stdout)["created"] is False
    explicit = subprocess.run([sys.executable, "-m", "assay", "init", "--json", "."], cwd=here, env=env,
                              capture_output=True, text=True)
    assert explicit.returncode == 0 and (here / ".assay").is_dir()  # a DIRECTORY given wins
    # Resolved as every other command resolves it: through a symlink to a .assay folder too.
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real" / ".assay")
    env["ASSAY_HOME"] = str(tmp_path / "link")
    linked = subprocess.run([sys.executable, "-m", "assay", "init"], cwd=here, env=env, capture_output=True, text=True)
    assert linked.returncode == 0, linked.stderr
    assert "ASSAY_HOME" in linked.stdout and (tmp_path / "real" / ".assay" / "config.toml").is_file()
    assert not (tmp_path / "real" / ".assay" / ".assay").exists()
    nested = subprocess.run([sys.executable, "-m", "assay", "init", str(tmp_path / "real" / ".assay")], cwd=here,
                            env=env, capture_output=True, text=True)
    assert nested.returncode == 2 and "own .assay folder" in nested.stderr
    assert not (tmp_path / "real" / ".assay" / ".assay").exists()
    # A .assay that is a symlink to another disk: it names the workspace that holds it.
    (tmp_path / "disk" / "assaydata").mkdir(parents=True)
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / ".assay").symlink_to(tmp_path / "disk" / "assaydata")
    env["ASSAY_HOME"] = str(tmp_path / "proj" / ".assay")
    made = subprocess.run([sys.executable, "-m", "assay", "init"], cwd=here, env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "disk" / "assaydata" / "config.toml").is_file()
    assert not (tmp_path / "disk" / "assaydata" / ".assay").exists()
    status = subprocess.run([sys.executable, "-m", "assay", "data", "status"], cwd=here, env=env,
                            capture_output=True, text=True)
    assert status.returncode == 0, status.stderr
    refused = subprocess.run([sys.executable, "-m", "assay", "init", str(tmp_path / "proj" / ".assay")], cwd=here,
                             env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "own .assay folder" in refused.stderr


def test_config_rejects_unknown_keys_and_bad_values(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown key"):
        Config.from_dict({"ledgr": "sqlite"})
    with pytest.raises(InputError, match="compression"):
        Config.from_dict({"data": {"compression": "lz4"}})
    bad = tmp_path / "config.toml"
    bad.write_text("ledger = [", encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        Config.load(bad)


def test_config_round_trip(tmp_path: Path) -> None:
    cfg = Config.from_dict({"ledger": "sqlite", "remotes": {"o": {"url": "s3://b/p", "endpoint_url": "http://x"}}})
    cfg.save(tmp_path / "c.toml")
    again = Config.load(tmp_path / "c.toml")
    assert again.remotes["o"].url == "s3://b/p"
    assert again.remotes["o"].options == {"endpoint_url": "http://x"}


def _all_commands() -> list[list[str]]:
    import click

    out = []
    ctx = click.Context(root)
    for name in root.list_commands(ctx):
        cmd = root.get_command(ctx, name)
        out.append([name])
        if isinstance(cmd, click.Group):
            out.extend([name, sub] for sub in cmd.list_commands(ctx))
    return out


@pytest.mark.parametrize("words", _all_commands(), ids=lambda w: " ".join(w))
def test_every_command_has_help_and_json(words: list[str]) -> None:
    import click
    from click.testing import CliRunner

    result = CliRunner().invoke(root, [*words, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    ctx = click.Context(root)
    cmd = root.get_command(ctx, words[0])
    if len(words) == 2:
        cmd = cmd.get_command(ctx, words[1])  # type: ignore[union-attr]
    if not isinstance(cmd, click.Group):
        assert "--json" in result.output, f"assay {' '.join(words)} has no --json"


def test_command_map_is_importable() -> None:
    assert "data" in COMMANDS and "init" in COMMANDS


def test_json_errors_keep_stdout_parseable(tmp_path: Path) -> None:
    Workspace.init(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "assay", "data", "log", "nope", "--json"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert doc["error"] == "NotFoundError" and "nope" in doc["message"]


def test_relpath_refuses_outside_and_workspace_dir(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "w")
    with pytest.raises(UsageError, match="outside the workspace"):
        ws.relpath(tmp_path)
    with pytest.raises(UsageError):
        ws.relpath(ws.dir)


def test_python_dash_m(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "assay", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and assay.__version__ in proc.stdout


def _worker_pid(_: object) -> int:
    import os

    return os.getpid()


def test_local_executor_reuses_its_pool_until_closed() -> None:
    import os

    from assay.compute import LocalExecutor

    with LocalExecutor(workers=2) as executor:
        first = set(executor.map(_worker_pid, range(8)))
        second = set(executor.map(_worker_pid, range(8)))
        assert os.getpid() not in first  # the tasks ran in worker processes
        assert second <= first  # ... the same ones both times
        workers = list(executor._pool._processes.values())
    assert executor._pool is None
    assert workers and all(not w.is_alive() for w in workers)  # leaving the block stopped the workers
    assert executor.map(_worker_pid, range(4))  # a closed executor starts a fresh pool when used again
    executor.close()


def test_progress_is_silent_and_light_when_off(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from assay.progress import bar

    monkeypatch.setenv("ASSAY_PROGRESS", "0")
    with bar(total=10, desc="work", unit="B") as progress:
        progress.update(4)
        progress.update(6)
        progress.set_postfix(files=2)
    assert progress.n == 10 and progress.total == 10
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("ASSAY_PROGRESS", "1")
    with bar(total=3, desc="shown") as shown:
        shown.update(3)
    assert "shown" in capsys.readouterr().err
    with bar(total=3, desc="hidden", show=False) as hidden:
        hidden.update(1)
    assert capsys.readouterr().err == ""


def test_a_forced_bar_off_a_terminal_ends_with_its_final_state(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    # A trial: `ASSAY_PROGRESS=1 assay data add ... 2>log` left only the 0% line of a quick
    # command (the bar was not kept, leave=False): a CI log could not tell it had finished.
    import io

    from assay.progress import bar

    monkeypatch.setenv("ASSAY_PROGRESS", "1")
    with bar(total=3, desc="adding", unit="file") as progress:
        progress.update(3)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("adding:   0%") and lines[-1].startswith("adding: 100%") and "3/3" in lines[-1], lines
    with bar(total=2, desc="slow", unit="file", mininterval=0) as progress:  # each update drawn, the last one too
        progress.update(1)
        progress.update(1)
    lines = capsys.readouterr().err.splitlines()
    assert [line[:9] for line in lines] == ["slow:   0", "slow:  50", "slow: 100"], lines  # closing does not repeat 100%

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with bar(total=3, desc="adding", unit="file") as progress:  # a terminal's bar still goes when done
        progress.update(3)
    assert progress.leave is False and terminal.getvalue().endswith("\r")


def test_an_init_that_cannot_open_its_store_leaves_no_workspace(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "w"
    target.mkdir()
    proc = cli("init", str(target), "--store", "s3://bucket/prefix", "--endpoint-url", "notaurl", check=2)
    assert "not an endpoint URL" in proc.stderr
    assert not (target / ".assay").exists()  # a rerun with good settings is not "already a workspace"
    cli("init", str(target))
    assert (target / ".assay" / "config.toml").is_file()


def test_version_names_the_ledger_schema_and_source_commit(tmp_path: Path) -> None:
    """Two builds of one version (teammates on different commits) are told apart by --version."""
    from assay.cli._app import source_commit
    from assay.ledger._migrations import MIGRATIONS

    proc = subprocess.run([sys.executable, "-m", "assay", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and f"ledger schema {MIGRATIONS[-1][0]}" in proc.stdout

    repo = tmp_path / "repo"
    (repo / "src" / "assay").mkdir(parents=True)
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "f").write_text("x")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert source_commit(repo) == head
    subprocess.run([*git, "pack-refs", "--all"], check=True)  # the branch now only in packed-refs
    assert source_commit(repo) == head
    subprocess.run([*git, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "other"], check=True)
    (tmp_path / "wt" / "src" / "assay").mkdir(parents=True)
    assert source_commit(tmp_path / "wt") == head
    subprocess.run([*git, "checkout", "-q", "--detach"], check=True)
    assert source_commit(repo) == head
    assert source_commit(tmp_path / "none") is None


def test_version_names_no_commit_for_a_copy_installed_inside_an_assay_checkout(tmp_path: Path) -> None:
    """``pip install --target vendor .`` in a checkout: that copy is not the checkout's HEAD."""
    repo = tmp_path / "repo"
    (repo / "src" / "assay").mkdir(parents=True)
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "one"], check=True)
    shutil.copytree(Path(assay.__file__).parent, repo / "vendor" / "assay")
    proc = subprocess.run([sys.executable, "-m", "assay", "--version"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(repo / "vendor")})
    assert proc.returncode == 0 and "source" not in proc.stdout
