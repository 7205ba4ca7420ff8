"""The stat signature behind a clean `data status`, and the forked walk that computes it.

Every change a tree can go through after a signature was recorded must still be
reported, with the per-file stat cache's answer; the forked walk must find exactly
what the in-process scan finds. The walk forks only in a process without other
threads, and this one has the test servers': so each change is looked at twice, by
`assay data status` in a new process (forked walk) and here with a thread running
(in-process walk), and the walk itself is checked in new interpreters.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.data import add, checkout, status
from assay.data._sigwalk import walk_signature
from assay.data._scan import scan, stat_signature
from assay.data._statcache import StatCache
from assay.data._status import Status
from assay.errors import InputError
from assay.workspace import Workspace

OLD = 1_600_000_000  # a past mtime: outside the racy window, so the stat cache trusts the file


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def age(*paths: Path) -> None:
    for top in paths:
        for p in [top, *top.rglob("*")] if top.is_dir() else [top]:
            if p.is_file() and not p.is_symlink():
                os.utime(p, (OLD, OLD))


FILES = 20 * 150 + 2  # in a tree()


def tree(root: Path, folders: int = 20, per_folder: int = 150) -> None:
    """Enough folders and files for the forked walk, and one level deeper too."""
    for i in range(folders):
        for j in range(per_folder):
            write(root / f"f{i:02d}" / f"x{j}.bin", os.urandom(20 + i * 7 + j % 5))
    write(root / "f03" / "deep" / "deeper" / "y.txt", "deep")
    write(root / "top.txt", "top level file")
    (root / "empty").mkdir()


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """How each status was answered: "signature" (the walk alone), "folders" (the walk, then the
    folders whose part of the signature changed) or "files" (the per-file cache, every file)."""
    log: list[str] = []
    real_match = StatCache.match
    real_clean = StatCache.clean_signature
    real_some = StatCache.match_some

    def match_some(self: StatCache, entries):  # type: ignore[no-untyped-def]
        if log and log[-1] == "signature":
            log[-1] = "folders"
        return real_some(self, entries)

    monkeypatch.setattr(StatCache, "match_some", match_some)

    def match(self: StatCache, entries):  # type: ignore[no-untyped-def]
        if log and log[-1] == "signature":
            log[-1] = "files"
        else:
            log.append("files")
        return real_match(self, entries)

    def clean_signature(self: StatCache, dataset: str, snapshot_id: str) -> str | None:
        log.append("signature")
        return real_clean(self, dataset, snapshot_id)

    monkeypatch.setattr(StatCache, "match", match)
    monkeypatch.setattr(StatCache, "clean_signature", clean_signature)
    yield log


@contextlib.contextmanager
def another_thread() -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def changes(ws: Workspace, name: str) -> Status:
    """Status in a new process (the forked walk) and here with a thread running (in-process); they agree."""
    proc = subprocess.run([sys.executable, "-m", "assay", "data", "status", name, "--json"], cwd=ws.root,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "ASSAY_PROGRESS": "0"})
    assert proc.returncode == 0, proc.stderr
    with another_thread():
        here = status(ws, name)
    assert {**json.loads(proc.stdout), "rehashed": 0} == {**here.to_dict(), "rehashed": 0}
    assert {**here.to_dict(), "rehashed": 0} == per_file_view(ws, name)
    return here


def per_file_view(ws: Workspace, name: str) -> dict[str, object]:
    """What status answers from every file, without the signature: each one scanned, matched
    with the stat cache or hashed, the listing compared with the snapshot's (nothing recorded)."""
    from assay.data._add import hash_entries
    from assay.data._overlap import sharing
    from assay.data._statcache import _match
    from assay.data._snapshot import FileManifest
    from assay.data._versions import dataset_sources, load_snapshot, resolve

    version = resolve(ws, name)
    base = load_snapshot(ws.store, version.snapshot)
    found = scan(ws, dataset_sources(ws, name), missing_ok=True)
    ids, suspects = _match(StatCache(ws)._load(), found.files)  # StatCache.match, unseen by `answers`
    ids.update((rel, m.id) for rel, _, m in hash_entries(ws, suspects))
    old = {p: m.id for p, m in base.files.items()}
    modes = {e.rel: e.st.st_mode & 0o777 for e in found.files}
    return {
        "modes": {p: {"old": f"{base.files[p].mode:o}", "new": f"{modes[p]:o}",
                      "content_changed": FileManifest(base.files[p].size, modes[p], base.files[p].chunks).id != ids[p]}
                  for p in ids if p in old and old[p] != ids[p] and base.files[p].mode != modes[p]},
        "dataset": name, "against": version.ref, "against_id": version.id,
        "added": sorted(set(ids) - set(old)), "removed": sorted(set(old) - set(ids)),
        "modified": sorted(p for p in ids if p in old and old[p] != ids[p]),
        "unchanged": sum(1 for p in ids if old.get(p) == ids[p]), "rehashed": 0,
        "clean": ids == old, "checked_out": bool(ids) or not old,
        "shares_folder_with": sorted({o.other for o in sharing(ws, name, dataset_sources(ws, name))}),
        "ignored_sources": [],  # (no .assayignore here: see test_assayignore.py)
    }


