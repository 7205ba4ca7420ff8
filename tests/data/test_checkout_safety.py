"""Checkout in place never overwrites what no version holds, and never writes into a
``.assay`` or ``.git`` folder; walks never take those folders as data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from assay.data import add, checkout, log, status
from assay.data._add import _snapshot_paths
from assay.data._snapshot import FileManifest, Snapshot
from assay.data._versions import record_version, save_snapshot
from assay.errors import UnsafePathError, UsageError
from assay.workspace import Workspace


def test_checkout_keeps_local_work_outside_the_dataset_s_current_folders(ws: Workspace) -> None:
    (ws.root / "d1").mkdir()
    (ws.root / "d2").mkdir()
    (ws.root / "d1" / "a").write_text("v1 content")
    (ws.root / "d2" / "b").write_text("two")
    add(ws, [ws.root / "d1"], name="ds")
    add(ws, [ws.root / "d2"], name="ds")  # the dataset now lives in d2: status looks only there
    (ws.root / "d1" / "a").write_text("my unsaved local work")
    assert not status(ws, "ds").dirty
    with pytest.raises(UsageError, match="not part of the version on disk: d1/a"):
        checkout(ws, "ds@v1")
    assert (ws.root / "d1" / "a").read_text() == "my unsaved local work"
    assert (ws.root / "d2" / "b").read_text() == "two"  # nothing was changed before the refusal
    checkout(ws, "ds@v1", force=True)
    assert (ws.root / "d1" / "a").read_text() == "v1 content"


def test_checkout_keeps_a_named_file_a_later_version_left_out(ws: Workspace) -> None:
    (ws.root / "train.csv").write_text("train v1")
    (ws.root / "test.csv").write_text("test v1")
    add(ws, [ws.root / "train.csv", ws.root / "test.csv"], name="ds")
    add(ws, [ws.root / "train.csv"], name="ds")
    (ws.root / "test.csv").write_text("a new test set, not added yet")
    with pytest.raises(UsageError, match="test.csv"):
        checkout(ws, "ds@v1")
    assert (ws.root / "test.csv").read_text() == "a new test set, not added yet"
    (ws.root / "test.csv").write_text("test v1")  # the same bytes as the version: nothing at risk
    assert checkout(ws, "ds@v1").unchanged == 2


def test_a_refused_checkout_leaves_no_new_folders(ws: Workspace) -> None:
    (ws.root / "d1" / "deep").mkdir(parents=True)
    (ws.root / "d1" / "deep" / "x").write_text("x1")
    (ws.root / "d1" / "a").write_text("a1")
    add(ws, [ws.root / "d1"], name="ds")
    (ws.root / "d2").mkdir()
    (ws.root / "d2" / "b").write_text("b")
    add(ws, [ws.root / "d2"], name="ds")
    (ws.root / "d1" / "deep" / "x").unlink()
    (ws.root / "d1" / "deep").rmdir()
    (ws.root / "d1" / "a").write_text("mine")
    with pytest.raises(UsageError):
        checkout(ws, "ds@v1")
    assert not (ws.root / "d1" / "deep").exists()


def payload(ws: Workspace, files: dict[str, str]) -> dict[str, FileManifest]:
    """The manifests of ``files`` (name -> text), stored, to place at any path of a forged version."""
    (ws.root / "payload").mkdir()
    for name, text in files.items():
        (ws.root / "payload" / name).write_text(text)
    with ws.lock():
        snap, _, _, _ = _snapshot_paths(ws, ["payload"])
    return {name: snap.files[f"payload/{name}"] for name in files}


def planted(ws: Workspace) -> None:
    """A version (as an untrusted remote could hold one) with paths into .assay and .git."""
    made = payload(ws, {"config.toml": '[remotes.origin]\nurl = "/elsewhere"\n', "hook": "#!/bin/sh\necho pwned\n"})
    cfg, hook = made["config.toml"], made["hook"]
    for files in ({".assay/config.toml": cfg, "data/readme.txt": hook},
                  {"data/.GIT/hooks/post-checkout": FileManifest(hook.size, 0o755, hook.chunks), "data/x": cfg}):
        evil = Snapshot(files)
        save_snapshot(ws.store, evil)
        record_version(ws, "innocent", evil, message="weekly export", sources=["data"])


def test_checkout_never_writes_into_a_workspace_or_git_folder(ws: Workspace, tmp_path: Path) -> None:
    planted(ws)
    config = (ws.dir / "config.toml").read_text()
    for ref, skipped, kept in (("innocent@v1", ".assay/config.toml", "data/readme.txt"),
                               ("innocent@v2", "data/.GIT/hooks/post-checkout", "data/x")):
        for target in (None, tmp_path / ref):
            result = checkout(ws, ref, to=target, force=True)
            # The rest of the version is checked out; the protected path is left out, and said.
            assert result.skipped == [skipped] and result.written == [kept]
            assert len(result.warnings) == 1 and skipped in result.warnings[0] and ".git folder" in result.warnings[0]
            root = ws.root if target is None else target
            assert (root / kept).is_file()
    assert (ws.dir / "config.toml").read_text() == config
    assert not any(ws.root.rglob("post-checkout")) and not any(tmp_path.rglob("post-checkout"))
    assert not (tmp_path / "innocent@v1" / ".assay").exists()
    assert [v.ref for v in log(ws, "innocent")] == ["innocent@v2", "innocent@v1"]  # the versions still load


def test_checkout_command_warns_of_what_it_left_out(ws: Workspace, tmp_path: Path) -> None:
    import subprocess
    import sys

    planted(ws)
    out = subprocess.run([sys.executable, "-m", "assay", "data", "checkout", "innocent@v2", "--to", str(tmp_path / "o")],
                         cwd=ws.root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "warning:" in out.stderr and "data/.GIT/hooks/post-checkout" in out.stderr
    assert (tmp_path / "o" / "data" / "x").is_file() and not (tmp_path / "o" / "data" / ".GIT").exists()
    js = subprocess.run([sys.executable, "-m", "assay", "data", "checkout", "innocent@v2", "--to", str(tmp_path / "j"),
                         "--json"], cwd=ws.root, capture_output=True, text=True)
    assert js.returncode == 0 and json.loads(js.stdout)["skipped"] == ["data/.GIT/hooks/post-checkout"]


def test_walks_leave_out_nested_workspaces_and_git_folders(ws: Workspace) -> None:
    inner = Workspace.init(ws.root / "d" / "inner")
    (ws.root / "d" / "inner" / "x.csv").write_text("a,b\n1,2\n")
    (ws.root / "d" / "repo" / ".git" / "hooks").mkdir(parents=True)
    (ws.root / "d" / "repo" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (ws.root / "d" / "repo" / "data.txt").write_text("data")
    (ws.root / "d" / "sub").mkdir()
    (ws.root / "d" / "sub" / ".git").write_text("gitdir: ../.git/modules/sub\n")  # a submodule's pointer file
    result = add(ws, [ws.root / "d"], name="ds")
    from assay.data import ls

    files = [f["path"] for f in ls(ws, "ds@v1")[1]]
    assert files == ["d/inner/x.csv", "d/repo/data.txt"]
    assert result.files == 2
    (ws.root / "d" / "repo" / ".git" / "HEAD").write_text("ref: refs/heads/other\n")
    (inner.dir / "config.toml").write_text((inner.dir / "config.toml").read_text() + "\n")
    assert not status(ws, "ds").dirty
    with pytest.raises(UsageError, match=r"\.assay or \.git"):
        add(ws, [ws.root / "d" / "repo" / ".git"], name="hooks")
    inner.close()


def test_checkout_between_a_file_and_a_folder_of_the_same_name(ws: Workspace, tmp_path: Path) -> None:
    (ws.root / "d").mkdir()
    (ws.root / "d" / "a.txt").write_text("v1")
    (ws.root / "d" / "b.txt").write_text("keep")
    add(ws, [ws.root / "d"], name="ds")
    (ws.root / "d" / "a.txt").unlink()
    (ws.root / "d" / "a.txt").mkdir()
    (ws.root / "d" / "a.txt" / "x").write_text("inner")
    add(ws, [ws.root / "d"], name="ds")
    checkout(ws, "ds@v1")  # the folder of v2 goes, its file was v2's
    assert (ws.root / "d" / "a.txt").read_text() == "v1"
    assert not status(ws, "ds@v1").dirty
    checkout(ws, "ds@v2")  # and back: v1's file goes to make way for the folder
    assert (ws.root / "d" / "a.txt" / "x").read_text() == "inner"
    assert not status(ws, "ds").dirty
    (ws.root / "d" / "a.txt" / "mine").write_text("not in any version")
    with pytest.raises(UsageError, match="mine"):
        checkout(ws, "ds@v1")  # an added file in the folder: refused, kept
    assert (ws.root / "d" / "a.txt" / "mine").read_text() == "not in any version"
    checkout(ws, "ds@v1", force=True)  # --force discards local changes, added files too
    assert (ws.root / "d" / "a.txt").read_text() == "v1"
    checkout(ws, "ds@v2")
    (ws.root / "d" / "a.txt" / "x").chmod(0o644)
    (tmp_path / "out" / "d").mkdir(parents=True)
    (tmp_path / "out" / "d" / "a.txt").write_text("in the way")
    with pytest.raises(UsageError, match="is a file where ds@v2 has a folder"):
        checkout(ws, "ds@v2", to=tmp_path / "out")
    checkout(ws, "ds@v2", to=tmp_path / "out", force=True)
    assert (tmp_path / "out" / "d" / "a.txt" / "x").read_text() == "inner"


def test_a_file_above_a_source_folder_is_refused_by_name_not_an_internal_error(ws: Workspace) -> None:
    # ds added from d/raw; a file d now stands where the version has folders: the source is
    # not there (status: its files removed), and checkout names the file in the way.
    (ws.root / "d" / "raw").mkdir(parents=True)
    (ws.root / "d" / "raw" / "a.txt").write_text("v1")
    add(ws, [ws.root / "d" / "raw"], name="ds")
    (ws.root / "d" / "raw" / "a.txt").unlink()
    (ws.root / "d" / "raw").rmdir()
    (ws.root / "d").rmdir()
    (ws.root / "d").write_text("mine")
    assert status(ws, "ds").removed == ["d/raw/a.txt"]
    with pytest.raises(UsageError, match="d is a file where ds@v1 has a folder"):
        checkout(ws, "ds@v1")
    assert (ws.root / "d").read_text() == "mine"


def test_a_name_that_is_not_utf8_is_refused_by_name(ws: Workspace) -> None:
    import os

    from assay.errors import InputError

    (ws.root / "d").mkdir()
    with open(os.path.join(os.fsencode(ws.root / "d"), b"caf\xe9.csv"), "wb") as fh:
        fh.write(b"x")
    (ws.root / "d" / "ok.txt").write_text("y")
    with pytest.raises(InputError, match=r"d/caf\\xe9.csv: its name is not valid UTF-8"):
        add(ws, [ws.root / "d"], name="ds")
    with pytest.raises(UsageError, match="not valid UTF-8"):
        add(ws, [os.fsdecode(os.path.join(os.fsencode(ws.root / "d"), b"caf\xe9.csv"))], name="ds")
    assert ws.ledger.query("SELECT COUNT(*) FROM versions")[0][0] == 0


def test_a_missing_snapshot_object_is_damage_with_the_repair_hint(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    from assay.errors import CorruptionError

    (ws.root / "d").mkdir()
    (ws.root / "d" / "x.csv").write_text("a\n1\n")
    v1 = add(ws, [ws.root / "d"], name="ds").version
    (ws.root / "d" / "x.csv").write_text("a\n2\n")
    add(ws, [ws.root / "d"], name="ds")
    (ws.dir / "objects" / "snapshots" / v1.snapshot).unlink()
    with pytest.raises(CorruptionError, match="is missing") as caught:
        checkout(Workspace.open(ws.root), "ds@v1", force=True)
    assert "pull --repair" in (caught.value.hint or "")
    out = cli("data", "diff", "ds@v1", "ds@v2", cwd=ws.root, check=1)
    assert "is missing" in out.stderr and "pull --repair" in out.stderr


def test_a_named_source_that_leads_outside_the_workspace_is_refused(ws: Workspace,
                                                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "s.txt").write_text("secret")
    (ws.root / "ext").symlink_to(outside)
    (ws.root / "e").mkdir()
    (ws.root / "e" / "link").symlink_to(outside)
    assert any("symlink points outside" in w for w in add(ws, [ws.root / "e"], name="e").warnings)
    with pytest.raises(UsageError, match="leads outside the workspace"):
        add(ws, [ws.root / "ext"], name="ext")
    assert ws.ledger.query("SELECT COUNT(*) FROM versions WHERE dataset = 'ext'")[0][0] == 0


def test_a_deleted_source_is_recorded_as_removed(ws: Workspace) -> None:
    import shutil

    (ws.root / "g").mkdir()
    (ws.root / "g" / "1").write_text("1")
    (ws.root / "h").mkdir()
    (ws.root / "h" / "2").write_text("2")
    add(ws, [ws.root / "g", ws.root / "h"], name="g")
    shutil.rmtree(ws.root / "g")
    assert status(ws, "g").removed == ["g/1"]
    result = add(ws, [ws.root / "g", ws.root / "h"], name="g")
    assert result.created and result.files == 1
    assert any("g is gone" in w for w in result.warnings)
    assert not status(ws, "g").dirty
    with pytest.raises(UsageError, match="does not exist"):
        add(ws, [ws.root / "nope"], name="g")  # not a source of the dataset: a mistake


def test_a_symlinked_folder_does_not_lead_around_the_refusal(ws: Workspace, tmp_path: Path) -> None:
    (ws.root / ".git" / "hooks").mkdir(parents=True)
    (ws.root / "g").symlink_to(ws.root / ".git")
    evil = Snapshot({"g/hooks/post-checkout": payload(ws, {"hook": "#!/bin/sh\necho pwned\n"})["hook"]})
    save_snapshot(ws.store, evil)
    record_version(ws, "ev", evil, sources=["data"])
    with pytest.raises(UnsafePathError, match="symlinked folder"):
        checkout(ws, "ev@v1")
    assert not (ws.root / ".git" / "hooks" / "post-checkout").exists()
    (ws.root / "cfg").symlink_to(ws.dir)
    with pytest.raises(UsageError, match=r"leads into a \.assay or \.git folder"):
        add(ws, [ws.root / "cfg"], name="cfg")
    (ws.root / "d").mkdir()
    (ws.root / "d" / "x").write_text("x")
    (ws.root / "d" / "conf").symlink_to(ws.dir / "config.toml")  # a file link into .assay: left out
    result = add(ws, [ws.root / "d"], name="d")
    assert result.files == 1 and any("into a .assay or .git folder" in w for w in result.warnings)
    assert not status(ws, "d").dirty


def test_a_refused_checkout_changes_nothing(ws: Workspace) -> None:
    (ws.root / "d").mkdir()
    (ws.root / "d" / "p").mkdir()
    (ws.root / "d" / "p" / "x").write_text("x1")
    (ws.root / "d" / "c.txt").write_text("c1")
    (ws.root / "d" / "new" / "a" / "b").mkdir(parents=True)
    (ws.root / "d" / "new" / "a" / "b" / "y").write_text("y1")
    (ws.root / "out.txt").write_text("o1")
    add(ws, [ws.root / "d", ws.root / "out.txt"], name="ds")  # v1: d/p/ is a folder, out.txt is in
    import shutil

    shutil.rmtree(ws.root / "d" / "p")
    shutil.rmtree(ws.root / "d" / "new")
    (ws.root / "d" / "p").write_text("p2")  # v2: d/p is a file
    (ws.root / "d" / "c.txt").write_text("c2")
    add(ws, [ws.root / "d"], name="ds")  # without out.txt
    (ws.root / "out.txt").write_text("my own")  # outside the dataset's folders now
    before = sorted(str(p.relative_to(ws.root)) for p in ws.root.rglob("*") if ".assay" not in p.parts)
    with pytest.raises(UsageError, match="out.txt"):
        checkout(ws, "ds@v1")
    after = sorted(str(p.relative_to(ws.root)) for p in ws.root.rglob("*") if ".assay" not in p.parts)
    assert after == before  # d/p not removed, no folders made
    assert (ws.root / "d" / "p").read_text() == "p2" and (ws.root / "d" / "c.txt").read_text() == "c2"
    # A folder holding a file no version has, where the version has a file: refused before any write.
    (ws.root / "out.txt").write_text("o1")
    checkout(ws, "ds@v1")
    (ws.root / "d" / "p" / ".git").mkdir()
    (ws.root / "d" / "p" / ".git" / "x").write_text("no walk sees it")
    with pytest.raises(UsageError, match="is a folder where ds@v2 has a file"):
        checkout(ws, "ds@v2")
    assert (ws.root / "d" / "c.txt").read_text() == "c1"  # nothing was written
    assert (ws.root / "d" / "p" / ".git" / "x").exists()


def test_a_folder_holding_a_live_checkouts_temp_folder_is_not_cleared(ws: Workspace) -> None:
    """Where a version has a file and the target a folder holding only files of the version on
    disk, the folder goes; not while another checkout's new temp folder (still empty) is in it."""
    (ws.root / "d" / "p").mkdir(parents=True)
    (ws.root / "d" / "p" / "x").write_text("x1")
    add(ws, [ws.root / "d"], name="ds")  # v1: d/p/ is a folder
    (ws.root / "d" / "p" / "x").unlink()
    (ws.root / "d" / "p").rmdir()
    (ws.root / "d" / "p").write_text("p2")
    add(ws, [ws.root / "d"], name="ds")  # v2: d/p is a file
    checkout(ws, "ds@v1")
    live = ws.root / "d" / "p" / f".assay-tmp-{os.getpid()}-0123abcd"  # this process is alive: as another checkout's
    live.mkdir()
    with pytest.raises(UsageError, match="is a folder where ds@v2 has a file"):
        checkout(ws, "ds@v2")
    assert live.is_dir() and (ws.root / "d" / "p" / "x").read_text() == "x1"
    live.rmdir()
    dead = ws.root / "d" / "p" / ".assay-tmp-99999999-0123abcd"  # no such process: a killed checkout's, swept along
    dead.mkdir()
    checkout(ws, "ds@v2")
    assert (ws.root / "d" / "p").read_text() == "p2"


