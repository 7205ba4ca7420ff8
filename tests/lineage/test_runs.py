"""What a run records when it fails, is ended by a signal, or makes nothing new; and what
it refuses before its command runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import assay
from assay.data import add, log, resolve
from assay.errors import InputError, UsageError
from assay.lineage import lineage, run_command
from assay.workspace import Workspace
from tests.conftest import ASSAY

PY = sys.executable
MAKE_A = "import os; os.makedirs('outa', exist_ok=True); open('outa/f', 'w').write('x')"


def versions(ws: Workspace) -> int:
    return int(ws.ledger.query("SELECT COUNT(*) FROM versions")[0][0])


def test_a_run_that_fails_on_its_second_output_makes_no_version_of_the_first(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match="missing does not exist"):
        run_command(ws, [PY, "-c", MAKE_A], outputs={"aa": "outa", "bb": "missing"}, cwd=ws.root)
    assert versions(ws) == 0
    assert ws.ledger.query("SELECT status FROM runs")[0][0] == "failed"
    with pytest.raises(UsageError, match="missing does not exist"), assay.track(ws) as run:
        run.output("aa", "outa")
        run.output("bb", "missing")
    assert versions(ws) == 0 and run.status == "failed" and not run.produced
    proc = cli("run", "--json", "--out", "aa=outa", "--out", "bb=missing", "--", PY, "-c", MAKE_A, check=2)
    assert "missing does not exist" in json.loads(proc.stdout)["message"]
    assert versions(ws) == 0


def test_a_run_its_outputs_failed_records_why(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", "--json", "--out", "aa=outa", "--out", "bb=missing", "--", PY, "-c", MAKE_A, check=2)
    message = json.loads(proc.stdout)["message"]
    run_id = ws.ledger.query("SELECT id FROM runs")[0][0]
    node = next(n for n in cli.json("lineage", f"run:{run_id}")["nodes"] if n["id"] == f"run:{run_id}")
    assert node["status"] == "failed" and node["exit_code"] == 0 and node["failure"] == message
    assert "failure" not in node["env"] and "python" in node["env"]
    text = cli("lineage", f"run:{run_id[:12]}").stdout
    assert "status:      failed (exit 0)\n  failure:     output bb: " in text and "environment:" in text
    assert "failure=" not in text
    # a command that failed by itself says so by its exit code: no failure is recorded
    cli("run", "--", PY, "-c", "raise SystemExit(3)", check=3)
    rows = ws.ledger.query("SELECT env FROM runs WHERE status = 'failed' AND exit_code = 3")
    assert "failure" not in json.loads(rows[0][0])


def test_a_disk_error_on_a_later_output_records_no_version_of_the_earlier_ones(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from assay.data import _add

    real = _add._snapshot_paths

    def full_on_b(ws_: Workspace, sources: list[str], **kw: object):  # type: ignore[no-untyped-def]
        if sources == ["outb"]:  # the first output is stored by now, not yet recorded
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(ws_, sources, **kw)

    monkeypatch.setattr(_add, "_snapshot_paths", full_on_b)
    make_both = MAKE_A + "; os.makedirs('outb', exist_ok=True); open('outb/g', 'w').write('y')"
    with pytest.raises(OSError, match="No space left"):
        run_command(ws, [PY, "-c", make_both], outputs={"aa": "outa", "bb": "outb"}, cwd=ws.root)
    assert versions(ws) == 0
    assert ws.ledger.query("SELECT status FROM runs")[0][0] == "failed"
    assert ws.ledger.query("SELECT COUNT(*) FROM edges WHERE relation = 'produced'")[0][0] == 0
    monkeypatch.setattr(_add, "_snapshot_paths", real)
    again = run_command(ws, [PY, "-c", make_both], outputs={"aa": "outa", "bb": "outb"}, cwd=ws.root)
    assert again.status == "succeeded" and sorted(v.ref for v in again.produced) == ["aa@v1", "bb@v1"]
    assert assay.data.verify(ws, all_objects=True).ok


@pytest.mark.parametrize("out, says", [("bad/name=out", "invalid dataset name"), ("x=../elsewhere", "outside the workspace"),
                                       ("clf=out", "is a model, not a dataset")])
def test_an_output_that_cannot_be_versioned_is_refused_before_the_command_runs(ws: Workspace, cli, out: str,  # type: ignore[no-untyped-def]
                                                                              says: str) -> None:
    (ws.root / "m.py").write_text("def predict(X):\n    return X\n")
    cli("model", "add", "clf", "m.py:predict")
    proc = cli("run", "--out", out, "--", PY, "-c", "open('ran', 'w').write('1')", check=2)
    assert says in proc.stderr
    assert not (ws.root / "ran").exists()  # refused before the command ran
    assert ws.ledger.query("SELECT COUNT(*) FROM runs")[0][0] == 0


def test_an_output_identical_to_an_existing_version_is_reproduced_not_produced(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "raw").mkdir()
    (ws.root / "raw" / "a.txt").write_text("a")
    add(ws, ["raw"], name="raw")
    run = run_command(ws, ["true"], inputs=["raw@v1"], outputs={"raw": "raw"}, cwd=ws.root)
    assert run.status == "succeeded" and not run.produced and [v.ref for v in run.unchanged] == ["raw@v1"]
    raw = resolve(ws, "raw@v1")
    assert raw.run_id is None and len(log(ws, "raw")) == 1
    graph = lineage(ws, "raw@v1")
    assert (f"run:{run.id}", raw.node, "reproduced") in graph.edges
    assert not any(r == "produced" for _, _, r in graph.edges)
    assert lineage(ws, "raw@v1", down=False).edges == [(f"run:{run.id}", raw.node, "reproduced")]
    # A second run that makes the same features from another input version: feat@v1 is still
    # built from raw@v1 only, and not downstream of raw@v2.
    make = "import os; os.makedirs('feat', exist_ok=True); open('feat/f', 'w').write('1')"
    first = run_command(ws, [PY, "-c", make], inputs=["raw@v1"], outputs={"feat": "feat"}, cwd=ws.root)
    (ws.root / "raw" / "a.txt").write_text("b")
    add(ws, ["raw"], name="raw")
    second = run_command(ws, [PY, "-c", make], inputs=["raw@v2"], outputs={"feat": "feat"}, cwd=ws.root)
    assert [v.ref for v in second.unchanged] == ["feat@v1"] and len(log(ws, "feat")) == 1
    up = lineage(ws, "feat@v1", down=False)
    assert {info["label"] for info in up.nodes.values() if info["type"] == "version"} == {"raw@v1", "feat@v1"}
    assert (f"run:{second.id}", resolve(ws, "feat@v1").node, "reproduced") in up.edges
    assert not any(s == resolve(ws, "raw@v2").node for s, _, _ in up.edges)
    from assay.lineage import downstream_versions

    assert downstream_versions(ws, [resolve(ws, "raw@v2")]) == []
    assert [d["ref"] for d in downstream_versions(ws, [resolve(ws, "raw@v1")])] == ["feat@v1"]
    assert first.produced[0].ref == "feat@v1"
    doc = json.loads(cli("run", "--json", "--in", "raw@v2", "--out", "feat=feat", "--", PY, "-c", make).stdout)
    assert doc["outputs"] == [] and doc["unchanged"] == ["feat@v1"]


def test_a_produced_edge_recorded_earlier_to_a_version_the_run_did_not_make_reads_as_reproduced(ws: Workspace) -> None:
    (ws.root / "raw").mkdir()
    (ws.root / "raw" / "a.txt").write_text("a")
    raw = add(ws, ["raw"], name="raw").version
    run = run_command(ws, ["true"], inputs=["raw@v1"], outputs={"raw": "raw"}, cwd=ws.root)
    # As the ledger of an earlier assay holds it: a cycle raw@v1 -> run -> raw@v1.
    ws.ledger.execute("UPDATE edges SET relation = 'produced' WHERE relation = 'reproduced'")
    graph = lineage(ws, "raw@v1")
    assert set(graph.edges) == {(raw.node, f"run:{run.id}", "input_of"), (f"run:{run.id}", raw.node, "reproduced")}


def test_a_command_a_signal_ends_exits_as_a_shell_would(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("run", "--json", "--out", "o=o", "--", PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
               check=137)
    doc = json.loads(proc.stdout)
    assert doc["status"] == "failed" and doc["exit_code"] == 137 and doc["signal"] == "SIGKILL"
    assert "failed (exit 137, SIGKILL)" in cli("lineage", f"run:{doc['id']}").stdout
    assert "exit 137, SIGKILL" in cli("run", "--", PY, "-c", "import os; os.kill(os.getpid(), 9)", check=137).stderr
    assert versions(ws) == 0


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_end_the_command_and_record_the_run_failed(ws: Workspace, signum: int) -> None:
    script = ("import os, time; os.makedirs('o', exist_ok=True); open('o/f', 'w').write('1'); "
              "open('started', 'w').write(str(os.getpid())); time.sleep(60)")
    # (SIGHUP's default restored: under `nohup` the test run passes it on ignored, and assay
    # rightly leaves an ignored SIGHUP ignored)
    proc = subprocess.Popen([*ASSAY, "run", "--json", "--out", "o=o", "--", PY, "-c", script], cwd=ws.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ASSAY_PROGRESS": "0"},
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    wait_for(ws.root / "started")
    time.sleep(0.2)
    proc.send_signal(signum)  # to assay alone, not to the command's process group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    doc = json.loads(out)
    assert doc["status"] == "failed" and doc["terminated_by"] == signal.Signals(signum).name
    child = int((ws.root / "started").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # the command was ended too
    assert ws.ledger.query("SELECT status, exit_code FROM runs")[0] == ("failed", -signum)
    assert ws.ledger.query("SELECT ended_at FROM runs")[0][0] is not None
    assert versions(ws) == 0


def test_sigterm_in_a_tracked_block_records_the_run_failed(ws: Workspace) -> None:
    script = ("import os, signal, assay\n"
              "ws = assay.Workspace.open()\n"
              "with assay.track(ws) as run:\n"
              "    os.makedirs('m', exist_ok=True); open('m/w', 'w').write('1'); run.output('m', 'm')\n"
              "    os.kill(os.getpid(), signal.SIGTERM)\n"
              "    open('after', 'w').write('the block went on')\n")
    proc = subprocess.run([PY, "-c", script], cwd=ws.root, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 143, proc.stderr
    assert not (ws.root / "after").exists()
    assert ws.ledger.query("SELECT status, exit_code FROM runs")[0] == ("failed", -signal.SIGTERM) and versions(ws) == 0


def test_sys_exit_0_in_a_tracked_block_is_success(ws: Workspace) -> None:
    for code in (0, None):
        with pytest.raises(SystemExit), assay.track(ws) as run:
            (ws.root / "m").mkdir(exist_ok=True)
            (ws.root / "m" / "w").write_text(str(code))
            run.output("m", "m")
            sys.exit(code)
        assert run.status == "succeeded" and run.produced
    with pytest.raises(SystemExit), assay.track(ws) as run:
        (ws.root / "m" / "w").write_text("2")
        run.output("m", "m")
        sys.exit(2)
    assert run.status == "failed" and len(log(ws, "m")) == 2
    assert ws.ledger.query("SELECT exit_code FROM runs WHERE id = ?", (run.id,))[0][0] == 2


def test_two_versions_of_one_dataset_as_inputs_are_refused_with_a_reason(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "ds").mkdir()
    (ws.root / "ds" / "a").write_text("1")
    add(ws, ["ds"], name="ds")
    (ws.root / "ds" / "a").write_text("2")
    add(ws, ["ds"], name="ds")
    proc = cli("run", "--in", "ds@v1", "--in", "ds@v2", "--", "true", check=2)
    assert "ds@v1 and ds@v2 are both inputs" in proc.stderr and "--no-input-check" in proc.stderr
    run = run_command(ws, ["true"], inputs=["ds@v2", "ds@v2", "ds@latest"])  # one version, named thrice
    assert [v.ref for v in run.inputs] == ["ds@v2"]
    run = run_command(ws, ["true"], inputs=["ds@v1", "ds@v2"], check_inputs=False)
    assert [v.ref for v in run.inputs] == ["ds@v1", "ds@v2"]


def test_a_run_shows_its_whole_record(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    long = [PY, "-c", "import os; os.makedirs('m', exist_ok=True); open('m/w', 'w').write('w')",
            "--epochs", "100", "--batch-size", "64", "--seed", "1", "--note", "x" * 80]
    run = run_command(ws, long, outputs={"long": "m"}, cwd=ws.root)
    with assay.track(ws, params={"lr": 0.01, "layers": [64, 32]}) as tracked:
        (ws.root / "m" / "w").write_text("v2")
        tracked.output("model", "m", allow_overlap=True)  # (the folder of output long: shared, as asked)
    doc = cli.json("lineage", f"run:{run.id[:12]}")
    node = next(n for n in doc["nodes"] if n["id"] == f"run:{run.id}")
    assert node["command"] == long and node["status"] == "succeeded" and node["ended_at"] >= node["started_at"]
    assert {"python", "platform", "packages_hash"} <= set(node["env"])
    text = cli("lineage", f"run:{run.id[:12]}").stdout
    assert "--seed 1 --note " + "x" * 80 in text and "outputs:     long@v1" in text and "environment:" in text
    node = cli.json("lineage", "model@v1")["nodes"]
    label = next(n["label"] for n in node if n["type"] == "run")
    assert label.startswith("python ") and "lr=0.01" in label and label != "python"
    assert next(n for n in node if n["type"] == "run")["params"] == {"lr": 0.01, "layers": [64, 32]}
    text = cli("lineage", f"run:{tracked.id}").stdout
    assert '"lr": 0.01' in text and "kind:        python" in text


def test_bad_outputs_are_refused_by_the_api_before_anything_is_recorded(ws: Workspace) -> None:
    made = [PY, "-c", "open('ran', 'w').write('1')"]
    with pytest.raises(UsageError, match="invalid dataset name"):
        run_command(ws, made, outputs={"bad/name": "out"}, cwd=ws.root)
    with pytest.raises(UsageError, match="outside the workspace"):
        run_command(ws, made, outputs={"x": "../elsewhere"}, cwd=ws.root)
    (ws.root / "clf").mkdir()
    (ws.root / "clf" / "w").write_text("w")
    add(ws, ["clf"], name="clf", kind="model")
    with pytest.raises(InputError, match="is a model"):
        run_command(ws, made, outputs={"clf": "out"}, cwd=ws.root)
    assert not (ws.root / "ran").exists() and ws.ledger.query("SELECT COUNT(*) FROM runs")[0][0] == 0


def test_a_run_says_what_adding_its_outputs_found_worth_saying(ws, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The notes an add gives (names that clash on macOS and Windows) reach the run's output."""
    script = "import os; os.makedirs('out', exist_ok=True); open('out/A.csv', 'w').write('1'); open('out/a.csv', 'w').write('2')"
    doc = json.loads(cli("run", "--json", "--out", "out=out", "--", sys.executable, "-c", script).stdout)
    assert any("A.csv" in w and "a.csv" in w for w in doc["warnings"]), doc.get("warnings")
    proc = cli("run", "--out", "out2=out2", "--", sys.executable, "-c", script.replace("'out", "'out2"))
    assert "warning:" in proc.stderr and "A.csv" in proc.stderr


def test_a_tracked_output_is_a_version_only_after_the_block(ws: Workspace) -> None:
    """output() declares (returns None: the files may still change); the block's end makes the version."""
    with assay.track(ws) as run:
        (ws.root / "feat").mkdir()
        assert run.output("feat", "feat") is None and run.produced == []
        (ws.root / "feat" / "f").write_text("written after output() was called")
    assert [v.ref for v in run.produced] == ["feat@v1"]
    assert "``run.output(...)`` returns None" in (assay.track.__doc__ or "")
    assert "run.produced" in (assay.lineage.Run.output.__doc__ or "")