def per_file_answer(ws: Workspace, name: str) -> dict[str, object]:
    """What status says with no signature recorded: the per-file stat cache's answer (re-reads aside)."""
    conn = sqlite3.connect(ws.cache_dir / "stat.db")
    conn.execute("DELETE FROM signatures")
    conn.commit()
    conn.close()
    return {**status(ws, name).to_dict(), "rehashed": None}


def clean_and_recorded(ws: Workspace, name: str, answers: list[str]) -> None:
    """A status that records the signature, then one that is answered by it."""
    assert not status(ws, name).dirty
    st = status(ws, name)
    assert not st.dirty and st.rehashed == 0
    assert answers[-1] == "signature"


@pytest.fixture
def ds(ws: Workspace, answers: list[str]) -> Workspace:
    tree(ws.root / "d")
    age(ws.root / "d")
    add(ws, ["d"], name="ds")
    clean_and_recorded(ws, "ds", answers)
    return ws


# -- every kind of change is seen -------------------------------------------------------

def test_a_clean_tree_is_answered_by_the_signature_with_the_file_count(ds: Workspace, answers: list[str]) -> None:
    st = status(ds, "ds")
    assert answers[-1] == "signature"
    assert not st.dirty and st.unchanged == FILES and st.rehashed == 0
    assert st.to_dict()["clean"] is True


def test_same_size_rewrite_is_modified(ds: Workspace, answers: list[str]) -> None:
    f = ds.root / "d" / "f05" / "x1.bin"
    f.write_bytes(os.urandom(f.stat().st_size))
    st = changes(ds, "ds")
    assert answers[-1] == "folders" and st.modified == ["d/f05/x1.bin"] and not st.added and not st.removed


def test_in_place_rewrite_with_size_and_mtime_restored_after_status_saw_it(ds: Workspace, answers: list[str]) -> None:
    # The per-file cache learns the new content; putting the old mtime back must not bring
    # back the old signature's listing (the inode's ctime moved on).
    f = ds.root / "d" / "f02" / "x0.bin"
    before = f.stat()
    with open(f, "r+b") as fh:
        fh.write(os.urandom(before.st_size))
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns + 5_000_000_000))
    assert changes(ds, "ds").modified == ["d/f02/x0.bin"]
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = f.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    st = changes(ds, "ds")
    assert answers[-1] == "folders" and st.modified == ["d/f02/x0.bin"]


def test_new_file_at_the_same_path_with_the_same_size_is_modified(ds: Workspace, answers: list[str]) -> None:
    f = ds.root / "d" / "f07" / "x2.bin"
    size = f.stat().st_size
    f.unlink()
    write(f, os.urandom(size))  # the file system may well hand out the same inode again
    assert changes(ds, "ds").modified == ["d/f07/x2.bin"] and answers[-1] == "folders"


def test_a_change_is_looked_for_only_in_the_folders_whose_part_of_the_signature_moved(
        ds: Workspace, answers: list[str]) -> None:
    f = ds.root / "d" / "f03" / "x4.bin"
    f.write_bytes(os.urandom(f.stat().st_size + 1))
    age(write(ds.root / "d" / "f03" / "deep" / "new.txt", "new"))
    st = changes(ds, "ds")
    assert answers[-1] == "folders" and st.rehashed == 1  # x4.bin, written just now (the command read both)
    assert st.modified == ["d/f03/x4.bin"] and st.added == ["d/f03/deep/new.txt"] and st.unchanged == FILES - 1
    # What checkout compares local files with: every path's id, as the per-file answer has them.
    from assay.data._add import hash_entries

    found = scan(ds, ["d"])
    assert st.current_ids == {rel: m.id for rel, _, m in hash_entries(ds, found.files)}


def test_a_folder_replaced_by_a_symlink_to_it_or_by_a_file_loses_its_files(ds: Workspace, answers: list[str]) -> None:
    # The walk follows no symlinked folder (nor can it list a file): their files are gone from
    # the tree, though listing the symlink would find them with the very same stats.
    moved = ds.root / "elsewhere" / "f02"
    moved.parent.mkdir()
    (ds.root / "d" / "f02").rename(moved)
    (ds.root / "d" / "f02").symlink_to(moved)
    gone = sorted(f"d/f02/x{j}.bin" for j in range(150))
    for _ in range(2):  # and nothing wrong is recorded for the next one
        st = changes(ds, "ds")
        assert answers[-1] == "folders" and st.removed == gone and not st.added and not st.modified
    (ds.root / "d" / "f02").unlink()
    write(ds.root / "d" / "f02", "now a file")
    age(ds.root / "d" / "f02")
    st = changes(ds, "ds")
    assert st.removed == gone and st.added == ["d/f02"] and answers[-1] == "folders"


