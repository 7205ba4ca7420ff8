"""run_record: a run's record as a typed object, not dug out of a lineage graph's nodes."""

from __future__ import annotations

import sys

import pytest

from assay.data import add
from assay.errors import NotFoundError
from assay.lineage import RunRecord, run_command, run_record
from assay.workspace import Workspace


def test_a_run_reads_back_with_what_it_read_and_made(ws: Workspace) -> None:
    (ws.root / "raw").mkdir()
    (ws.root / "raw" / "a.txt").write_text("a")
    add(ws, ["raw"], name="raw")
    (ws.root / "feat").mkdir()
    (ws.root / "feat" / "f.txt").write_text("f")
    run = run_command(ws, [sys.executable, "-c", "pass"], inputs=["raw@v1"], outputs={"feat": "feat"}, cwd=ws.root)

    record = run_record(ws, run.id[:12])  # the prefix `assay run` prints
    assert isinstance(record, RunRecord)
    assert record.id == run.id and record.node == f"run:{run.id}"
    assert (record.kind, record.status, record.exit_code) == ("command", "succeeded", 0)
    assert record.inputs == ["raw@v1"] and record.produced == ["feat@v1"] and record.reproduced == []
    assert record.command[0] == sys.executable and record.started_at <= (record.ended_at or "")
    assert record.failure is None and record.signal is None and not record.abandoned and record.pulled_from is None
    assert run_record(ws, f"run:{run.id}") == record
    assert record.to_dict()["produced"] == ["feat@v1"]


def test_a_failed_run_says_how(ws: Workspace) -> None:
    run = run_command(ws, [sys.executable, "-c", "raise SystemExit(3)"], cwd=ws.root)
    record = run_record(ws, run.id)
    assert (record.status, record.exit_code, record.produced) == ("failed", 3, [])


def test_an_unknown_run_is_not_found(ws: Workspace) -> None:
    with pytest.raises(NotFoundError):
        run_record(ws, "0123456789ab")
