"""`push NAME --all-versions` and `pull NAME --all-versions`: every version of one dataset
(NAME alone moves its latest; no NAME, every version of every dataset)."""

from __future__ import annotations

from pathlib import Path

from assay.data import log, pull, push
from assay.workspace import Workspace


def _three_versions(ws: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "d").mkdir()
    for text in ("one", "two", "three"):
        (ws.root / "d" / "a.txt").write_text(text)
        cli("data", "add", "d", "--name", "ds")
    (ws.root / "o").mkdir()
    (ws.root / "o" / "b.txt").write_text("other")
    cli("data", "add", "o", "--name", "other")
    cli("remote", "add", "origin", str(tmp_path / "origin"))


def test_push_and_pull_every_version_of_one_dataset(ws: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _three_versions(ws, cli, tmp_path)
    assert cli.json("data", "push", "ds")["versions_sent"] == ["ds@v3"]
    sent = cli.json("data", "push", "ds", "--all-versions")
    assert sent["versions_sent"] == ["ds@v1", "ds@v2"] and sent["versions_already_there"] == ["ds@v3"]
    assert "pushed 0 versions" not in cli("data", "push", "ds", "--all-versions").stdout  # all there: said so
    with Workspace.open(ws.root) as here:  # (the fixture's was opened before the remote was added)
        assert push(here, "ds", every_version=True).versions_already_there == ["ds@v1", "ds@v2", "ds@v3"]
    # the other dataset stayed here
    clone = tmp_path / "clone"
    clone.mkdir()
    cli("init", cwd=clone)
    cli("remote", "add", "origin", str(tmp_path / "origin"), cwd=clone)
    assert cli.json("data", "pull", "ds", cwd=clone)["versions_sent"] == ["ds@v3"]  # the newest only
    pulled = cli.json("data", "pull", "ds", "--all-versions", cwd=clone)
    assert pulled["versions_sent"] == ["ds@v1", "ds@v2"] and pulled["versions_already_there"] == ["ds@v3"]
    assert cli("data", "pull", "other", cwd=clone, check=2).returncode == 2  # never pushed
    there = Workspace.open(clone)
    try:
        assert sorted(v.id for v in log(there, "ds")) == sorted(v.id for v in log(ws, "ds"))
        assert pull(there, "ds", every_version=True).versions_transferred == []
    finally:
        there.close()


def test_all_versions_takes_a_name_alone(ws: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _three_versions(ws, cli, tmp_path)
    for args in (("push", "ds@v2", "--all-versions"), ("push", "--all-versions"), ("pull", "ds@v2", "--all-versions"),
                 ("pull", "--all-versions")):
        err = cli("data", *args, check=2).stderr
        assert "--all-versions (every_version=True) takes a dataset NAME" in err, args
    assert cli.json("data", "push", "nosuch", "--all-versions", check=2)["error"] == "NotFoundError"
    cli("data", "push")
    err = cli("data", "pull", "nosuch", "--all-versions", check=2).stderr
    assert "remote origin" in err and "no dataset named 'nosuch'" in err
    for command in ("push", "pull"):
        err = cli("data", command, "ds", "--repair", "--all-versions", check=2).stderr
        assert "--all-versions does not go with it" in err