def test_stats_that_moved_without_the_content_record_a_new_signature(ds: Workspace, answers: list[str]) -> None:
    f = ds.root / "d" / "f08" / "x2.bin"
    f.write_bytes(f.read_bytes())  # same bytes
    os.utime(f, (OLD + 60, OLD + 60))  # another mtime, out of the racy window
    st = status(ds, "ds")
    assert answers[-1] == "folders" and not st.dirty and st.rehashed == 1 and st.unchanged == FILES
    assert not status(ds, "ds").dirty and answers[-1] == "signature"


def test_a_damaged_listing_beside_the_signature_is_not_trusted(ds: Workspace, answers: list[str]) -> None:
    import marshal
    import zlib

    conn = sqlite3.connect(ds.cache_dir / "stat.db")
    (blob,) = conn.execute("SELECT ids FROM signatures").fetchone()
    ids = marshal.loads(zlib.decompress(blob))
    ids["d/f05/x1.bin"] = "0" * 64  # a wrong id for a file that is not changed
    conn.execute("UPDATE signatures SET ids = ?", (zlib.compress(marshal.dumps(ids)),))
    conn.commit()
    conn.close()
    (ds.root / "d" / "f05" / "x2.bin").write_bytes(b"changed")
    st = changes(ds, "ds")
    assert answers[-1] == "files" and st.modified == ["d/f05/x2.bin"] and st.unchanged == FILES - 1
    for damaged in (b"", b"not zlib"):
        conn = sqlite3.connect(ds.cache_dir / "stat.db")
        conn.execute("UPDATE signatures SET ids = ?", (damaged,))
        conn.commit()
        conn.close()
        assert changes(ds, "ds").modified == ["d/f05/x2.bin"] and answers[-1] == "files"


@pytest.mark.parametrize("same_inode", [True, False])
def test_rewrite_with_size_and_mtime_restored_is_modified_by_both_caches(ds: Workspace, same_inode: bool) -> None:
    # The ctime moved (the per-file cache compares it, as git does): the signature and the
    # per-file cache both see the edit, and give one answer.
    f = ds.root / "d" / "f07" / "x2.bin"
    before = f.stat()
    if same_inode:
        with open(f, "r+b") as fh:
            fh.write(os.urandom(before.st_size))
    else:
        f.unlink()
        write(f, os.urandom(before.st_size))
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))
    st = changes(ds, "ds")
    assert st.modified == ["d/f07/x2.bin"]
    assert {**st.to_dict(), "rehashed": None} == per_file_answer(ds, "ds")


def test_permission_change_is_modified(ds: Workspace) -> None:
    f = ds.root / "d" / "f01" / "x0.bin"
    f.chmod(0o755)
    assert changes(ds, "ds").modified == ["d/f01/x0.bin"]


def test_added_and_removed_files(ds: Workspace) -> None:
    (ds.root / "d" / "f04" / "x0.bin").unlink()
    age(write(ds.root / "d" / "f04" / "new.bin", "n"))
    age(write(ds.root / "d" / "empty" / "now-full.bin", "m"))
    st = changes(ds, "ds")
    assert st.added == ["d/empty/now-full.bin", "d/f04/new.bin"] and st.removed == ["d/f04/x0.bin"]


def test_file_replaced_by_a_folder(ds: Workspace) -> None:
    f = ds.root / "d" / "top.txt"
    f.unlink()
    age(write(f / "inner.txt", "top level file"))
    st = changes(ds, "ds")
    assert st.removed == ["d/top.txt"] and st.added == ["d/top.txt/inner.txt"]


def test_folder_removed_or_emptied(ds: Workspace) -> None:
    for p in (ds.root / "d" / "f09").iterdir():
        p.unlink()
    st = changes(ds, "ds")
    assert st.removed == sorted(f"d/f09/x{j}.bin" for j in range(150)) and not st.added