def test_protected_paths_are_the_names_walks_leave_out() -> None:
    from assay._root import protected_path, skipped_in_walks

    for rel in (".git/hooks/x", "d/.GIT/config", ".assay/config.toml", "d/.Assay/ledger.db"):
        assert protected_path(rel), rel
    for rel in ("data/git/x", "d/.gitignore", "d/.github/workflows/x", "assay-data/x", "d/x.git", "digit/x",
                "d/.git./x", "GIT~1/x"):  # other names here: walks keep them, so checkout writes them
        assert not protected_path(rel), rel
    for name in (".git", ".ASSAY"):
        assert skipped_in_walks(name)
    for name in (".gitignore", "git", ".git.", "GIT~1"):
        assert not skipped_in_walks(name)


def test_status_and_checkout_look_where_the_version_on_disk_was_added_from(ws: Workspace, tmp_path: Path) -> None:
    from assay.data import add_remote, pull, push

    (ws.root / "d1").mkdir()
    (ws.root / "d1" / "a").write_text("a")
    add(ws, [ws.root / "d1"], name="ds")
    (ws.root / "d2").mkdir()
    (ws.root / "d2" / "b").write_text("b")
    add(ws, [ws.root / "d2"], name="ds")
    checkout(ws, "ds@v1")  # v1 lives in d1: v2's d2/b goes, and status looks in d1
    assert not (ws.root / "d2" / "b").exists() and (ws.root / "d1" / "a").read_text() == "a"
    assert not status(ws, "ds").dirty
    (ws.root / "d1" / "new").write_text("new")
    assert status(ws, "ds").added == ["d1/new"]
    (ws.root / "d1" / "new").unlink()
    checkout(ws, "ds@v2")
    assert not status(ws, "ds").dirty and not (ws.root / "d1" / "a").exists()
    # The same in a workspace that pulled both versions.
    add_remote(ws, "origin", str(tmp_path / "remote"))
    push(ws)
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", str(tmp_path / "remote"))
    pull(clone, checkout=True)
    checkout(clone, "ds@v1")
    assert not status(clone, "ds").dirty and (clone.root / "d1" / "a").read_text() == "a"
    clone.close()


