"""An emptied folder does not silently become a dataset's latest version."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from assay.data import add, log
from assay.errors import UsageError
from assay.lineage import run_command
from assay.workspace import Workspace

PY = sys.executable


def _emptied(ws: Workspace) -> None:
    (ws.root / "data" / "small").mkdir(parents=True)
    for i in range(3):
        (ws.root / "data" / "small" / f"{i}.csv").write_text(f"id\n{i}\n")
    add(ws, ["data"], name="customers")
    shutil.rmtree(ws.root / "data" / "small")  # a crashed checkout leaves the folder empty
    (ws.root / "data" / "small").mkdir()


def test_an_empty_version_after_one_with_files_is_refused_unless_allowed(ws: Workspace) -> None:
    _emptied(ws)
    with pytest.raises(UsageError, match=r"customers@v2 would hold no files, while its latest version, "
                                         r"customers@v1 \([0-9a-f]{12}\), has 3 files") as info:
        add(ws, ["data"], name="customers")
    assert "--allow-empty" in (info.value.hint or "")
    assert [v.number for v in log(ws, "customers")] == [1]
    result = add(ws, ["data"], name="customers", allow_empty=True)
    assert result.created and result.files == 0
    assert any("customers@v2 holds no files, while customers@v1 had 3 files" in w for w in result.warnings)


def test_cli_refuses_with_exit_2_and_allow_empty_records_it(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    _emptied(ws)
    proc = cli("data", "add", "data", "--name", "customers", check=2)
    assert "has 3 files" in proc.stderr and "--allow-empty" in proc.stderr
    proc = cli("data", "add", "data", "--name", "customers", "--allow-empty")
    assert "customers@v2" in proc.stdout and "warning: customers@v2 holds no files" in proc.stderr


def test_the_first_version_of_an_empty_folder_is_recorded_with_a_warning(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "nothing").mkdir()
    proc = cli("data", "add", "nothing", "--name", "blank")
    assert "blank@v1" in proc.stdout and "warning: blank@v1 holds no files" in proc.stderr
    (ws.root / "nothing" / "a").write_text("a")
    cli("data", "add", "nothing", "--name", "blank")


def test_a_run_output_that_comes_out_empty_is_recorded_with_a_warning_in_its_record(ws: Workspace) -> None:
    _emptied(ws)
    run = run_command(ws, [PY, "-c", "pass"], outputs={"customers": "data"}, cwd=ws.root)
    assert run.status == "succeeded" and [v.ref for v in run.produced] == ["customers@v2"]
    assert any("customers@v2 holds no files, while customers@v1 had 3 files" in w for w in run.warnings)
    (env,), = ws.ledger.query("SELECT env FROM runs WHERE id = ?", (run.id,))
    assert any("holds no files" in w for w in json.loads(env)["warnings"])