def test_symlinks(ds: Workspace, tmp_path_factory: pytest.TempPathFactory) -> None:
    target = write(ds.root / "elsewhere" / "t.txt", "target")
    other = write(ds.root / "elsewhere" / "u.txt", "other")
    age(target, other)
    link = ds.root / "d" / "f00" / "link.txt"
    link.symlink_to(target)
    outside = tmp_path_factory.mktemp("outside") / "o.txt"
    outside.write_text("outside")
    (ds.root / "d" / "f00" / "out.txt").symlink_to(outside)  # skipped: outside the workspace
    (ds.root / "d" / "f00" / "dirlink").symlink_to(ds.root / "d" / "f01")  # skipped: a folder
    assert changes(ds, "ds").added == ["d/f00/link.txt"]
    add(ds, ["d"], name="ds")
    assert not status(ds, "ds").dirty and not status(ds, "ds").dirty
    link.unlink()
    link.symlink_to(other)  # same place, another file
    assert changes(ds, "ds").modified == ["d/f00/link.txt"]
    link.unlink()
    link.symlink_to(outside)
    assert changes(ds, "ds").removed == ["d/f00/link.txt"]


def future(*paths: Path) -> None:
    """An mtime ahead of the clock: inside the racy window for as long as a test runs."""
    later = time.time() + 3600
    for top in paths:
        for p in [top, *top.rglob("*")] if top.is_dir() else [top]:
            if p.is_file():
                os.utime(p, (later, later))


def test_change_within_the_racy_second_is_not_hidden(ws: Workspace, answers: list[str]) -> None:
    tree(ws.root / "d")
    future(ws.root / "d")
    add(ws, ["d"], name="ds")
    assert not status(ws, "ds").dirty  # every file racy: re-read, and no signature recorded
    assert not status(ws, "ds").dirty and answers[-1] == "files"
    f = ws.root / "d" / "f06" / "x1.bin"
    before = f.stat()
    f.write_bytes(os.urandom(before.st_size))
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, inode and mtime
    assert changes(ws, "ds").modified == ["d/f06/x1.bin"]


def test_no_signature_from_racy_or_foreign_entries(ws: Workspace) -> None:
    from assay.data._add import hash_entries

    future(write(ws.root / "d" / "a.txt", "a"))
    age(write(ws.root / "d" / "b.txt", "b"))
    found = scan(ws, ["d"])
    cache = StatCache(ws)
    fresh = hash_entries(ws, found.files)
    cache.update(fresh)
    ids = {rel: m.id for rel, _, m in fresh}
    assert not cache.record_signature("ds", found.files, ids)  # a.txt's id was read within its racy window
    age(ws.root / "d" / "a.txt")
    found = scan(ws, ["d"])
    cache.update(hash_entries(ws, found.files))
    assert not cache.record_signature("ds", found.files, {**ids, "d/a.txt": "0" * 64})  # not the cached id
    assert not cache.record_signature("ds", found.files[:1], ids)  # not the whole listing
    assert cache.record_signature("ds", found.files, ids)


def test_several_sources_and_a_missing_one(ws: Workspace, answers: list[str]) -> None:
    tree(ws.root / "d")
    age(write(ws.root / "single.csv", "a,b\n1,2\n"))
    age(write(ws.root / "other" / "o.txt", "o"))
    age(ws.root / "d")
    add(ws, ["d", "single.csv", "other"], name="ds")
    clean_and_recorded(ws, "ds", answers)
    (ws.root / "single.csv").unlink()
    st = changes(ws, "ds")
    assert st.removed == ["single.csv"] and answers[-1] == "files"
    age(write(ws.root / "single.csv", "a,b\n1,2\n"))
    clean_and_recorded(ws, "ds", answers)
    for p in (ws.root / "other").iterdir():
        p.unlink()
    (ws.root / "other").rmdir()  # a whole source gone
    assert changes(ws, "ds").removed == ["other/o.txt"]


def test_nested_sources_keep_their_answers(ws: Workspace, answers: list[str]) -> None:
    tree(ws.root / "d")
    age(ws.root / "d")
    add(ws, ["d", "d/f01", "d/top.txt"], name="ds")
    clean_and_recorded(ws, "ds", answers)
    (ws.root / "d" / "f01" / "x0.bin").chmod(0o700)
    assert changes(ws, "ds").modified == ["d/f01/x0.bin"]


def test_a_damaged_stat_cache_is_recovered(ds: Workspace, answers: list[str]) -> None:
    db = ds.cache_dir / "stat.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"garbage" * 1000)
    st = status(ds, "ds")
    assert not st.dirty and answers[-1] == "files" and st.rehashed == FILES
    clean_and_recorded(ds, "ds", answers)


def test_signatures_of_an_older_layout_are_dropped(ds: Workspace, answers: list[str]) -> None:
    conn = sqlite3.connect(ds.cache_dir / "stat.db")
    conn.execute("PRAGMA user_version=3")
    conn.commit()
    conn.close()
    assert not status(ds, "ds").dirty and answers[-1] == "files"
    clean_and_recorded(ds, "ds", answers)


