"""`data status` on a dataset whose files are not in this workspace (a teammate's, on a
shared ledger; one pulled without --checkout): not checked out here, not N removed files."""

from __future__ import annotations

import shutil
from pathlib import Path


def test_a_dataset_with_none_of_its_files_here_reads_as_not_checked_out(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init", str(tmp_path))
    for name in ("mine", "theirs"):
        (tmp_path / name).mkdir()
        for i in range(3):
            (tmp_path / name / f"f{i}").write_text(f"{name} {i}")
        cli("data", "add", name, "--name", name)
    shutil.rmtree(tmp_path / "theirs")
    (tmp_path / "mine" / "f0").unlink()
    text = cli("data", "status").stdout
    assert "theirs: not checked out here (3 files in theirs@v1); `assay data checkout theirs@v1`" in text
    assert "removed   theirs/" not in text
    assert "removed   mine/f0" in text  # some of its files here: the others were removed
    out = cli.json("data", "status")
    by_name = {d["dataset"]: d for d in out["datasets"]}
    assert by_name["theirs"]["checked_out"] is False and len(by_name["theirs"]["removed"]) == 3
    assert by_name["mine"]["checked_out"] is True and by_name["mine"]["removed"] == ["mine/f0"]
