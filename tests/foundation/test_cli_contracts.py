"""The command line's contracts (DESIGN.md): exit codes 0 / 1 / 2 / 3, and 130 for an
interrupt; with --json one parseable document on stdout, for usage errors too; bad input is
a message that says what to do, never an internal error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import assay.lineage
from assay.cli._app import cli as root
from assay.cli._output import handle_errors
from assay.config import Config
from assay.errors import InputError, NotFoundError, UsageError
from assay.lineage import lineage, track
from assay.workspace import Workspace

PY = sys.executable


def _no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr


# -- 1. interrupts ------------------------------------------------------------------------------

@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_an_interrupted_command_exits_130_with_one_line(ws: Workspace, cli, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    # The command sends SIGINT to assay (its parent) while assay waits on it: assay passes it
    # on (see tests/lineage/test_run_interrupts.py), and the command stops on it.
    child = ("import os, signal, sys, time\ntry:\n    os.kill(os.getppid(), signal.SIGINT); time.sleep(30)\n"
             "except KeyboardInterrupt:\n    sys.exit(1)\n")
    proc = cli("run", *(["--json"] if as_json else []), "--", PY, "-c", child, check=130, timeout=60)
    _no_traceback(proc)
    last = "assay: interrupted: " + ("waiting for the command to end (Ctrl-C again to kill it)" if as_json
                                     else "the run is recorded as failed")
    assert proc.stderr.strip().splitlines()[-1] == last
    assert "Aborted" not in proc.stderr
    if as_json:
        doc = json.loads(proc.stdout)
        assert doc["terminated_by"] == "SIGINT" and doc["status"] == "failed"


def test_an_interrupt_while_the_command_line_loads_exits_130(tmp_path: Path) -> None:
    # Ctrl-C while main() imports click and the commands: no traceback either.
    code = ("import builtins, sys\n"
            "real = builtins.__import__\n"
            "def imp(name, *a, **k):\n"
            "    if name == 'assay.cli._app':\n"
            "        raise KeyboardInterrupt\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = imp\n"
            "sys.argv = ['assay', 'data', 'ls']\n"
            "from assay.cli import main\n"
            "main()\n")
    proc = subprocess.run([PY, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "assay: interrupted\n"


def test_an_interrupt_inside_a_command_exits_130_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    @click.command()
    def boom() -> None:
        raise KeyboardInterrupt

    monkeypatch.setitem(root.commands, "boom", boom)
    monkeypatch.setattr("_signal.signal", lambda *a: None)  # (the handler for a second Ctrl-C: not in pytest)
    result = CliRunner().invoke(root, ["boom"])
    assert result.exit_code == 130
    assert result.stderr == "assay: interrupted\n"


def test_a_prompt_without_input_is_a_usage_error_and_a_prompts_ctrl_c_an_interrupt(
        monkeypatch: pytest.MonkeyPatch) -> None:
    @click.command()
    def ask() -> None:
        click.prompt("Password")

    @click.command()
    def ask_interrupted() -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise click.exceptions.Abort() from None  # as click's prompt ends on ^C

    monkeypatch.setitem(root.commands, "ask", ask)
    monkeypatch.setitem(root.commands, "ask-interrupted", ask_interrupted)
    monkeypatch.setattr("_signal.signal", lambda *a: None)
    assert CliRunner().invoke(root, ["ask"], input="").exit_code == 2  # not 1, a negative verdict
    assert CliRunner().invoke(root, ["ask-interrupted"]).exit_code == 130


def test_a_prompt_inside_a_real_command_is_not_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # every command is wrapped in handle_errors (as `assay user add`, which prompts for a password):
    # Ctrl-D or Ctrl-C at its prompt is click's Abort, which must reach the same contracts, not exit 3
    @click.command()
    @handle_errors
    def ask() -> None:
        click.prompt("Password", hide_input=True, confirmation_prompt=True)

    @click.command()
    @handle_errors
    def ask_interrupted() -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise click.exceptions.Abort() from None

    monkeypatch.setitem(root.commands, "ask", ask)
    monkeypatch.setitem(root.commands, "ask-interrupted", ask_interrupted)
    monkeypatch.setattr("_signal.signal", lambda *a: None)
    result = CliRunner().invoke(root, ["ask"], input="")
    assert result.exit_code == 2 and "internal error" not in result.output
    assert CliRunner().invoke(root, ["ask-interrupted"]).exit_code == 130


# -- 2. usage errors with --json ----------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["data", "log", "--json"],                               # a missing argument
    ["data", "add", "d", "--json"],                          # a missing option
    ["data", "add", "d", "--name", "ds", "--jobs", "abc", "--json"],  # not an integer
    ["data", "ls", "--bogus", "--json"],                     # an unknown option
    ["--json", "bogus"],                                     # an unknown command
], ids=lambda a: " ".join(a))
def test_usage_errors_with_json_print_a_json_error(ws: Workspace, cli, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    proc = cli(*args, check=2)
    doc = json.loads(proc.stdout)
    assert doc["error"] == "UsageError" and doc["message"] and "--help" in doc["hint"]
    assert "Usage:" in proc.stderr  # click's own text stays on stderr for people


def test_usage_errors_without_json_keep_stdout_empty(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("data", "ls", "--bogus", check=2)
    assert proc.stdout == "" and "No such option" in proc.stderr


# -- 3. lineage of what does not exist; short ids; data log NAME@REF -----------------------------

@pytest.mark.parametrize("node", ["run:does-not-exist", "record:nothing", "version:zzz", "run:0", "run:"])
def test_lineage_of_an_unknown_node_exits_2(ws: Workspace, cli, node: str) -> None:  # type: ignore[no-untyped-def]
    proc = cli("lineage", node, "--json", check=2)
    doc = json.loads(proc.stdout)
    assert doc["error"] in ("NotFoundError", "UsageError") and doc["hint"]
    with pytest.raises((NotFoundError, UsageError)):
        lineage(ws, node)


def test_lineage_takes_the_short_run_id_that_run_prints(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", "--out", "o=o", "--", PY, "-c", "import os; os.makedirs('o'); open('o/a', 'w').write('1')")
    short = proc.stderr.split()[1]
    assert len(short) == 12
    graph = cli.json("lineage", f"run:{short}")
    assert graph["root"].startswith(f"run:{short}") and len(graph["root"]) == len("run:") + 32
    assert [e["relation"] for e in graph["edges"]] == ["produced"]
    assert not any(n.get("missing") for n in graph["nodes"])
    label = next(n["label"] for n in graph["nodes"] if n["type"] == "run")
    assert cli("lineage", f"run:{short}").stdout.splitlines()[1:3] == [
        "this run:", f"  {label}  [run {short}, succeeded]  -->  o@v1"]


def test_an_ambiguous_prefix_is_refused(ws: Workspace) -> None:
    with ws.ledger.transaction() as tx:
        for ident in ("abcd" + "1" * 28, "abcd" + "2" * 28):
            tx.execute("INSERT INTO runs (id, kind, status, started_at) VALUES (?, 'command', 'succeeded', 'now')",
                       (ident,))
    with pytest.raises(UsageError, match="ambiguous"):
        assay.lineage.resolve_node(ws, "run:abcd")
    assert assay.lineage.resolve_node(ws, "run:abcd1") == "run:abcd" + "1" * 28


def test_lineage_says_when_a_versions_run_is_not_recorded_here(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # As for a version pulled from a remote: it names its run, which ran elsewhere.
    cli("run", "--out", "o=o", "--", PY, "-c", "import os; os.makedirs('o'); open('o/a', 'w').write('1')")
    with ws.ledger.transaction() as tx:
        tx.execute("DELETE FROM edges")
        tx.execute("DELETE FROM runs")
    graph = cli.json("lineage", "o@v1")
    assert graph["edges"] == [] and "has no record of" in graph["notes"][0]
    assert "note:" in cli("lineage", "o@v1").stderr


def test_data_log_of_a_ref_shows_that_version(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "d").mkdir()
    for text in ("1", "2"):
        (ws.root / "d" / "x").write_text(text)
        cli("data", "add", "d", "--name", "ds")
    doc = cli.json("data", "log", "ds@v1")
    assert doc["dataset"] == "ds" and [v["ref"] for v in doc["versions"]] == ["ds@v1"]
    assert cli("data", "log", "ds@v1").stdout.startswith("ds@v1")
    assert json.loads(cli("data", "log", "ds@v7", "--json", check=2).stdout)["error"] == "NotFoundError"


# -- 4. bad input is exit 2 with what to do, never 3 --------------------------------------------

@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("jobs", -1, "at least 0"),
    ("jobs", True, "at least 0"),
    ("chunk_avg", "1MiB", "from 4096 to 4194304"),
    ("chunk_avg", 100, "from 4096 to 4194304"),
    ("zstd_level", 23, "to 22"),
    ("pack_size", 0, "at least 1"),
    ("compression", "lz4", "'zstd' or 'none'"),
])
def test_config_errors_name_the_key_the_value_and_what_is_allowed(key: str, value: object, allowed: str) -> None:
    with pytest.raises(InputError) as err:
        Config.from_dict({"data": {key: value}}, source="c.toml")
    assert f"data.{key}" in err.value.message and repr(value) in err.value.message and allowed in err.value.message
    assert err.value.message.startswith("c.toml:") and err.value.hint


@pytest.mark.parametrize("raw", [{"data": 5}, {"remotes": []}, {"store_options": "x"}, {"ledger": 3},
                                 {"remotes": {"o": {"url": 1}}}])
def test_config_tables_of_the_wrong_type_are_input_errors(raw: dict[str, object]) -> None:
    with pytest.raises(InputError):
        Config.from_dict(raw)


@pytest.mark.parametrize(("old", "new"), [("chunk_avg = 1048576", 'chunk_avg = "1MiB"'), ("jobs = 0", "jobs = -1")])
def test_a_bad_setting_in_config_toml_exits_2(ws: Workspace, cli, old: str, new: str) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "d").mkdir()
    (ws.root / "d" / "x").write_text("x")
    config = ws.dir / "config.toml"
    assert old in config.read_text()
    config.write_text(config.read_text().replace(old, new))
    proc = cli("data", "add", "d", "--name", "ds", check=2)
    assert "config.toml: data." in proc.stderr and "internal error" not in proc.stderr


@pytest.mark.parametrize("command", [["data", "add", "d", "--name", "ds"], ["data", "push"], ["data", "pull"]])
def test_a_negative_jobs_is_a_usage_error(ws: Workspace, cli, command: list[str]) -> None:  # type: ignore[no-untyped-def]
    proc = cli(*command, "--jobs", "-2", "--json", check=2)
    assert "--jobs" in json.loads(proc.stdout)["message"]


def test_init_where_no_folder_can_be_made_exits_2(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "file").write_text("not a folder")
    proc = cli("init", str(tmp_path / "file" / "sub"), "--json", check=2)
    doc = json.loads(proc.stdout)
    assert doc["error"] == "InputError" and "cannot create a workspace" in doc["message"] and doc["hint"]


# -- 5, 6. assay run ----------------------------------------------------------------------------

def test_run_json_sends_the_commands_stdout_to_stderr(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", "--json", "--", PY, "-c", "print('hello from the command')")
    assert json.loads(proc.stdout)["status"] == "succeeded"
    assert "hello from the command" in proc.stderr
    assert "hello from the command" in cli("run", "--", PY, "-c", "print('hello from the command')").stdout
    assert "stderr" in cli("run", "--help").stdout


def test_run_refuses_an_output_name_given_twice(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", "--out", "same=a", "--out", "same=b", "--", "true", check=2)
    assert "same" in proc.stderr and "twice" in proc.stderr
    assert ws.ledger.query("SELECT COUNT(*) FROM runs")[0][0] == 0
    with pytest.raises(UsageError, match="twice"), track(ws) as run:
        run.output("same", "a")
        run.output("same", "b")


# -- 7. remote add ------------------------------------------------------------------------------

def test_remote_add_refuses_to_replace_unless_told(ws: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("remote", "add", "origin", str(tmp_path / "r1"))
    cli("remote", "add", "origin", str(tmp_path / "r1"))  # the same again: nothing to refuse
    proc = cli("remote", "add", "origin", str(tmp_path / "r2"), "--json", check=2)
    doc = json.loads(proc.stdout)
    assert "exists already" in doc["message"] and "--replace" in doc["hint"]  # as `assay user add`
    assert cli.json("remote", "list")["remotes"][0]["url"] == str(tmp_path / "r1")
    cli("remote", "add", "origin", str(tmp_path / "r2"), "--replace")
    assert cli.json("remote", "list")["remotes"][0]["url"] == str(tmp_path / "r2")


# -- 8. init in a workspace ---------------------------------------------------------------------

def test_init_in_a_workspace_says_so(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    first = cli("init")
    assert first.stdout.startswith("Initialized")
    again = cli("init")
    assert "already an assay workspace" in again.stdout and "Initialized" not in again.stdout
    assert cli.json("init")["created"] is False
    cli("init", "--ledger", "sqlite")  # what it has: fine
    proc = cli("init", "--ledger", "postgresql://u@h/db", check=2)
    assert "already an assay workspace" in proc.stderr
    assert Config.load(tmp_path / ".assay" / "config.toml").ledger == "sqlite"


# -- the library behind them -------------------------------------------------------------------

def test_the_library_keeps_the_same_contracts(ws: Workspace, tmp_path: Path) -> None:
    from assay.data import add, add_remote, log
    from assay.errors import InputError, UsageError

    (ws.root / "d").mkdir()
    (ws.root / "d" / "x").write_text("x")
    with pytest.raises(UsageError, match="jobs"):
        add(ws, [ws.root / "d"], name="ds", jobs=-2)
    add(ws, [ws.root / "d"], name="ds")
    (ws.root / "d" / "x").write_text("y")
    add(ws, [ws.root / "d"], name="ds")
    assert [v.number for v in log(ws, "ds")] == [2, 1]
    assert [v.number for v in log(ws, "ds@v1")] == [1]
    add_remote(ws, "origin", str(tmp_path / "r1"))
    assert not (tmp_path / "r1").exists()  # not made: the first push makes it
    with pytest.raises(UsageError, match="exists already"):
        add_remote(ws, "origin", str(tmp_path / "r2"))
    add_remote(ws, "origin", str(tmp_path / "r2"), replace=True)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(InputError, match="cannot use"):
        add_remote(ws, "other", str(tmp_path / "file" / "sub"))
    with pytest.raises(InputError, match="cannot create a workspace"):
        Workspace.init(tmp_path / "file" / "ws")


def test_remote_add_takes_a_relative_folder_from_the_current_folder(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "sub").mkdir()
    out = cli("remote", "add", "rel", "../myremote", cwd=ws.root / "sub").stdout
    assert "rel -> myremote" in out  # inside the workspace: kept relative to its root
    assert f"note: {ws.root / 'myremote'} does not exist yet" in out  # not made (the first push makes it)
    assert not (ws.root / "myremote").exists() and not (ws.root.parent / "myremote").exists()
    out = cli("remote", "add", "up", "../../away", cwd=ws.root / "sub").stdout
    assert f"up -> {ws.root.parent / 'away'}" in out
