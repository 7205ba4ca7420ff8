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


def test_checkout_of_a_newest_number_two_workspaces_pushed_is_refused_naming_both(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # `pull NAME` refused such a version as ambiguous, while `pull --checkout` checked out the
    # later made with a note: one rule now, an actionable refusal before anything is fetched.
    remote = tmp_path / "remote"
    alice, bob, carol = (_workspace(cli, tmp_path / w, remote) for w in ("alice", "bob", "carol"))
    (carol / "data" / "f").unlink()
    for who in (alice, bob):
        cli("data", "add", "data", "--name", "ds", cwd=who)
        cli("data", "push", cwd=who)
        time.sleep(0.05)  # bob's is the later made
    snaps = {w.name: cli.json("data", "log", "ds", cwd=w)["versions"][0] for w in (alice, bob)}
    a, b = snaps["alice"]["snapshot"][:12], snaps["bob"]["snapshot"][:12]
    for args in (("ds",), ("ds", "--checkout"), ("--checkout",)):
        proc = cli("data", "pull", *args, cwd=carol, check=2)
        assert f"ds@{a}" in proc.stderr and f"ds@{b}" in proc.stderr, proc.stderr
        assert snaps["alice"]["id"][:12] not in proc.stderr and snaps["bob"]["id"][:12] not in proc.stderr
    assert "cannot tell which version of ds to check out: 2 versions on the remote have its newest number, 1" in proc.stderr
    assert "`assay data pull ds@HASH --checkout`" in proc.stderr and "pull without --checkout" in proc.stderr
    assert not (carol / "data" / "f").exists() and "no dataset or model named" in cli("data", "log", "ds", cwd=carol, check=2).stderr
    cli("data", "pull", f"ds@{a}", "--checkout", cwd=carol)
    assert (carol / "data" / "f").read_text() == "alice's data"
    cli("data", "pull", cwd=carol)  # without --checkout: both, nothing chosen
    assert len(cli.json("data", "log", "ds", cwd=carol)["versions"]) == 2
    cli("data", "checkout", f"ds@{b}", cwd=carol)
    assert (carol / "data" / "f").read_text() == "bob's data"
