"""A pull's messages name versions as `data log` shows them (the hash prefix a REF takes), and
give both numbers where the remote's differs from this workspace's."""

from __future__ import annotations

import time
from pathlib import Path


def _workspace(cli, root: Path, remote: Path) -> Path:  # type: ignore[no-untyped-def]
    cli("init", str(root))
    cli("remote", "add", "origin", str(remote), cwd=root)
    (root / "data").mkdir()
    (root / "data" / "f").write_text(f"{root.name}'s data")
    return root


def test_pull_notes_use_the_hash_data_log_shows_and_both_numbers(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote"
    alice, bob = (_workspace(cli, tmp_path / w, remote) for w in ("alice", "bob"))
    cli("data", "add", "data", "--name", "customers", cwd=alice, env={"LOGNAME": "alice"})
    cli("data", "push", cwd=alice)
    theirs = cli.json("data", "log", "customers", cwd=alice)["versions"][0]
    cli("data", "add", "data", "--name", "customers", cwd=bob)  # bob's own v1
    proc = cli("data", "pull", "customers@v1", cwd=bob)
    note = next(line for line in proc.stderr.splitlines() if line.startswith("note:"))
    snap = theirs["snapshot"][:12]
    assert f"origin's customers@v1 ({snap})" in note and "is customers@v2 here" in note, note
    assert "origin's v1, here v2" in note and f"customers@{snap} names it in both" in note, note
    assert theirs["id"][:12] not in note
    shown = cli("data", "log", "customers", cwd=bob).stdout
    assert ["customers@v2", snap] in [line.split()[:2] for line in shown.splitlines()]  # the hash log shows
    assert cli.json("data", "log", f"customers@{snap}", cwd=bob)["versions"][0]["number"] == 2  # and a REF takes it
    out = cli("data", "pull", "customers@v1", cwd=bob).stdout
    assert out == "nothing to pull: this workspace has origin's customers@v1 (here v2) already\n", out


def test_checkout_note_names_both_versions_by_their_hashes(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote"
    alice, bob, carol = (_workspace(cli, tmp_path / w, remote) for w in ("alice", "bob", "carol"))
    (carol / "data" / "f").unlink()
    for who in (alice, bob):
        cli("data", "add", "data", "--name", "ds", cwd=who)
        cli("data", "push", cwd=who)
        time.sleep(0.05)  # bob's is the later made
    snaps = {w.name: cli.json("data", "log", "ds", cwd=w)["versions"][0] for w in (alice, bob)}
    proc = cli("data", "pull", "--checkout", cwd=carol)
    note = next(line for line in proc.stderr.splitlines() if "checked out the later made" in line)
    a, b = snaps["alice"]["snapshot"][:12], snaps["bob"]["snapshot"][:12]
    assert f"the later made, ds@{b} (" in note and f"not ds@{a} (" in note, note
    assert f"`assay data checkout ds@{a}` writes that one" in note
    assert snaps["alice"]["id"][:12] not in note and snaps["bob"]["id"][:12] not in note
    cli("data", "checkout", f"ds@{a}", cwd=carol)
    assert (carol / "data" / "f").read_text() == "alice's data"
