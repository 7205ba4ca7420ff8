"""A file whose name holds a backslash (a plain name on Linux) cannot be in a version: add says
which file and what to do, instead of "refusing path ... in a manifest" with no hint."""

from __future__ import annotations

import pytest

from assay.data import add, log
from assay.errors import InputError
from assay.workspace import Workspace


def test_add_names_the_file_with_a_backslash_and_how_to_leave_it_out(ws: Workspace, cli) -> None:
    (ws.root / "d").mkdir()
    (ws.root / "d" / "ok.txt").write_text("ok")
    (ws.root / "d" / "back\\slash.txt").write_text("x")
    with pytest.raises(InputError, match=r"d/back\\slash.txt: a name with a backslash cannot be tracked") as caught:
        add(ws, ["d"], name="ds")
    assert ".assayignore" in (caught.value.hint or "")
    proc = cli("data", "add", "d", "--name", "ds", check=2, cwd=ws.root)
    assert "a name with a backslash cannot be tracked" in proc.stderr and "hint:" in proc.stderr
    (ws.root / ".assayignore").write_text("*\\\\*\n")  # (a backslash escapes in patterns, as in .gitignore)
    assert add(ws, ["d"], name="ds").files == 1
    assert [v.ref for v in log(ws, "ds")] == ["ds@v1"]
