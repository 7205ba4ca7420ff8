"""What a new user reading the README meets next: a remote whose latest number names two
versions, `assay data log` without NAME, a mistyped remote name."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.data import add, add_remote, push, remote_log, remove_remote
from assay.errors import NotFoundError
from assay.workspace import Workspace


@pytest.fixture
def two_v2(tmp_path: Path) -> tuple[Workspace, dict[str, str]]:
    """Two workspaces that each added their own ds@v2 and pushed it to one folder remote;
    a third workspace that has pulled nothing."""
    remote = tmp_path / "remote"
    remote.mkdir()
    made: dict[str, str] = {}
    for who in ("a", "b"):
        ws = Workspace.init(tmp_path / who)
        add_remote(ws, "origin", str(remote))
        (ws.root / "d").mkdir()
        (ws.root / "d" / "f.txt").write_text("base")
        add(ws, [ws.root / "d"], name="ds")
        (ws.root / "d" / "f.txt").write_text(f"{who}'s work")
        made[who] = add(ws, [ws.root / "d"], name="ds").version.snapshot
        push(ws)
        ws.close()
    third = Workspace.init(tmp_path / "third")
    add_remote(third, "origin", str(remote))
    return third, made


def test_remote_log_says_when_the_latest_number_names_two_versions(two_v2, cli) -> None:  # type: ignore[no-untyped-def]
    # `assay data pull ds` refuses ds@latest there as ambiguous: the listing must not pick one
    # of the two as "latest" without saying so.
    third, made = two_v2
    (entry,) = remote_log(third, remote="origin")["datasets"]
    assert sorted(entry["latest_ambiguous"]) == sorted(f"ds@{s[:12]}" for s in made.values())
    out = cli("data", "log", "--remote", "origin", cwd=third.root).stdout
    assert "latest v2 names 2 versions" in out
    assert all(s[:12] in out for s in made.values())


def test_remote_log_latest_is_not_ambiguous_where_one_version_has_the_top_number(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "w")
    add_remote(ws, "origin", str(tmp_path / "remote"))
    (ws.root / "d").mkdir()
    (ws.root / "d" / "f.txt").write_text("x")
    add(ws, [ws.root / "d"], name="ds")
    push(ws)
    (entry,) = remote_log(ws, remote="origin")["datasets"]
    assert entry["latest_ambiguous"] == [] and entry["latest"]["ref"] == "ds@v1"


def test_data_log_without_name_points_to_data_ls(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("data", "log", check=2, cwd=ws.root)
    assert "assay data ls" in proc.stderr


def test_remote_remove_of_a_mistyped_name_names_the_known_remotes(ws: Workspace, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    add_remote(ws, "origin", str(tmp_path / "r"))
    with pytest.raises(NotFoundError) as caught:
        remove_remote(ws, "orgin")
    assert caught.value.hint and "origin" in caught.value.hint
    assert "known remotes: origin" in cli("remote", "remove", "orgin", check=2, cwd=ws.root).stderr


def test_data_ls_remote_without_ref_checks_the_remote_name_first(ws: Workspace, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    add_remote(ws, "origin", str(tmp_path / "r"))
    proc = cli("data", "ls", "--remote", "orgin", check=2, cwd=ws.root)
    assert "no remote named 'orgin'" in proc.stderr and "`assay data log --remote orgin`" not in proc.stderr


def test_a_first_version_whose_files_were_all_left_out_is_not_called_an_empty_folder(ws: Workspace) -> None:
    (ws.root / "links").mkdir()
    (ws.root / "links" / "h").symlink_to("/etc/hostname")  # outside the workspace: skipped
    warnings = add(ws, ["links"], name="links").warnings
    assert any(w.startswith("skipped links/h") for w in warnings)
    assert "links@v1 holds no files: each file there was left out (skipped or ignored, as said)" in warnings
    (ws.root / ".assayignore").write_text("*.tmp\n")
    (ws.root / "junk").mkdir()
    (ws.root / "junk" / "a.tmp").write_text("x")
    assert any("each file there was left out" in w for w in add(ws, ["junk"], name="junk").warnings)
    (ws.root / "empty").mkdir()
    assert "empty@v1 holds no files: the folder was empty" in add(ws, ["empty"], name="empty").warnings


def test_remotes_written_by_hand_with_no_default_are_not_called_none(ws: Workspace, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    # The README's config.toml shows [remotes.origin] alone: a push must not say "no remote configured".
    (tmp_path / "r").mkdir()
    config = ws.dir / "config.toml"
    config.write_text(config.read_text() + f'\n[remotes.origin]\nurl = "{tmp_path / "r"}"\n')
    proc = cli("data", "push", check=2, cwd=ws.root)
    assert "no remote configured" not in proc.stderr
    assert "no default remote" in proc.stderr and "--remote origin" in proc.stderr
    assert 'default_remote = "origin"' in proc.stderr
    assert "no default remote" in cli("data", "pull", "--repair", check=2, cwd=ws.root).stderr
    cli("data", "push", "--remote", "origin", cwd=ws.root)


def test_init_inside_another_workspace_warns(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    env = {"ASSAY_HOME": ""}
    cli("init", str(tmp_path / "outer"), env=env)
    (tmp_path / "outer" / "sub").mkdir()
    proc = cli("init", env=env, cwd=tmp_path / "outer" / "sub")
    assert f"is inside the workspace {(tmp_path / 'outer').resolve()}" in proc.stderr
    doc = cli.json("init", str(tmp_path / "outer" / "sub2"), env=env)
    assert any("is inside the workspace" in w for w in doc["warnings"])
    assert "warning" not in cli("init", str(tmp_path / "alone"), env=env).stderr
    assert "warning" not in cli("init", env=env, cwd=tmp_path / "outer" / "sub").stderr  # already there: nothing new


def test_top_level_help_lists_every_exit_code_the_readme_names(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    text = " ".join(cli("--help", cwd=tmp_path).stdout.split())
    for said in ("0 ok / passed", "1 negative verdict", "2 usage or input error", "3 internal error",
                 "130 interrupted", "143 / 129 ended by SIGTERM / SIGHUP", "`assay run` exits with its command's own"):
        assert said in text


def test_checkout_says_which_local_files_it_would_overwrite_and_which_remove(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    from assay.data import checkout
    from assay.errors import UsageError

    (ws.root / "data").mkdir()
    (ws.root / "data" / "a.csv").write_text("id\n1\n")
    add(ws, ["data"], name="customers")
    (ws.root / "data" / "a.csv").write_text("id\n2\n")
    (ws.root / "data" / "mine.txt").write_text("kept elsewhere?")
    with pytest.raises(UsageError) as caught:
        checkout(ws, "customers@v1")
    assert caught.value.message == ("customers has local changes that checkout would lose: it would overwrite "
                                    "data/a.csv; it would remove data/mine.txt")
    (ws.root / "data" / "a.csv").write_text("id\n1\n")
    assert "would lose: it would remove data/mine.txt" in cli("data", "checkout", "customers@v1", check=2).stderr