def test_an_add_that_makes_no_new_version_still_moves_where_status_looks(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "d1").mkdir()
    (ws.root / "d1" / "a.txt").write_text("a")
    add(ws, [ws.root / "d1" / "a.txt"], name="ds")
    assert not add(ws, [ws.root / "d1"], name="ds").created  # the same data, named by its folder
    (ws.root / "d1" / "b.txt").write_text("b")
    assert status(ws, "ds").added == ["d1/b.txt"]
    assert "added" in cli("data", "status", "ds", cwd=ws.root).stdout  # the replayed answer agrees
    assert json.loads(cli("data", "status", "ds", "--json", cwd=ws.root).stdout)["added"] == ["d1/b.txt"]


def test_checkout_through_a_symlinked_folder_inside_the_workspace(ws: Workspace) -> None:
    (ws.root / "data" / "2024").mkdir(parents=True)
    (ws.root / "data" / "current").symlink_to("2024")
    (ws.root / "data" / "current" / "a").write_text("a")
    (ws.root / "data" / "current" / "sub").mkdir()
    (ws.root / "data" / "current" / "sub" / "b").write_text("b")
    add(ws, [ws.root / "data" / "current"], name="ds")
    import shutil

    shutil.rmtree(ws.root / "data" / "2024" / "sub")
    checkout(ws, "ds@v1")  # the missing subfolder is made through the link, not refused as a file in the way
    assert (ws.root / "data" / "2024" / "sub" / "b").read_text() == "b"


