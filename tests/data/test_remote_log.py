"""`assay data log --remote` and `assay data ls --remote`: a remote's versions and files,
read from its refs and snapshots, without a pull."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.data import add, add_remote, log, pull, push, remote_log, remote_ls
from assay.errors import NotFoundError
from assay.workspace import Workspace


@pytest.fixture
def team(tmp_path: Path, store_url: tuple[str, dict]) -> tuple[Workspace, Workspace]:
    """alice pushed customers@v1 and v2 to origin; bob has his own v1, then pulled her v1."""
    url, options = store_url
    alice, bob = Workspace.init(tmp_path / "alice"), Workspace.init(tmp_path / "bob")
    for ws in (alice, bob):
        add_remote(ws, "origin", url, default=True, options=options)
    (alice.root / "d").mkdir()
    (alice.root / "d" / "a.csv").write_text("id\n1\n")
    add(alice, [alice.root / "d"], name="customers", message="first cut")
    (alice.root / "d" / "b.csv").write_text("id\n2\n")
    add(alice, [alice.root / "d"], name="customers", message="second\nmore")
    push(alice, "customers@v1")
    push(alice, "customers@v2")
    (bob.root / "e").mkdir()
    (bob.root / "e" / "x").write_text("bob's")
    add(bob, [bob.root / "e"], name="customers")
    pull(bob, "customers@v1")  # here it is bob's v2
    return alice, bob


def test_remote_log_lists_the_remote_numbers_and_where_each_is_here(team: tuple[Workspace, Workspace]) -> None:
    alice, bob = team
    doc = remote_log(bob, "customers", remote="origin")
    assert [v["ref"] for v in doc["versions"]] == ["customers@v2", "customers@v1"]
    theirs = {v.number: v for v in log(alice, "customers")}
    assert [v["id"] for v in doc["versions"]] == [theirs[2].id, theirs[1].id]
    assert [v["snapshot"] for v in doc["versions"]] == [theirs[2].snapshot, theirs[1].snapshot]
    assert [v["here"] for v in doc["versions"]] == [None, "customers@v2"]
    assert doc["versions"][1]["message"] == "first cut" and doc["versions"][1]["files"] == 1
    assert doc["versions"][0]["pushed_at"] and doc["versions"][0]["by"]
    one = remote_log(bob, f"customers@{theirs[2].snapshot[:12]}", remote="origin")["versions"]
    assert [v["number"] for v in one] == [2]
    names = remote_log(bob, remote="origin")["datasets"]
    assert [(d["name"], d["versions"], d["latest"]["ref"]) for d in names] == [("customers", 2, "customers@v2")]
    with pytest.raises(NotFoundError, match="has no dataset named 'nope'"):
        remote_log(bob, "nope", remote="origin")


def test_remote_ls_reads_the_snapshot_only(team: tuple[Workspace, Workspace]) -> None:
    alice, bob = team
    version, files = remote_ls(bob, "customers@v2", remote="origin")
    assert version["ref"] == "customers@v2" and version["here"] is None
    assert [f["path"] for f in files] == ["d/a.csv", "d/b.csv"]
    packs_before = sorted(p.name for p in (bob.dir / "objects").rglob("*") if p.is_file())
    remote_ls(bob, "customers", remote="origin")  # the remote's latest
    assert sorted(p.name for p in (bob.dir / "objects").rglob("*") if p.is_file()) == packs_before
    with pytest.raises(NotFoundError, match="has no version customers@v7"):
        remote_ls(bob, "customers@v7", remote="origin")


def test_cli_remote_log_and_ls(team: tuple[Workspace, Workspace], cli) -> None:  # type: ignore[no-untyped-def]
    _, bob = team
    out = cli("data", "log", "customers", "--remote", "origin", cwd=bob.root).stdout.splitlines()
    assert out[0].startswith("customers@v2") and "second …" in out[0] and "(not here)" in out[0]
    assert out[1].startswith("customers@v1") and "first cut" in out[1] and "(here v2)" in out[1]
    doc = cli.json("data", "log", "--remote", "origin", cwd=bob.root)
    assert doc["datasets"][0]["name"] == "customers" and doc["datasets"][0]["latest"]["version"] == "v2"
    assert "customers" in cli("data", "log", "--remote", "origin", cwd=bob.root).stdout
    doc = cli.json("data", "ls", "customers@v1", "--remote", "origin", cwd=bob.root)
    assert [f["path"] for f in doc["files"]] == ["d/a.csv"] and doc["version"]["here"] == "customers@v2"
    assert json.loads(cli("data", "ls", "customers@v2", "--remote", "origin", "--json", cwd=bob.root).stdout)["files"]
    cli("data", "ls", "--remote", "origin", check=2, cwd=bob.root)
    cli("data", "log", check=2, cwd=bob.root)