def test_a_signature_is_for_its_own_version(ds: Workspace, answers: list[str]) -> None:
    age(write(ds.root / "d" / "f00" / "more.bin", "more"))
    add(ds, ["d"], name="ds")  # v2: the signature of v1's tree says nothing about v2
    assert not status(ds, "ds").dirty
    checkout(ds, "ds@v1")
    st = status(ds, "ds")
    assert not st.dirty and st.against.number == 1


def test_checkout_after_a_clean_signature_status_removes_files_of_the_other_version(
        ds: Workspace, answers: list[str]) -> None:
    # checkout asks status for the files on disk; answered by the signature, they are
    # those of the checked-out version.
    age(write(ds.root / "d" / "f00" / "extra.bin", "extra"))
    add(ds, ["d"], name="ds")
    clean_and_recorded(ds, "ds", answers)
    checkout(ds, "ds@v1")
    assert not (ds.root / "d" / "f00" / "extra.bin").exists()
    st = status(ds, "ds")
    assert not st.dirty and st.against.number == 1


def test_current_ids_of_a_signature_status_are_those_on_disk(ds: Workspace, answers: list[str]) -> None:
    st = status(ds, "ds")
    assert answers[-1] == "signature"
    ids, suspects = StatCache(ds).match(scan(ds, ["d"]).files)
    assert not suspects and st.current_ids == ids


# -- the forked walk --------------------------------------------------------------------

def messy_tree(ws: Workspace) -> list[str]:
    """Every kind of entry `scan` has a rule for, in enough folders to fork."""
    root = ws.root / "m"
    tree(root, folders=24)
    write(root / "f01" / "tab\tand\rcr.txt", "control characters in the name")
    # (A name that is not UTF-8 is refused by name: tests/data/test_checkout_safety.py.)
    (root / "f03" / "link.bin").symlink_to(root / "f04" / "x0.bin")
    (root / "f03" / "dirlink").symlink_to(root / "f05")
    (root / "f03" / "dangling").symlink_to(root / "nowhere")
    (root / "f03" / "outside").symlink_to("/etc/hostname")
    os.mkfifo(root / "f06" / "fifo")
    (root / "f07" / "empty-a" / "empty-b").mkdir(parents=True)
    write(ws.root / "loose.txt", "a file as a source")
    return ["loose.txt", "m", "missing-source"]


def fresh(ws: Workspace, code: str) -> Any:
    """Run ``code`` in a new interpreter (one thread, so the walk may fork), with ``ws`` open; it sets ``out``."""
    prelude = textwrap.dedent(f"""
        import json, os, threading
        from assay.data import _sigwalk
        from assay.data._sigwalk import walk_signature
        from assay.data._scan import scan, stat_signature
        from assay.workspace import Workspace
        ws = Workspace.open({str(ws.root)!r})
        def children():
            return open(f"/proc/self/task/{{os.getpid()}}/children").read().split()
    """)
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code) + "\nprint(json.dumps(out))"],
                          cwd=ws.root, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_forked_and_in_process_walks_agree(ws: Workspace) -> None:
    sources = messy_tree(ws)
    out = fresh(ws, f"""
        sources = {sources!r}
        found = scan(ws, sources, missing_ok=True)
        out = [walk_signature(str(ws.root), sources), stat_signature(found.files), len(found.files), found.warnings]
    """)
    forked, in_process, count, warnings = out
    assert forked is not None and forked == in_process and forked[1] == count
    assert any(w.endswith("not a regular file") for w in warnings)  # the walk met every rule
    assert any("outside the workspace" in w for w in warnings) and any("symlink to a folder" in w for w in warnings)
    assert in_process == list(stat_signature(scan(ws, sources, missing_ok=True).files))  # and in this process
    # Any change to one file's stat changes it.
    os.utime(ws.root / "m" / "f11" / "x1.bin", ns=(OLD * 10**9, OLD * 10**9 + 1))
    again = fresh(ws, f"out = walk_signature(str(ws.root), {sources!r})")
    assert again != forked and again == list(stat_signature(scan(ws, sources, missing_ok=True).files))


def test_nested_or_small_trees_are_walked_in_process(ws: Workspace) -> None:
    messy_tree(ws)
    tree(ws.root / "deep" / "only" / "one")
    tree(ws.root / "few", per_folder=3)
    cases = (["m", "m/f01"], ["m/f01"], ["few"], ["deep"], ["loose.txt", "few"])
    (nested, single, few, deep, mixed), small = fresh(ws, f"""
        out = [[walk_signature(str(ws.root), s) for s in {cases!r}],
               [walk_signature(str(ws.root), s, small=True) for s in {cases!r}]]
    """)
    assert nested is None  # a file found twice
    assert single is None and few is None and mixed is None  # one folder to share out; 20 folders of 3 files
    assert deep == list(stat_signature(scan(ws, ["deep"]).files))  # shared out from further down
    # Asked to, it walks small trees itself (the early walk's child), exactly as the scan does.
    assert small[0] is None
    assert small[1:] == [list(stat_signature(scan(ws, s).files)) for s in cases[1:]]


