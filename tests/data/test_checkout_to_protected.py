"""`checkout --to` never writes into a .assay or .git folder: the workspace's own store, ledger
and temp folder (whose leftovers the next command sweeps) are no place for a version's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.data import add, checkout
from assay.errors import UsageError
from assay.workspace import Workspace


@pytest.mark.parametrize("to", [".assay/tmp/out", ".assay/objects/x", ".assay", ".git/x", "elsewhere/.git/hooks"])
def test_checkout_to_refuses_a_folder_inside_assay_or_git(ws: Workspace, tmp_path: Path, to: str) -> None:
    (ws.root / "d").mkdir()
    (ws.root / "d" / "a.csv").write_text("x\n1\n")
    add(ws, ["d"], name="ds")
    (ws.root / ".git").mkdir()
    target = ws.root / to if not to.startswith("elsewhere") else tmp_path.parent / f"{tmp_path.name}-{to}"
    with pytest.raises(UsageError, match="inside a .assay or .git folder"):
        checkout(ws, "ds@v1", to=target)
    assert not (target / "d" / "a.csv").exists()


def test_checkout_to_a_folder_beside_them_still_writes(ws: Workspace, cli) -> None:
    (ws.root / "d").mkdir()
    (ws.root / "d" / "a.csv").write_text("x\n1\n")
    add(ws, ["d"], name="ds")
    checkout(ws, "ds@v1", to=ws.root / "copy" / ".assayx")  # a name like them is only a name
    assert (ws.root / "copy" / ".assayx" / "d" / "a.csv").read_text() == "x\n1\n"
    proc = cli("data", "checkout", "ds@v1", "--to", ".assay/tmp/out", check=2, cwd=ws.root)
    assert "never writes into" in proc.stderr and not (ws.root / ".assay" / "tmp" / "out").exists()


@pytest.mark.parametrize("to", ["d", "d/copy", "d/sub/copy"])
def test_checkout_to_refuses_a_folder_inside_a_dataset_s_folder(ws: Workspace, to: str) -> None:
    (ws.root / "d" / "sub").mkdir(parents=True)
    (ws.root / "d" / "sub" / "a.csv").write_text("x\n1\n")
    add(ws, ["d"], name="ds")
    with pytest.raises(UsageError, match="that dataset 'ds' was added from: the files checked out there would become its own files"):
        checkout(ws, "ds@v1", to=ws.root / to)
    assert sorted(p.relative_to(ws.root).as_posix() for p in (ws.root / "d").rglob("*")) == ["d/sub", "d/sub/a.csv"]
    checkout(ws, "ds@v1", to=ws.root / "beside")  # a folder of its own inside the workspace is fine
    assert (ws.root / "beside" / "d" / "sub" / "a.csv").is_file()
    add(ws, ["beside"], name="copy")  # another dataset's folder may be meant: a copy refreshed, then added
    checkout(ws, "ds@v1", to=ws.root / "beside", force=True)