def test_an_empty_folder_that_leads_into_git_is_refused_before_any_write(ws: Workspace) -> None:
    (ws.root / ".git").mkdir()
    (ws.root / "d").mkdir()
    (ws.root / "d" / "x").write_text("v1")
    with ws.lock():
        snap, _, _, _ = _snapshot_paths(ws, ["d"])
    (ws.root / "d" / "g").symlink_to(ws.root / ".git")
    evil = Snapshot({"d/x": snap.files["d/x"]}, empty_dirs=("d/g/hooks",))
    save_snapshot(ws.store, evil)
    record_version(ws, "ev", evil, sources=["d"])
    (ws.root / "d" / "x").write_text("v2")
    add(ws, [ws.root / "d"], name="ev")
    checkout(ws, "ev@v2")
    with pytest.raises(UnsafePathError):
        checkout(ws, "ev@v1", force=True)
    assert (ws.root / "d" / "x").read_text() == "v2" and not (ws.root / ".git" / "hooks").exists()


def test_pull_checkout_of_such_a_version_says_what_it_left_out(ws: Workspace, tmp_path: Path) -> None:
    from assay.data import add_remote, pull, push

    planted(ws)
    add_remote(ws, "origin", str(tmp_path / "remote"), default=True)
    push(ws, "innocent@v2", remote="origin")
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", str(tmp_path / "remote"), default=True)
    result = pull(clone, "innocent@v2", remote="origin", checkout=True)
    assert result.checked_out == ["innocent@v2"]
    assert any("data/.GIT/hooks/post-checkout" in note for note in result.notes)
    assert (clone.root / "data" / "x").is_file() and not (clone.root / "data" / ".GIT").exists()
    clone.close()


