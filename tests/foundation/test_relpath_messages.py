"""What add (and run --out) say of the workspace folder and of a path inside .assay: each its
own reason ("'.assay/x is the workspace itself'" was wrong, and an empty path printed as nothing)."""

from __future__ import annotations

import pytest

from assay.errors import UsageError
from assay.workspace import Workspace


@pytest.mark.parametrize(("path", "said"), [(".", ". is the workspace folder itself"),
                                            ("", "'' is the workspace folder itself"),
                                            (".assay/x", ".assay/x is inside the workspace's own .assay folder")])
def test_relpath_says_which_refusal(ws: Workspace, path: str, said: str) -> None:
    with pytest.raises(UsageError, match="^" + said) as caught:
        ws.relpath(path)
    assert caught.value.hint and "name the data files or folders to track" in caught.value.hint


def test_add_and_run_out_say_the_same(ws: Workspace, cli) -> None:
    assert ".assay/foo is inside the workspace's own .assay folder" in cli(
        "run", "--out", "x=.assay/foo", "--", "true", check=2, cwd=ws.root).stderr
    assert "is the workspace folder itself" in cli("data", "add", ".", "--name", "x", check=2, cwd=ws.root).stderr