def test_fork_is_not_used_while_other_threads_run(ws: Workspace) -> None:
    sources = messy_tree(ws)
    alone, beside_a_thread = fresh(ws, f"""
        alone = walk_signature(str(ws.root), {sources!r})
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait)
        thread.start()
        out = [alone, walk_signature(str(ws.root), {sources!r})]
        stop.set()
    """)
    assert alone is not None and beside_a_thread is None
    with another_thread():
        assert walk_signature(str(ws.root), sources) is None


def test_the_forked_walk_answers_a_clean_status(ds: Workspace) -> None:
    answered = fresh(ds, """
        from assay.data import _status
        from assay.data._statcache import StatCache
        log = []
        real_walk, real_match = _status.walk_groups, StatCache.match

        def walk(*args):
            walked = real_walk(*args)
            log.append("in-process" if walked is None else "forked")
            return walked

        _status.walk_groups = walk
        StatCache.match = lambda self, e: log.append("files") or real_match(self, e)
        st = _status.status(ws, "ds")
        out = [log, st.to_dict()["clean"], st.unchanged]
    """)
    assert answered == [["forked"], True, FILES]


def test_a_failing_walker_gives_no_signature_and_leaves_no_process(ws: Workspace) -> None:
    messy_tree(ws)
    folders = [(str(ws.root / "m" / f"f{i:02d}"), f"m/f{i:02d}") for i in range(20)]
    unlistable = [(str(ws.root / "bad\x00name"), "bad\x00name"), *folders]  # that child's listing fails
    out = fresh(ws, f"""
        root = {str(ws.root)!r}
        walk = lambda share: _sigwalk._walk_share(root, share)
        ok = _sigwalk.fork_walk({folders!r}, walk) is not None
        left_after_ok = children()
        failed = _sigwalk.fork_walk({unlistable!r}, walk)
        left_after_failure = children()
        out = [ok, left_after_ok, failed, left_after_failure]
    """)
    assert out == [True, [], None, []]


def test_an_unreadable_folder_raises_as_the_in_process_scan_does(ws: Workspace, ds_unreadable: Path) -> None:
    with pytest.raises(InputError, match="permission denied"):
        status(ws, "ds")
    forked = subprocess.run([sys.executable, "-m", "assay", "data", "status", "ds"], cwd=ws.root, capture_output=True,
                            text=True, timeout=120, check=False)
    assert forked.returncode != 0 and "cannot list d/f10: permission denied" in forked.stderr


@pytest.fixture
def ds_unreadable(ws: Workspace, answers: list[str]) -> Iterator[Path]:
    if os.geteuid() == 0:
        pytest.skip("root lists any folder; the permission check cannot fail")
    tree(ws.root / "d")
    age(ws.root / "d")
    add(ws, ["d"], name="ds")
    clean_and_recorded(ws, "ds", answers)
    folder = ws.root / "d" / "f10"
    folder.chmod(0)
    yield folder
    folder.chmod(0o755)


# -- the stat cache ---------------------------------------------------------------------

def test_update_before_any_lookup_does_not_load_the_table_and_later_lookups_see_it(ws: Workspace) -> None:
    age(write(ws.root / "d" / "a.txt", "a"))
    from assay.data._add import hash_entries

    found = scan(ws, ["d"])
    cache = StatCache(ws)
    fresh = hash_entries(ws, found.files)
    cache.update(fresh)
    assert cache._rows is None  # nothing was in memory to follow
    assert cache.lookup_id("d/a.txt", found.files[0].st) == fresh[0][2].id
    age(write(ws.root / "d" / "a.txt", "b"))
    found = scan(ws, ["d"])
    fresh = hash_entries(ws, found.files)
    cache.update(fresh)  # loaded now: the rows in memory follow
    assert cache.lookup_id("d/a.txt", found.files[0].st) == fresh[0][2].id
    assert StatCache(ws).lookup_id("d/a.txt", found.files[0].st) == fresh[0][2].id


def test_a_clean_status_loads_only_what_it_needs(ds: Workspace) -> None:
    # Start-up is most of a clean status: no chunker, packs, store, checkout code or OpenSSL.
    loaded = fresh(ds, """
        import sys
        from assay.data._status import status
        assert not status(ws, "ds").dirty
        out = sorted(set(sys.modules) & {"assay.data._checkout", "assay.data._checkout_target",
                                         "assay.data._checkout_temps", "assay.data._checkout_write",
                                         "assay.data._chunking", "assay.data._pack_codec",
                                         "assay.data._pack_format", "assay.data._pack_writer", "assay.data._packs",
                                         "assay.data._add", "assay.store", "_hashlib", "blake3", "numpy",
                                         "zstandard", "concurrent.futures"})
    """)
    assert loaded == []


