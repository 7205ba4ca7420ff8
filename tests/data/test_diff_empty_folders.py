"""Two versions that differ only in their empty folders are different snapshots (a checkout of
each makes other folders): `data diff` says which folders, and that they changed."""

from __future__ import annotations

from assay.data import add, diff
from assay.workspace import Workspace


def test_diff_names_empty_folders_added_and_removed(ws: Workspace, cli) -> None:
    (ws.root / "d" / "empty").mkdir(parents=True)
    (ws.root / "d" / "a.txt").write_text("a")
    v1 = add(ws, ["d"], name="ds").version
    (ws.root / "d" / "empty").rmdir()
    (ws.root / "d" / "empty2").mkdir()
    v2 = add(ws, ["d"], name="ds").version
    assert v1.snapshot != v2.snapshot
    result = diff(ws, "ds@v1", "ds@v2")
    assert result.changed
    assert (result.folders_added, result.folders_removed) == (["d/empty2"], ["d/empty"])
    assert (result.added, result.removed, result.modified, result.unchanged) == ([], [], [], 1)
    assert not diff(ws, "ds@v1", "ds@v1").changed
    doc = cli.json("data", "diff", "ds@v1", "ds@v2", cwd=ws.root)
    assert doc["changed"] is True and doc["folders_added"] == ["d/empty2"] and doc["folders_removed"] == ["d/empty"]
    out = cli("data", "diff", "ds@v1", "ds@v2", cwd=ws.root).stdout
    assert "added     d/empty2/ (empty folder)" in out and "removed   d/empty/ (empty folder)" in out
