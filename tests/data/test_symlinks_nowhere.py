"""A symlink in a dataset's folder that leads nowhere (a loop, or a dangling one) is left out
of the version and said, as one that leads outside is: a loop crashed add and status (exit 3),
a dangling one vanished from the version silently."""

from __future__ import annotations

import os

from assay.data import add, status
from assay.workspace import Workspace


def test_add_and_status_skip_symlink_loops_and_dangling_links_with_a_warning(ws: Workspace, cli) -> None:
    d = ws.root / "d"
    d.mkdir()
    (d / "f.txt").write_text("x")
    os.symlink("loop2", d / "loop1")
    os.symlink("loop1", d / "loop2")
    os.symlink("nowhere", d / "dangling")
    result = add(ws, ["d"], name="ds", jobs=1)
    assert result.files == 1
    assert result.warnings == ["skipped d/dangling: dangling symlink (what it points to does not exist)",
                               "skipped d/loop1: symlink loop (it leads back to itself)",
                               "skipped d/loop2: symlink loop (it leads back to itself)"]
    assert not status(ws, "ds").dirty
    (d / "f.txt").write_text("y")
    doc = cli.json("data", "add", "d", "--name", "ds", cwd=ws.root)  # the forked walk and the CLI too
    assert doc["files"] == 1 and len(doc["warnings"]) == 3
    assert cli.json("data", "status", "ds", cwd=ws.root)["clean"] is True


def test_a_named_source_that_is_a_symlink_loop_is_refused_and_a_status_finds_it_gone(ws: Workspace, cli) -> None:
    os.symlink("top", ws.root / "top")
    proc = cli("data", "add", "top", "--name", "l", check=2, cwd=ws.root)  # (exit 3, OSError ELOOP, before)
    assert "top is a symlink loop" in proc.stderr
    (ws.root / "t").mkdir()
    (ws.root / "t" / "a").write_text("a")
    add(ws, ["t"], name="t")
    (ws.root / "t").rename(ws.root / "moved")
    os.symlink("t", ws.root / "t")
    found = status(ws, "t")
    assert not found.checked_out and found.removed == ["t/a"]
