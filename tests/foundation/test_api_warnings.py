"""What a result's ``warnings`` says reaches Python's :mod:`warnings` too, at the user's line,
as an AssayWarning; the command line prints each once and never crashes on them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import assay
from assay.data import add, add_remote, checkout, pull, push
from assay.data._add import _snapshot_paths
from assay.data._snapshot import Snapshot
from assay.data._versions import record_version, save_snapshot
from assay.errors import AssayWarning
from assay.lineage import run_command, track
from assay.workspace import Workspace

PY = sys.executable


@contextmanager
def caught() -> Iterator[list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        yield said


def _here(said: list[warnings.WarningMessage]) -> list[tuple[str, int]]:
    """Where each AssayWarning points: (file, line); each must be one."""
    assert all(w.category is AssayWarning for w in said), [(w.category, str(w.message)) for w in said]
    return [(w.filename, w.lineno) for w in said]


def _line() -> int:
    return sys._getframe(1).f_lineno


def test_assay_warning_is_a_user_warning_exported_with_the_errors() -> None:
    assert issubclass(AssayWarning, UserWarning) and not issubclass(AssayWarning, assay.AssayError)
    assert assay.AssayWarning is AssayWarning and "AssayWarning" in assay.errors.__all__
    assert AssayWarning.__doc__ and "warnings" in AssayWarning.__doc__


def test_an_add_s_warnings_point_at_the_user_s_call(ws: Workspace) -> None:
    (ws.root / "empty").mkdir()
    with caught() as said:
        line = _line() + 1
        result = add(ws, "empty", name="blank")
    assert result.warnings == ["blank@v1 holds no files: the folder was empty"]
    assert [str(w.message) for w in said] == result.warnings
    assert _here(said) == [(__file__, line)]


def test_a_checkout_s_warnings_point_at_the_user_s_call(ws: Workspace) -> None:
    (ws.root / "raw").mkdir()
    (ws.root / "raw" / "a").write_text("1")
    add(ws, ["raw"], name="raw")
    with caught() as said:
        add(ws, ["raw"], name="raw2", allow_overlap=True)  # (shared folder: said by the add)
    assert len(said) == 1 and "where dataset 'raw' was added from too" in str(said[0].message)
    (ws.root / "raw" / "a").write_text("2")
    with caught():
        add(ws, ["raw"], name="raw")
    checkout(ws, "raw@v1")
    with caught() as said:
        line = _line() + 1
        result = checkout(ws, "raw@v2")
    assert len(result.warnings) == 1 and [str(w.message) for w in said] == result.warnings
    assert _here(said) == [(__file__, line)]


def test_a_pull_says_what_its_checkout_left_out_at_the_user_s_call(ws: Workspace, tmp_path: Path) -> None:
    (ws.root / "payload").mkdir()
    (ws.root / "payload" / "hook").write_text("#!/bin/sh\n")
    with ws.lock():
        snap, _, _, _ = _snapshot_paths(ws, ["payload"])
    hook = snap.files["payload/hook"]
    evil = Snapshot({"data/.git/hooks/post-checkout": hook, "data/x": hook})
    save_snapshot(ws.store, evil)
    record_version(ws, "innocent", evil, sources=["data"])  # (as an untrusted remote could hold it)
    add_remote(ws, "origin", str(tmp_path / "remote"), default=True)
    push(ws, "innocent@v1")
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", str(tmp_path / "remote"), default=True)
    with caught() as said:
        line = _line() + 1
        result = pull(clone, "innocent@v1", checkout=True)
    assert [str(w.message) for w in said] == [n for n in result.notes if "post-checkout" in n]
    assert len(said) == 1 and _here(said) == [(__file__, line)]
    clone.close()


def test_a_tracked_block_s_warnings_point_at_its_lines(ws: Workspace) -> None:
    (ws.root / "raw").mkdir()
    (ws.root / "raw" / "a").write_text("1")
    add(ws, ["raw"], name="raw")
    (ws.root / "out").mkdir()
    with caught() as said:
        with_line = _line() + 1
        with track(ws, inputs=["raw@v1"]) as run:
            output_line = _line() + 1
            run.output("shared", "raw", allow_overlap=True)
            run.output("nothing", "out")
    assert [str(w.message) for w in said] == run.warnings
    assert run.warnings[0].startswith("output shared: raw is where dataset 'raw' was added from too")
    # said once, though the add and the run's end both see it
    assert run.warnings.count("nothing@v1 holds no files: the folder was empty") == 1
    # the declaration's at its line; what the run's end finds, at the `with`
    assert _here(said) == [(__file__, output_line)] + [(__file__, with_line)] * (len(said) - 1)


def test_an_output_s_overlap_is_said_once_not_again_by_its_add(ws: Workspace) -> None:
    # Said as "output o: ..." when declared, and again as "dataset 'o': ..." by the add at the
    # run's end: twice in run.warnings, on stderr, and as AssayWarnings.
    (ws.root / "raw").mkdir()
    (ws.root / "raw" / "a").write_text("1")
    add(ws, ["raw"], name="raw")
    with caught() as said:
        with track(ws, inputs=["raw@v1"]) as run:
            run.output("shared", "raw", allow_overlap=True)
        again = run_command(ws, [PY, "-c", "pass"], outputs={"again": "raw"}, allow_overlap=True, cwd=ws.root)
    assert len(run.warnings) == 1 and run.warnings[0].startswith("output shared: raw is where dataset 'raw'")
    assert len(again.warnings) == 2 and all(w.startswith("output again: raw is where dataset ") for w in again.warnings)
    assert [str(w.message) for w in said] == run.warnings + again.warnings


def test_an_overlap_made_an_error_leaves_the_output_declared(ws: Workspace) -> None:
    (ws.root / "raw").mkdir()
    (ws.root / "raw" / "a").write_text("1")
    add(ws, ["raw"], name="raw")
    with warnings.catch_warnings():
        warnings.simplefilter("error", AssayWarning)
        with track(ws, inputs=["raw@v1"]) as run:
            with pytest.raises(AssayWarning, match="output shared"):
                run.output("shared", "raw", allow_overlap=True)
    assert [v.ref for v in run.produced] == ["shared@v1"]


def test_run_command_s_warnings_point_at_the_user_s_call(ws: Workspace) -> None:
    (ws.root / "out").mkdir()
    with caught() as said:
        line = _line() + 1
        run = run_command(ws, [PY, "-c", "pass"], outputs={"nothing": "out"}, cwd=ws.root)
    assert run.warnings == ["nothing@v1 holds no files: the folder was empty"]
    assert [str(w.message) for w in said] == run.warnings and _here(said) == [(__file__, line)]


def test_a_model_registration_s_warnings_point_at_the_user_s_call(ws: Workspace) -> None:
    from assay.models import register_model

    (ws.root / "d").mkdir()
    (ws.root / "d" / "a").write_text("a")
    add(ws, ["d"], name="d")
    (index,) = (ws.dir / "objects" / "packs").glob("*.idx")
    index.write_bytes(b"")  # damaged: the add says so, and stores its chunks again
    with caught() as said:
        line = _line() + 1
        result = register_model(Workspace.open(ws.root), "m", "json:loads", flavor="python", validate=False)
    assert result.warnings and [str(w.message) for w in said] == result.warnings
    assert _here(said) == [(__file__, line)] * len(said)


def test_no_result_warnings_no_python_warnings(ws: Workspace) -> None:
    (ws.root / "d").mkdir()
    (ws.root / "d" / "a").write_text("a")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        add(ws, ["d"], name="d")
        checkout(ws, "d@v1")
        with track(ws, inputs=["d@v1"]):
            pass


def test_a_filter_makes_them_errors_after_the_work_is_done(ws: Workspace) -> None:
    (ws.root / "empty").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("error", AssayWarning)
        with pytest.raises(AssayWarning, match="holds no files"):
            add(ws, ["empty"], name="blank")
    assert [v for (v,) in ws.ledger.query("SELECT number FROM versions")] == [1]


@pytest.mark.parametrize("how", ["plain", "json", "-W error", "PYTHONWARNINGS=error"])
def test_the_cli_prints_a_warning_once_and_never_crashes_on_it(ws: Workspace, how: str) -> None:
    (ws.root / "empty").mkdir()
    python = [PY, "-W", "error"] if how == "-W error" else [PY]
    env = {"ASSAY_PROGRESS": "0", **({"PYTHONWARNINGS": "error"} if how == "PYTHONWARNINGS=error" else {})}
    args = [*python, "-m", "assay", "data", "add", "empty", "--name", "blank", *(["--json"] if how == "json" else [])]
    proc = subprocess.run(args, cwd=ws.root, capture_output=True, text=True, env={**os.environ, **env}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    said = "blank@v1 holds no files: the folder was empty"
    if how == "json":  # said in the document, once, and nowhere else
        assert json.loads(proc.stdout)["warnings"] == [said] and proc.stdout.count(said) == 1
        assert proc.stderr == ""
    else:
        assert proc.stderr == f"warning: {said}\n" and said not in proc.stdout