def test_add_records_the_signature_that_answers_the_first_status(ws: Workspace, answers: list[str]) -> None:
    tree(ws.root / "d")
    age(ws.root / "d")
    add(ws, ["d"], name="ds")
    answers.clear()  # add itself consults the per-file cache
    st = status(ws, "ds")
    assert answers == ["signature"] and not st.dirty and st.unchanged == FILES


def test_add_of_racy_files_records_no_signature(ws: Workspace, answers: list[str]) -> None:
    tree(ws.root / "d")  # just written: inside the racy second when add reads them
    add(ws, ["d"], name="ds")
    answers.clear()
    assert not status(ws, "ds").dirty
    assert answers == ["files"]


def test_a_folder_that_vanished_since_its_parent_was_listed_is_not_part_of_the_scan(ws: Workspace) -> None:
    from assay.data._scan import _list_folder
    from assay.data._sigwalk import _digest_folder

    assert _list_folder(str(ws.root), str(ws.root / "gone"), "gone") == ([], [], [], False, [])
    assert _digest_folder(str(ws.root), str(ws.root / "gone"), "gone") == (0, b"", [])  # the walkers' lean listing


def test_a_cache_row_whose_manifest_no_longer_hashes_to_its_id_is_read_again(ws: Workspace) -> None:
    import sqlite3

    tree(ws.root / "d")
    age(ws.root / "d")
    first = add(ws, ["d"], name="ds")
    db = sqlite3.connect(ws.cache_dir / "stat.db")
    with db:
        (raw,) = db.execute("SELECT manifest FROM files WHERE path = ?", ("d/top.txt",)).fetchone()
        db.execute("UPDATE files SET manifest = ? WHERE path = ?", (raw[:-1] + bytes([raw[-1] ^ 1]), "d/top.txt"))
    db.close()
    again = add(ws, ["d"], name="ds")
    assert again.rehashed_files == 1  # the damaged row was not trusted
    assert not again.created and again.version.snapshot == first.version.snapshot


# -- the walk started by the entry point (_prefetch.py) -----------------------------------

def hints(ws: Workspace) -> dict[str, list[str]]:
    import marshal

    return marshal.loads((ws.cache_dir / "status-walks").read_bytes())


PREFETCHED_STATUS = """
    from assay.data import _status
    from assay.data._prefetch import prefetch_status
    started = prefetch_status(["ds"])
    walks = []
    real_walk = _status.walk_groups
    _status.walk_groups = lambda *a: walks.append(a[1]) or real_walk(*a)
    st = _status.status(ws, "ds")
    out = [started, walks, st.to_dict(), children()]
"""


def test_add_leaves_the_sources_for_the_early_walk_and_status_takes_its_answer(ds: Workspace) -> None:
    assert hints(ds) == {"ds": ["d"]}
    started, walks, st, left = fresh(ds, PREFETCHED_STATUS)
    assert started and walks == []  # answered by the walk started before, not by one of its own
    assert st["clean"] and st["unchanged"] == FILES and left == []


def test_the_early_walk_answers_a_small_tree_too(ws: Workspace) -> None:
    tree(ws.root / "s", folders=2, per_folder=5)
    age(ws.root / "s")
    add(ws, ["s"], name="ds")
    started, walks, st, left = fresh(ws, PREFETCHED_STATUS)
    assert started and walks == [] and st["clean"] and st["unchanged"] == 2 * 5 + 2 and left == []


def test_a_change_seen_by_the_early_walk_is_reported(ds: Workspace) -> None:
    f = ds.root / "d" / "f04" / "x3.bin"
    f.write_bytes(os.urandom(f.stat().st_size))
    (ds.root / "d" / "f09" / "x0.bin").unlink()
    started, walks, st, left = fresh(ds, PREFETCHED_STATUS)
    assert started and walks == []
    assert st["modified"] == ["d/f04/x3.bin"] and st["removed"] == ["d/f09/x0.bin"] and not st["clean"]


def test_the_early_walk_is_stopped_when_no_signature_can_use_it(ds: Workspace) -> None:
    sqlite3.connect(ds.cache_dir / "stat.db").execute("DELETE FROM signatures").connection.commit()
    started, walks, st, left = fresh(ds, PREFETCHED_STATUS)
    assert started and walks == [] and st["clean"] and left == []  # the per-file answer; the child is gone


