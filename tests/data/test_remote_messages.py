"""What pull and verify (--remote) say of a remote, or a workspace, that lacks what was asked
or holds nothing (found by new-user trials: a mistyped name or remote URL, or an empty
workspace, read as success or gave no lead)."""

from __future__ import annotations

from pathlib import Path

from assay.workspace import Workspace


def _pushed(ws: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "d").mkdir()
    (ws.root / "d" / "a.txt").write_text("a\n")
    for name in ("iris", "wine"):
        cli("data", "add", "d", "--name", name, "--allow-overlap")
    cli("remote", "add", "origin", str(tmp_path / "origin"))
    cli("data", "push")


def test_pull_of_a_name_the_remote_lacks_names_the_remote_and_what_it_holds(ws: Workspace, cli,  # type: ignore[no-untyped-def]
                                                                            tmp_path: Path) -> None:
    _pushed(ws, cli, tmp_path)
    (tmp_path / "other").mkdir()
    cli("remote", "add", "other", str(tmp_path / "other"))
    for ref in ("nosuch", "nosuch@v9", "nosuch@latest"):
        err = cli("data", "pull", ref, check=2).stderr
        assert f"remote origin ({tmp_path / 'origin'}) has no dataset named 'nosuch'; it holds 'iris', 'wine'" in err
        assert f"`assay data pull {ref} --remote NAME` asks another remote (other)" in err
    doc = cli.json("data", "pull", "nosuch", check=2)
    assert doc["remote"] == "origin" and doc["remote_datasets"] == ["iris", "wine"]
    # a version it lacks, of a name it holds: the same exit code, and the versions it has
    err = cli("data", "pull", "iris@v9", check=2).stderr
    assert "remote origin" in err and "has no version iris@v9" in err and "origin holds 1 version of iris: v1" in err
    # the name is this workspace's: push it there
    err = cli("data", "pull", "iris", "--remote", "other", check=2).stderr
    assert "remote other" in err and "holds no versions at all" in err
    assert "`assay data log iris`" in err and "`assay data push iris --remote other`" in err
    assert "check its URL (`assay remote list`)" in err
    err = cli("data", "verify", "nosuch", "--remote", "origin", check=2).stderr
    assert "remote origin" in err and "no dataset named 'nosuch'" in err and "`assay data verify nosuch --remote NAME`" in err


def test_an_empty_remote_is_said_to_hold_nothing_not_to_be_verified(ws: Workspace, cli,  # type: ignore[no-untyped-def]
                                                                   tmp_path: Path) -> None:
    # a folder that is there and empty (one not there is said not to exist: test_remote_add_checks)
    _pushed(ws, cli, tmp_path)
    (tmp_path / "mistyped").mkdir()
    cli("remote", "add", "r", str(tmp_path / "mistyped"))
    out = cli("data", "verify", "--remote", "r").stdout
    assert out.startswith("nothing to verify: remote r holds no versions at all, so nothing was checked")
    assert "ok" not in out and "`assay remote list`" in out
    doc = cli.json("data", "verify", "--remote", "r")
    assert doc["ok"] is True and doc["empty"] is True and doc["checked_chunks"] == 0
    assert cli.json("data", "verify", "--remote", "origin")["empty"] is False
    pulled = cli("data", "pull", "--remote", "r")
    assert pulled.stdout.startswith("nothing to pull: remote r holds no versions at all")
    assert "check its URL (`assay remote list`)" in pulled.stdout


def test_a_workspace_without_versions_is_said_to_hold_nothing_not_to_be_verified(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # "ok: 0 chunks" read as a clean bill of health for a workspace nothing was added to
    out = cli("data", "verify").stdout
    assert out.startswith(f"nothing to verify: this workspace ({ws.root}) holds no versions at all")
    assert "ok:" not in out and "`assay data add PATH --name NAME`" in out
    doc = cli.json("data", "verify")
    assert doc["ok"] is True and doc["empty"] is True and doc["checked_chunks"] == 0
    (ws.root / "d").mkdir()
    (ws.root / "d" / "a.txt").write_text("a\n")
    cli("data", "add", "d", "--name", "d")
    assert cli("data", "verify").stdout.startswith("ok: 1 chunk")
    assert cli.json("data", "verify")["empty"] is False