def test_after_checking_out_such_a_version_status_is_clean_and_a_run_may_read_it(ws: Workspace) -> None:
    # A version made before walks left .git out: its .git files are never checked out, so they
    # must not read as removed for ever (status never clean, `assay run --in` refused).
    import os
    import time

    from assay.data._statcache import StatCache
    from assay.lineage import run_command

    made = payload(ws, {"HEAD": "ref: refs/heads/main\n", "x.csv": "a,b\n1,2\n"})
    old = Snapshot({"data/.git/HEAD": made["HEAD"], "data/x.csv": made["x.csv"]})
    save_snapshot(ws.store, old)
    record_version(ws, "old", old, message="made before walks left .git out", sources=["data"])
    checkout(ws, "old@v1")
    past = time.time() - 10
    os.utime(ws.root / "data" / "x.csv", (past, past))  # out of the racy window: the cache vouches for it
    st = status(ws, "old")
    assert not st.dirty and st.unchanged == 1 and not st.removed
    assert StatCache(ws).clean_signature("old", old.id) is not None  # the fast path answers from now on
    assert not status(ws, "old").dirty and status(ws, "old").rehashed == 0
    script = "import pathlib; pathlib.Path('out').mkdir(exist_ok=True); pathlib.Path('out/n').write_text('1')"
    import sys

    run = run_command(ws, [sys.executable, "-c", script], inputs=["old@v1"], outputs={"o": "out"}, cwd=ws.root)
    assert run.status == "succeeded"
    (ws.root / "data" / "x.csv").write_text("a,b\n9,9\n")
    with pytest.raises(UsageError, match="not old@v1"):
        run_command(ws, [sys.executable, "-c", script], inputs=["old@v1"], outputs={"o": "out"}, cwd=ws.root)


