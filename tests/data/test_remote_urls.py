"""Remote URLs that could never keep what is pushed, or whose file system fails as it is made:
refused with exit 2 saying why (a memory:// push "succeeded" and was gone; ftp:// to a host that
does not resolve, and zip:// of a folder, crashed with exit 3)."""

from __future__ import annotations

import pytest

from assay.config import Remote
from assay.data import add, add_remote, push
from assay.errors import InputError, UsageError
from assay.workspace import Workspace


def test_a_memory_remote_is_refused_when_added_and_when_used(ws: Workspace, cli) -> None:
    (ws.root / "d").mkdir()
    (ws.root / "d" / "a").write_text("a")
    add(ws, ["d"], name="ds")
    with pytest.raises(UsageError, match="memory:// keeps its objects only while one assay command runs"):
        add_remote(ws, "m", "memory://bucket/prefix")
    assert "m" not in ws.config.remotes
    ws.config.remotes["m"] = Remote(name="m", url="MEMORY://bucket/prefix")  # as config.toml edited by hand
    ws.save_config()
    with pytest.raises(UsageError, match="cannot be a remote"):
        push(ws, remote="m")
    proc = cli("data", "push", "--remote", "m", check=2, cwd=ws.root)
    assert "cannot be a remote" in proc.stderr


@pytest.mark.parametrize("url", ["ftp://no-such-host.invalid/x", "zip:///"])
def test_a_store_that_fails_as_it_is_opened_is_an_input_error(ws: Workspace, cli, url: str) -> None:
    with pytest.raises(InputError, match="cannot open object store"):
        add_remote(ws, "r", url)
    proc = cli("remote", "add", "r", url, check=2, cwd=ws.root)
    assert "cannot open object store" in proc.stderr and "internal error" not in proc.stderr


@pytest.mark.parametrize("where", [".", ".assay/objects", "d", "d/store"])
def test_a_folder_remote_among_the_workspace_s_own_files_is_refused(ws: Workspace, cli, where: str) -> None:
    (ws.root / "d").mkdir()
    (ws.root / "d" / "a").write_text("a")
    add(ws, ["d"], name="ds")
    with pytest.raises(InputError, match="cannot use .* as a remote: (it is the workspace folder itself|it is inside a "
                                         r"\.assay or \.git folder|d(/store)? (is where|is inside d, where) dataset 'ds')"):
        add_remote(ws, "r", where)
    assert "r" not in ws.config.remotes
    cli("remote", "add", "r", where, check=2, cwd=ws.root)


def test_a_folder_remote_of_its_own_inside_the_workspace_is_fine(ws: Workspace) -> None:
    (ws.root / "team" / "d").mkdir(parents=True)
    (ws.root / "team" / "d" / "a").write_text("a")
    add(ws, ["team/d"], name="ds")
    add_remote(ws, "r", "remote")
    add_remote(ws, "t", "team")  # beside the dataset's folder, which it holds: a push writes team/packs, ...
    assert push(ws, remote="t").versions_transferred == ["ds@v1"]
    assert (ws.root / "team" / "packs").is_dir() and sorted(p.name for p in (ws.root / "team" / "d").iterdir()) == ["a"]
