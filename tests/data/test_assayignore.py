""".assayignore: files left out of every snapshot of the workspace's folders (gitignore syntax,
patterns relative to the workspace root), by add, run outputs, status, diff and checkout,
with the status fast paths (stat signature, replayed answer) made stale by any edit of it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from assay.data import _fork, _sigwalk, add, checkout, diff, status
from assay.data._replay import replay_status
from assay.data._scan import scan
from assay.data._sigwalk import signature, stat_groups, walk_groups, walk_here
from assay.data._versions import load_snapshot
from assay.errors import UsageError
from assay.lineage import run_command, track
from assay.workspace import Workspace
from tests.data.test_status_signature import age, write

PY = sys.executable


def files_of(ws: Workspace, result) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(load_snapshot(ws.store, result.version.snapshot).files)


def ignore(ws: Workspace, *lines: str) -> None:
    (ws.root / ".assayignore").write_text("".join(f"{line}\n" for line in lines))


@pytest.fixture
def junk(ws: Workspace) -> Workspace:
    """data/ with two data files and the usual junk beside them (all aged: the stat cache trusts them)."""
    for rel in ("data/a.csv", "data/sub/b.csv", "data/.DS_Store", "data/__pycache__/m.pyc",
                "data/sub/.ipynb_checkpoints/b-checkpoint.csv", "data/x.tmp", "data/sub/.b.csv.swp"):
        write(ws.root / rel, f"{rel}\n")
    age(ws.root / "data")
    ignore(ws, "# junk", "", ".DS_Store", "__pycache__/", ".ipynb_checkpoints/", "*.tmp", "*.swp")
    return ws


def test_add_leaves_out_ignored_files_and_says_how_many(junk: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    result = add(junk, ["data"], name="ds")
    assert files_of(junk, result) == ["data/a.csv", "data/sub/b.csv"]
    # three files, and two folders not looked into (not even to count their files)
    assert result.ignored == 3 and result.ignored_folders == 2
    assert result.to_dict()["ignored"] == 3 and result.to_dict()["ignored_folders"] == 2
    write(junk.root / "data" / "new.csv", "n\n")
    doc = cli.json("data", "add", "data", "--name", "ds")
    assert doc["files"] == 3 and doc["ignored"] == 3 and doc["ignored_folders"] == 2
    assert "ignored: 3 files, 2 folders (.assayignore)" in cli("data", "add", "data", "--name", "ds").stdout


def test_status_is_clean_with_ignored_junk_present_and_added_later(junk: Workspace) -> None:
    add(junk, ["data"], name="ds")
    for _ in range(2):  # the second answered by the stat signature
        assert not status(junk, "ds").dirty
    write(junk.root / "data" / "sub" / "more.tmp", "m\n")
    write(junk.root / "data" / "deep" / "__pycache__" / "z.pyc", "z\n")
    for _ in range(2):
        st = status(junk, "ds")
        assert not st.dirty and st.unchanged == 2
    write(junk.root / "data" / "real.csv", "r\n")
    assert status(junk, "ds").added == ["data/real.csv"]
    assert diff(junk, "ds").added == [{"path": "data/real.csv", "size": 2}]


def test_editing_the_ignore_file_changes_status_at_once(junk: Workspace) -> None:
    add(junk, ["data"], name="ds")
    for _ in range(2):
        assert not status(junk, "ds").dirty
    assert replay_status("ds", as_json=False) is not None  # a clean answer left for the entry point
    ignore(junk, ".DS_Store", "__pycache__/", ".ipynb_checkpoints/", "*.swp")  # *.tmp no longer ignored
    assert replay_status("ds", as_json=False) is None
    for _ in range(2):
        assert status(junk, "ds").added == ["data/x.tmp"]
    ignore(junk, ".DS_Store", "__pycache__/", ".ipynb_checkpoints/", "*.swp", "*.tmp", "sub/")
    for _ in range(2):
        st = status(junk, "ds")
        assert st.removed == ["data/sub/b.csv"] and not st.added
    ignore(junk, ".DS_Store", "__pycache__/", ".ipynb_checkpoints/", "*.swp", "*.tmp")
    for _ in range(2):
        assert not status(junk, "ds").dirty
    assert replay_status("ds", as_json=False) is not None
    (junk.root / ".assayignore").unlink()
    assert replay_status("ds", as_json=False) is None
    for _ in range(2):
        assert len(status(junk, "ds").added) == 5


def test_a_file_changed_beside_ignored_ones_is_found_by_the_folder_walk(junk: Workspace) -> None:
    add(junk, ["data"], name="ds")
    assert not status(junk, "ds").dirty
    write(junk.root / "data" / "sub" / "b.csv", "changed\n")
    write(junk.root / "data" / "sub" / "c.tmp", "junk\n")
    for _ in range(2):
        st = status(junk, "ds")
        assert st.modified == ["data/sub/b.csv"] and not st.added


def test_every_walk_gives_the_scans_signature(junk: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(20):  # enough folders for the forked walk
        write(junk.root / "data" / f"f{i}" / "k.csv", "k\n")
        write(junk.root / "data" / f"f{i}" / "j.tmp", "j\n")
        write(junk.root / "data" / f"f{i}" / "__pycache__" / "p.pyc", "p\n")
    monkeypatch.setattr(_sigwalk, "_FORK_MIN_ENTRIES", 1)
    root = str(junk.root)
    found = scan(junk, ["data"])
    assert len(found.files) == 22 and found.ignored and found.ignore_digest is not None
    expected = signature(stat_groups(found.files, found.ignore_digest))
    here = walk_here(root, ["data"])
    assert here is not None and signature(here) == expected
    if _fork.can_fork():
        forked = walk_groups(root, ["data"])
        assert forked is not None and signature(forked) == expected
    # The ignore file's digest is part of it: the same files, another .assayignore, another signature.
    ignore(junk, ".DS_Store", "__pycache__/", ".ipynb_checkpoints/", "*.tmp", "*.swp", "# edited")
    again = walk_here(root, ["data"])
    assert again is not None and signature(again)[1] == expected[1] and signature(again) != expected


def test_checkout_in_place_keeps_ignored_files_and_does_not_count_them_as_changes(junk: Workspace) -> None:
    add(junk, ["data"], name="ds")
    write(junk.root / "data" / "new.csv", "n\n")
    add(junk, ["data"], name="ds")
    write(junk.root / "data" / "later.tmp", "l\n")  # new junk since the add
    result = checkout(junk, "ds@v1")  # no --force needed: nothing of the user's is at stake
    assert result.removed == ["data/new.csv"]
    for rel in ("data/x.tmp", "data/later.tmp", "data/.DS_Store", "data/__pycache__/m.pyc",
                "data/sub/.ipynb_checkpoints/b-checkpoint.csv"):
        assert (junk.root / rel).is_file(), rel
    assert not status(junk, "ds").dirty


def test_an_ignored_path_named_to_add_is_refused(junk: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match=r"data/x.tmp is ignored by .assayignore, line 6: '\*.tmp'"):
        add(junk, ["data/x.tmp"], name="t")
    proc = cli("data", "add", "data/__pycache__/m.pyc", "--name", "p", check=2)
    assert "inside data/__pycache__/" in proc.stderr and "'__pycache__/'" in proc.stderr and ".assayignore" in proc.stderr
    proc = cli("data", "add", "data/__pycache__", "--name", "p", check=2)
    assert "data/__pycache__ is ignored by .assayignore" in proc.stderr
    assert not junk.ledger.query("SELECT 1 FROM versions")


def test_negation_takes_a_file_back_but_not_from_an_ignored_folder(ws: Workspace) -> None:
    for rel in ("d/a.tmp", "d/keep.tmp", "d/junk/keep.csv", "d/junk/x.csv"):
        write(ws.root / rel, "x\n")
    ignore(ws, "*.tmp", "!keep.tmp", "junk/", "!junk/keep.csv", "!d/junk/keep.csv")
    result = add(ws, ["d"], name="ds")
    assert files_of(ws, result) == ["d/keep.tmp"] and result.ignored == 1 and result.ignored_folders == 1


def test_a_pattern_ending_in_a_slash_matches_folders_only(ws: Workspace) -> None:
    for rel in ("d/build/out.bin", "d/sub/build", "d/keep.csv"):
        write(ws.root / rel, "x\n")
    ignore(ws, "build/")
    assert files_of(ws, add(ws, ["d"], name="ds")) == ["d/keep.csv", "d/sub/build"]


def test_anchored_patterns_and_double_stars_are_relative_to_the_workspace_root(ws: Workspace) -> None:
    for rel in ("d/top.csv", "d/e/top.csv", "d/a/b/c/cache/x", "d/cache/y", "other/z"):
        write(ws.root / rel, "x\n")
    ignore(ws, "/d/top.csv", "d/**/c/cache/", "/cache/")
    assert files_of(ws, add(ws, ["d"], name="ds")) == ["d/cache/y", "d/e/top.csv"]


def test_any_folder_patterns_match_as_in_git(ws: Workspace) -> None:
    # pathspec gives "*/", "**/" and "*/**" unanchored expressions: they matched no entry of a walk
    for rel in ("d/a.csv", "d/x.tmp", "d/e/b.csv", "d/e/y.tmp"):
        write(ws.root / rel, "x\n")
    ignore(ws, "*", "!*/", "!*.csv")  # everything but the .csv files
    assert files_of(ws, add(ws, ["d"], name="ds")) == ["d/a.csv", "d/e/b.csv"]
    write(ws.root / "d" / "top.csv", "t\n")
    for pattern in ("**/", "*/", "d/*/**"):  # every folder; everything inside d's folders
        ignore(ws, pattern, "!d/")
        assert files_of(ws, add(ws, ["d"], name="ds")) == ["d/a.csv", "d/top.csv", "d/x.tmp"]


# What `git ls-files -o --exclude-standard` keeps of TREE with each .gitignore (git 2.x); checked
# against git itself where it is installed.
TREE = ("top/h.csv", "top/d/a.csv", "top/d/sub/b.csv", "top/d/sub/deep/c.csv", "top/x/d/e.csv", "top/x/d/f/g.csv")
AS_GIT = [
    (("top/d/**/",), ["top/d/a.csv", "top/h.csv", "top/x/d/e.csv", "top/x/d/f/g.csv"]),  # below d/, not d/ itself
    (("top/d/**/", "!top/d/sub/"), ["top/d/a.csv", "top/d/sub/b.csv", "top/h.csv", "top/x/d/e.csv", "top/x/d/f/g.csv"]),
    (("**/d/**/",), ["top/d/a.csv", "top/h.csv", "top/x/d/e.csv"]),
    (("top/*/**/",), ["top/d/a.csv", "top/h.csv"]),
    (("*/**/",), ["top/h.csv"]),
    (("top/d/**",), ["top/h.csv", "top/x/d/e.csv", "top/x/d/f/g.csv"]),
    (("**/d/",), ["top/h.csv"]),
    (("**/d/**",), ["top/h.csv"]),
    (("top/**/d/",), ["top/h.csv"]),
    (("**/sub/", "!top/d/sub/"), ["top/d/a.csv", "top/d/sub/b.csv", "top/d/sub/deep/c.csv", "top/h.csv",
                                  "top/x/d/e.csv", "top/x/d/f/g.csv"]),
]


@pytest.mark.parametrize(("lines", "kept"), AS_GIT, ids=[" ".join(lines) for lines, _ in AS_GIT])
def test_double_star_folder_patterns_keep_what_git_keeps(ws: Workspace, tmp_path, lines: tuple[str, ...],  # type: ignore[no-untyped-def]
                                                         kept: list[str]) -> None:
    for rel in TREE:
        write(ws.root / rel, "x\n")
    ignore(ws, *lines)
    assert files_of(ws, add(ws, ["top"], name="ds")) == kept
    if "top/d/a.csv" in kept:  # top/d/ itself is not ignored: named to add, it is not refused
        assert [e.rel for e in scan(ws, ["top/d"]).files] == [k for k in kept if k.startswith("top/d/")]
    git = shutil.which("git")
    if git is None:
        return
    repo = tmp_path / "git"
    for rel in TREE:
        write(repo / rel, "x\n")
    (repo / ".gitignore").write_text("".join(f"{line}\n" for line in lines))
    subprocess.run([git, "init", "-q", str(repo)], check=True)
    listed = subprocess.run([git, "ls-files", "-o", "--exclude-standard", "top"], cwd=repo, capture_output=True,
                            text=True, check=True).stdout.split()
    assert sorted(listed) == kept


def test_rules_cached_by_an_assay_that_translated_them_otherwise_are_compiled_again(ws: Workspace) -> None:
    from assay.data import _hints, _ignore

    ignore(ws, "d/**/")
    assert _ignore.load(str(ws.root)).rule("d", is_dir=True) is None  # type: ignore[union-attr]
    where = str(ws.root / ".assay" / "cache" / "ignore-rules")
    kept = _hints.read_hint(where)
    assert isinstance(kept, dict) and kept["format"] == 2
    # as the assay before format 2 left them: pathspec's "d/" for "d/**/"
    _hints.write_hint(where, {"digest": kept["digest"], "rules": [("^d(?P<ps_d>/)", 32, True, 1, "d/**/")]})
    _ignore._compiled.clear()
    assert _ignore.load(str(ws.root)).rule("d", is_dir=True) is None  # type: ignore[union-attr]
    assert _hints.read_hint(where) == kept


def test_a_negated_folder_takes_back_the_folder_not_the_files_ignored_in_it(ws: Workspace) -> None:
    for rel in ("d/a.csv", "d/sub/b.csv", "d/sub/x.tmp", "d/sub/deep/y.tmp"):
        write(ws.root / rel, "x\n")
    for lines in (("*.tmp", "!sub/"), ("sub/", "*.tmp", "!sub/"), ("*.tmp", "!/d/")):
        ignore(ws, *lines)
        assert files_of(ws, add(ws, ["d"], name="ds")) == ["d/a.csv", "d/sub/b.csv"], lines
    ignore(ws, "d/sub/**", "!d/sub/x.tmp")  # d/sub/ itself is not ignored: a file in it can be taken back
    assert files_of(ws, add(ws, ["d"], name="ds")) == ["d/a.csv", "d/sub/x.tmp"]


def test_patterns_that_would_ignore_the_workspace_folder_change_nothing(ws: Workspace) -> None:
    write(ws.root / "d" / "a.csv", "a\n")
    ignore(ws, ".assay/", ".assay", "*.db")
    add(ws, ["d"], name="ds")
    assert not status(ws, "ds").dirty


@pytest.mark.parametrize("line", ["!", "[abc", "x\\"])
def test_a_malformed_pattern_is_refused_naming_its_line(ws: Workspace, cli, line: str) -> None:  # type: ignore[no-untyped-def]
    write(ws.root / "d" / "a.csv", "a\n")
    add(ws, ["d"], name="ds")
    ignore(ws, "# fine", "*.tmp", line)
    for args in (("data", "add", "d", "--name", "ds"), ("data", "status", "ds")):
        proc = cli(*args, check=2)
        assert f".assayignore, line 3: {line!r} is not a valid pattern" in proc.stderr


def test_run_outputs_leave_out_ignored_files(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    ignore(ws, "*.tmp", "__pycache__/")
    make = ("import os; os.makedirs('out/__pycache__', exist_ok=True); open('out/a.csv', 'w').write('a');"
            "open('out/b.tmp', 'w').write('b'); open('out/__pycache__/c.pyc', 'w').write('c')")
    cli("run", "--out", "feat=out", "--", PY, "-c", make)
    assert sorted(load_snapshot(ws.store, status(ws, "feat").against.snapshot).files) == ["out/a.csv"]
    run = run_command(ws, [PY, "-c", make.replace("'a'", "'a2'")], outputs={"feat": "out"}, cwd=ws.root)
    assert run.status == "succeeded" and [v.ref for v in run.produced] == ["feat@v2"]
    assert sorted(load_snapshot(ws.store, run.produced[0].snapshot).files) == ["out/a.csv"]
    with track(ws) as tracked:
        write(ws.root / "t" / "x.csv", "x\n")
        write(ws.root / "t" / "y.tmp", "y\n")
        tracked.output("t", "t")
    assert sorted(load_snapshot(ws.store, status(ws, "t").against.snapshot).files) == ["t/x.csv"]


def test_an_ignored_run_output_is_refused_before_the_command_runs(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    ignore(ws, "*.tmp", "scratch/")
    proc = cli("run", "--out", "s=scratch", "--", PY, "-c", "open('ran', 'w').write('1')", check=2)
    assert "output s's scratch is ignored by .assayignore" in proc.stderr
    assert not (ws.root / "ran").exists()
    assert ws.ledger.query("SELECT COUNT(*) FROM runs")[0][0] == 0


def test_no_ignore_file_leaves_signatures_as_they_were(ws: Workspace) -> None:
    write(ws.root / "d" / "a.csv", "a\n")
    found = scan(ws, ["d"])
    assert found.ignore_digest is None and found.ignored == []
    assert stat_groups(found.files) == stat_groups(found.files, found.ignore_digest)
    assert not any(g[0].startswith("\0") for g in walk_here(str(ws.root), ["d"]) or [])
    os.mkdir(ws.root / ".assayignore")  # not a file: said, as the walks cannot honour it
    with pytest.raises(UsageError, match="cannot read .assayignore"):
        scan(ws, ["d"])


def test_a_clean_status_is_replayed_with_an_ignore_file_without_loading_pathspec(junk: Workspace) -> None:
    add(junk, ["data"], name="ds")
    script = ("import sys\nfrom assay.cli import main\nsys.argv = ['assay', 'data', 'status', 'ds']\ntry:\n    main()\n"
              "finally:\n    print('LOADED', sorted(m for m in sys.modules if m in ('click', 'pathspec')), file=sys.stderr)\n")

    def run() -> tuple[str, list[str]]:
        proc = subprocess.run([PY, "-c", script], cwd=junk.root, capture_output=True, text=True, timeout=120, check=True,
                              env={**os.environ, "ASSAY_PROGRESS": "0"})
        return proc.stdout, json.loads(proc.stderr.rpartition("LOADED ")[2].replace("'", '"'))

    assert run() == ("ds: clean against ds@v1 (2 files)\n", [])  # the patterns as compiled before, from the cache
    ignore(junk, "*.tmp")
    out, loaded = run()
    assert "added     data/.DS_Store" in out and loaded == ["click", "pathspec"]


def test_checkout_in_place_refuses_to_overwrite_an_ignored_file_with_other_content(ws: Workspace) -> None:
    write(ws.root / "data" / "a.csv", "a\n")
    write(ws.root / "data" / "x.tmp", "in v1\n")
    add(ws, ["data"], name="ds")  # before there was a .assayignore: v1 holds x.tmp
    ignore(ws, "*.tmp")
    write(ws.root / "data" / "x.tmp", "the user's own, not compared by status\n")
    assert status(ws, "ds").removed == ["data/x.tmp"]
    with pytest.raises(UsageError, match=r"not part of the version on disk: data/x.tmp(.|\n)*.assayignore leaves out"):
        checkout(ws, "ds@v1")
    assert (ws.root / "data" / "x.tmp").read_text() == "the user's own, not compared by status\n"
    checkout(ws, "ds@v1", force=True)
    assert (ws.root / "data" / "x.tmp").read_text() == "in v1\n"


def test_status_and_diff_say_which_line_ignores_a_datasets_folder(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    for rel in ("data/a.csv", "data/b.csv", "p/x.csv", "q/y.csv", "top/sub/z.csv"):
        write(ws.root / rel, f"{rel}\n")
    add(ws, ["data"], name="ds")
    add(ws, ["p", "q"], name="pair")
    add(ws, ["top/sub"], name="sub")
    ignore(ws, "data/", "q/", "/top/")
    st = status(ws, "ds")
    assert not st.checked_out and st.removed == ["data/a.csv", "data/b.csv"]
    assert st.ignored_sources == [{"source": "data", "ignored": "data", "line": 1, "pattern": "data/"}]
    text = cli("data", "status", "ds").stdout
    assert "not checked out here" not in text
    assert "ds: none of its files are compared (2 files in ds@v1): data is ignored by .assayignore, line 1: 'data/'" in text
    assert "hint: change that line of .assayignore (e.g. add a line '!data' after it) to compare them" in text
    assert cli.json("data", "status", "ds")["ignored_sources"] == st.ignored_sources
    proc = cli("data", "diff", "ds", check=2)
    assert "none of its files are on disk" not in proc.stderr
    assert "data is ignored by .assayignore, line 1: 'data/', so none of ds@v1's files are compared" in proc.stderr
    # one source of two: its files show as removed, and status says why
    st = status(ws, "pair")
    assert st.checked_out and st.removed == ["q/y.csv"] and [i["source"] for i in st.ignored_sources] == ["q"]
    assert "q is ignored by .assayignore, line 2: 'q/': its files show as removed" in cli("data", "status", "pair").stdout
    # inside an ignored folder: no "!" line takes it back, so none is suggested
    assert status(ws, "sub").ignored_sources == [{"source": "top/sub", "ignored": "top", "line": 3, "pattern": "/top/"}]
    text = cli("data", "status", "sub").stdout
    assert "top/sub is ignored by .assayignore (it is inside top/), line 3: '/top/'" in text and "'!" not in text
    # gone rather than ignored: not checked out here, as before
    ignore(ws, "q/")
    (ws.root / "data" / "a.csv").unlink()
    (ws.root / "data" / "b.csv").unlink()
    st = status(ws, "ds")
    assert not st.checked_out and st.ignored_sources == []
    assert "ds: not checked out here" in cli("data", "status", "ds").stdout


def test_run_says_what_it_left_out_of_each_output(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    ignore(ws, "*.tmp", "__pycache__/")
    make = ("import os; os.makedirs('out/__pycache__', exist_ok=True); open('out/a.csv', 'w').write('a');"
            "open('out/b.tmp', 'w').write('b'); open('out/c.tmp', 'w').write('c'); open('out/__pycache__/c.pyc', 'w').write('c');"
            "os.makedirs('clean', exist_ok=True); open('clean/k.csv', 'w').write('k')")
    proc = cli("run", "--out", "feat=out", "--out", "k=clean", "--", PY, "-c", make)
    assert "output feat: ignored: 2 files, 1 folder (.assayignore)" in proc.stderr and "output k:" not in proc.stderr
    doc = json.loads(cli("run", "--json", "--out", "feat=out", "--out", "k=clean", "--", PY, "-c", make).stdout)  # identical
    assert doc["ignored"] == {"feat": {"files": 2, "folders": 1}} and doc["unchanged"] == ["feat@v1", "k@v1"]
    env = [json.loads(e) for (e,) in ws.ledger.query("SELECT env FROM runs ORDER BY started_at")]
    assert [e.get("ignored") for e in env] == [{"feat": {"files": 2, "folders": 1}}] * 2
    run = run_command(ws, [PY, "-c", make.replace("'k'", "'k2'")], outputs={"k": "clean"}, cwd=ws.root)
    assert run.ignored == {} and "ignored" not in run.to_dict()
    with track(ws) as tracked:
        write(ws.root / "t" / "x.csv", "x\n")
        write(ws.root / "t" / "y.tmp", "y\n")
        tracked.output("t", "t")
    assert tracked.ignored == {"t": {"files": 1, "folders": 0}} and tracked.to_dict()["ignored"] == tracked.ignored