def test_a_stale_or_damaged_hint_costs_only_the_head_start(ds: Workspace) -> None:
    import marshal

    path = ds.cache_dir / "status-walks"
    path.write_bytes(marshal.dumps({"ds": ["d", "elsewhere"]}))  # not the version's sources
    started, walks, st, left = fresh(ds, PREFETCHED_STATUS)
    assert started and walks == [["d"]] and st["clean"] and left == []  # walked again, as without it
    assert hints(ds) == {"ds": ["d"]}  # and put right
    for damaged in (b"", b"\x00garbage", marshal.dumps([1, 2]), marshal.dumps({"ds": "d"}), b"{" * (2 << 20)):
        path.write_bytes(damaged)
        started, walks, st, left = fresh(ds, PREFETCHED_STATUS)
        assert not started and walks == [["d"]] and st["clean"] and st["unchanged"] == FILES
        assert hints(ds) == {"ds": ["d"]}


def test_no_early_walk_without_a_workspace_a_hint_or_a_single_thread(ds: Workspace) -> None:
    out = fresh(ds, f"""
        import tempfile
        from assay.data._prefetch import prefetch_status
        unknown = prefetch_status(["nope"])
        os.chdir(tempfile.mkdtemp())
        os.environ.pop("ASSAY_HOME", None)
        nowhere = prefetch_status(["ds"])
        os.chdir({str(ds.root)!r})
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait)
        thread.start()
        threaded = prefetch_status(["ds"])
        stop.set()
        thread.join()
        while len(os.listdir("/proc/self/task")) > 1:  # the kernel's thread ends just after join
            pass
        first = prefetch_status(None)  # every dataset with a hint
        again = prefetch_status(["ds"])  # one walk per process
        out = [unknown, nowhere, threaded, first, again]
    """)
    assert out == [False, False, False, True, False]


def test_the_early_walk_loads_almost_nothing(ds: Workspace) -> None:
    # It runs before the command line loads: what it imports, every status waits for.
    code = ("import sys; from assay.data._prefetch import prefetch_status; assert prefetch_status(['ds']);"
            "print(sorted(m for m in sys.modules if m.startswith('assay') or m in {'click', 'typing', 'pathlib',"
            " 'sqlite3', 'dataclasses', 'tomllib', 'threading', 'pickle'}))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ds.root, capture_output=True, text=True, timeout=60,
                          check=True)
    assert json.loads(proc.stdout.replace("'", '"')) == ["assay", "assay._root", "assay.data", "assay.data._fork",
                                                         "assay.data._hints", "assay.data._prefetch", "assay.errors"]
    # And the child's walk, before its first folder: no typing, pickle or threading.
    code = ("import sys; import assay.data._sigwalk;"
            "print(sorted(m for m in sys.modules if m in {'click', 'typing', 'pathlib', 'sqlite3', 'dataclasses',"
            " 'tomllib', 'threading', 'pickle', 'assay.workspace', 'assay.progress', 'assay.data._scan'}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "[]"


def test_the_entry_point_starts_the_walk_only_for_data_status(monkeypatch: pytest.MonkeyPatch) -> None:
    import assay.data._prefetch
    import assay.data._replay
    from assay.cli import _head_start

    calls: list[list[str] | None] = []
    asked: list[tuple[str | None, bool]] = []
    monkeypatch.setattr(assay.data._prefetch, "prefetch_status", lambda names=None: calls.append(names) or True)
    monkeypatch.setattr(assay.data._replay, "replay_status", lambda name, *, as_json: asked.append((name, as_json)))
    # (no recorded answer: on to the early walk)
    for args in (["data", "status"], ["data", "status", "ds"], ["data", "status", "--json", "ds"],
                 ["data", "status", "ds", "--json"]):
        assert _head_start(args) is False
    for args in (["data", "status", "--help"], ["data", "status", "a", "b"], ["data", "add", "d"],
                 ["--version"], [], ["status"], ["data", "status", "-h"], ["data", "status", "ds", "--remote", "x"],
                 ["--json", "data", "status"], ["data", "--json", "status", "ds"]):
        assert _head_start(args) is False
    assert calls == [None, ["ds"], ["ds"], ["ds"]]
    assert asked == [(None, False), ("ds", False), ("ds", True), ("ds", True)]


def test_an_interrupted_or_abandoned_early_walk_leaves_no_process(ds: Workspace) -> None:
    # The command ends before status takes the walk (an error, --help): the child is not
    # waited for, holds none of the caller's pipes, and goes when its walk is done.
    code = ("import os, sys; from assay.data._prefetch import prefetch_status; assert prefetch_status(['ds']);"
            "from assay.data import _prefetch; print(_prefetch._pending.pid)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ds.root, capture_output=True, text=True, timeout=60,
                          check=True)
    pid = int(proc.stdout)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the early walk {pid} is still running 30 s after its parent ended")
