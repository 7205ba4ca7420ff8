"""What a remote that lacks a version says of what it holds: every version (two workspaces that
each pushed a v2 make two versions of one number, which were counted as one), and, for a name it
lacks, the command that lists its datasets (it pointed at this workspace's, `assay data ls`)."""

from __future__ import annotations

from pathlib import Path


def test_a_remote_s_versions_are_counted_and_its_datasets_pointed_at(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        root.mkdir()
        cli("init", cwd=root)
        cli("remote", "add", "origin", str(tmp_path / "origin"), cwd=root)
    (a / "d").mkdir()
    (a / "d" / "f").write_text("1")
    cli("data", "add", "d", "--name", "ds", cwd=a)
    cli("data", "push", cwd=a)
    cli("data", "pull", "ds", "--checkout", cwd=b)
    for root, text in ((a, "from a"), (b, "from b")):  # each makes its own v2
        (root / "d" / "f").write_text(text)
        cli("data", "add", "d", "--name", "ds", cwd=root)
        cli("data", "push", cwd=root)
    err = cli("data", "ls", "ds@v9", "--remote", "origin", cwd=a, check=2).stderr
    assert "origin holds 3 versions of ds: v1, v2 (2 versions: name one by its hash prefix)" in err
    err = cli("data", "log", "nosuch", "--remote", "origin", cwd=a, check=2).stderr
    assert "`assay data log --remote origin` lists the datasets it holds" in err