def test_checkout_to_a_folder_used_before_writes_the_version_exactly(ws: Workspace, tmp_path: Path) -> None:
    (ws.root / "d" / "old").mkdir(parents=True)
    for name in ("f1", "f2", "f3", "old/f4"):
        (ws.root / "d" / name).write_text(name)
    add(ws, [ws.root / "d"], name="d")
    (ws.root / "d" / "f3").unlink()
    (ws.root / "d" / "old" / "f4").unlink()
    (ws.root / "d" / "old").rmdir()
    add(ws, [ws.root / "d"], name="d")
    out = tmp_path / "out"
    checkout(ws, "d@v1", to=out)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("not the folder's")
    (out / "link").symlink_to(outside, target_is_directory=True)
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref")
    with pytest.raises(UsageError, match=r"3 files that d@v2 does not have: d/f3, d/old/f4, link") as exc:
        checkout(ws, "d@v2", to=out)
    assert "--force" in (exc.value.hint or "")
    assert (out / "d" / "f3").exists()  # a refused checkout changes nothing
    result = checkout(ws, "d@v2", to=out, force=True)
    assert sorted(result.removed) == ["d/f3", "d/old/f4", "link"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [".git", ".git/HEAD", "d", "d/f1", "d/f2"]
    assert (outside / "keep").read_text() == "not the folder's"  # the link went, not what it led to


def test_checkout_to_with_force_keeps_files_no_version_holds(ws: Workspace, tmp_path: Path) -> None:
    # --force removes a folder's extra files only where the store can give their bytes back:
    # a user's own file there (or an edited copy) is refused by name, and nothing changes.
    (ws.root / "d").mkdir()
    (ws.root / "d" / "f1").write_text("one")
    add(ws, [ws.root / "d"], name="d")
    (ws.root / "e").mkdir()
    (ws.root / "e" / "g").write_text("stored in e")
    add(ws, [ws.root / "e"], name="e")
    out = tmp_path / "out"
    checkout(ws, "e@v1", to=out)  # e/g: bytes the store holds
    (out / "notes.txt").write_text("a user's own notes")  # bytes no version holds
    with pytest.raises(UsageError, match=r"1 file that d@v1 does not have and whose bytes no version here "
                                         r"holds, so removing it would lose it: notes.txt"):
        checkout(ws, "d@v1", to=out, force=True)
    assert (out / "e" / "g").read_text() == "stored in e" and not (out / "d").exists()  # refused whole
    (out / "notes.txt").unlink()
    result = checkout(ws, "d@v1", to=out, force=True)
    assert result.removed == ["e/g"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["d", "d/f1"]


def test_checkout_to_with_force_keeps_files_whose_chunks_no_version_holds(ws: Workspace, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # An add killed before it recorded its version leaves the file's chunks in the store with no
    # version holding them (gc frees them): such a file, and an empty one no version has, stay.
    import assay.data._add as adding

    (ws.root / "d").mkdir()
    (ws.root / "d" / "f1").write_text("one")
    add(ws, [ws.root / "d"], name="d")
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.txt").write_text("my only copy " * 200)
    (out / "empty.flag").write_text("")

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed before the version was recorded")

    with monkeypatch.context() as patch:
        patch.setattr(adding, "record_versions", killed)
        with pytest.raises(KeyboardInterrupt):
            add(ws, [out / "thesis.txt"], name="thesis")
    with pytest.raises(UsageError, match=r"2 files .* no version here holds, so removing them would lose them: empty.flag, thesis.txt"):
        checkout(ws, "d@v1", to=out, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["empty.flag", "thesis.txt"]


def test_checkout_to_never_removes_the_workspace_s_own_data(ws: Workspace) -> None:
    (ws.root / "a").mkdir()
    (ws.root / "a" / "x").write_text("x")
    add(ws, [ws.root / "a"], name="a")
    (ws.root / "b").mkdir()
    (ws.root / "b" / "y").write_text("y")
    add(ws, [ws.root / "b"], name="b")
    for to in (ws.root, ws.root / "b"):  # the workspace itself, and a dataset's folder
        with pytest.raises(UsageError, match=r"1 file that a@v1 does not have and that is the workspace's "
                                             r"own data: b/y|y"):
            checkout(ws, "a@v1", to=to, force=True)
    assert (ws.root / "b" / "y").read_text() == "y" and not (ws.root / "b" / "a").exists()


def test_refusals_name_the_python_argument_beside_the_cli_flag(ws: Workspace, tmp_path: Path) -> None:
    # A library caller is told force=True / check_inputs=False, not only --force / --no-input-check.
    import assay

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("1")
    add(ws, ["d"], name="d")
    (tmp_path / "d" / "a.txt").write_text("2")
    with pytest.raises(UsageError) as local:
        checkout(ws, "d@v1")
    assert "--force (force=True)" in str(local.value)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "d").mkdir()
    (tmp_path / "out" / "d" / "a.txt").write_text("other")
    with pytest.raises(UsageError) as there:
        checkout(ws, "d@v1", to=tmp_path / "out")
    assert "force=True" in str(there.value)
    with pytest.raises(UsageError) as stale, assay.track(ws, inputs=["d@v1"]):
        pass
    assert "--no-input-check (check_inputs=False)" in str(stale.value)
