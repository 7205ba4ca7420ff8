"""A damaged pack index does not stop adds, and mends without a remote."""

from __future__ import annotations

import os

from assay.data import add, checkout, repair, verify
from assay.workspace import Workspace


def test_an_add_goes_on_past_a_damaged_index_and_a_repair_needs_no_remote(ws: Workspace, tmp_path, cli) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "d").mkdir()
    files = {f"f{i}": os.urandom(100_000) for i in range(5)}
    for name, data in files.items():
        (ws.root / "d" / name).write_bytes(data)
    add(ws, [ws.root / "d"], name="ds")
    (index,) = (ws.dir / "objects" / "packs").glob("*.idx")
    index.write_bytes(b"")  # emptied: its pack is whole
    (ws.dir / "objects" / "packs" / "deadbeef.idx").write_text("junk")  # a stray file
    fresh = Workspace.open(ws.root)
    (ws.root / "e").mkdir()
    (ws.root / "e" / "x").write_text("new data")
    result = add(fresh, [ws.root / "e"], name="other")
    assert result.created and any("is damaged" in w and "pull --repair" in w for w in result.warnings)
    assert not verify(Workspace.open(ws.root), all_objects=True).ok
    assert ws.config.default_remote is None
    mended = repair(Workspace.open(ws.root))
    assert mended.ok, mended.to_dict()
    assert "no remote configured" in mended.source
    assert verify(Workspace.open(ws.root), all_objects=True).ok
    checkout(Workspace.open(ws.root), "ds", to=tmp_path / "out")
    for name, data in files.items():
        assert (tmp_path / "out" / "d" / name).read_bytes() == data
    assert cli("data", "pull", "--repair", cwd=ws.root).returncode == 0
