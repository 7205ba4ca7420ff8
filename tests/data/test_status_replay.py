"""A clean `data status` answered again at the entry point (assay.data._replay).

The answer may be replayed only while everything it was computed from is unchanged, and
must then be exactly what the full command prints. Each test runs `assay`'s entry point
in a new process and looks at what it loaded: no click means the answer was replayed.
"""

from __future__ import annotations

import json
import marshal
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from assay.data import _prefetch, _replay, add, checkout, status
from assay.data._replay import replay_status
from assay.data._add import snapshot_paths
from assay.data._replay import ANSWERS, render
from assay.data._versions import record_version, save_snapshot
from assay.workspace import Workspace
from tests.data.test_status_signature import OLD, age, write

_WATCHED = ("click", "sqlite3", "json", "re", "typing", "pathlib", "tomllib", "assay.workspace",
            "assay.data._fork", "assay.data._scan", "assay.ledger")
_RUN = f"""
import sys
from assay.cli import main
sys.argv = ["assay", "data", "status", *sys.argv[1:]]
try:
    main()
finally:
    print("LOADED", sorted(m for m in sys.modules if m in {_WATCHED!r}), file=sys.stderr)
"""


def run_status(ws: Workspace, *args: str) -> tuple[str, list[str]]:
    """``assay data status ARGS`` in a new process: its output, and which of _WATCHED it loaded."""
    proc = subprocess.run([sys.executable, "-c", _RUN, *args], cwd=ws.root, capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, "ASSAY_PROGRESS": "0"})
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stderr.rpartition("LOADED ")[2]
    return proc.stdout, json.loads(loaded.replace("'", '"'))


def replayed(ws: Workspace, *args: str) -> str:
    out, loaded = run_status(ws, *args)
    assert loaded == [], f"not replayed: loaded {loaded}"
    return out


def full(ws: Workspace, *args: str) -> str:
    out, loaded = run_status(ws, *args)
    assert "click" in loaded, "replayed where the full command had to run"
    return out


def answers_file(ws: Workspace) -> Path:
    return ws.cache_dir / ANSWERS


@pytest.fixture
def clean(ws: Workspace) -> Workspace:
    """Dataset "ds" (a folder) and "other" (a file), both added with mtimes outside the racy window."""
    for name in ("a.csv", "b.bin", "sub/c.txt", "sub/deeper/e.txt"):
        write(ws.root / "d" / name, os.urandom(300) if name.endswith(".bin") else f"{name}\n" * 20)
    write(ws.root / "o.txt", "other\n")
    age(ws.root / "d", ws.root / "o.txt")
    add(ws, ["d"], name="ds")
    add(ws, ["o.txt"], name="other")
    return ws


FORMS = [("ds",), ("ds", "--json"), (), ("--json",)]


@pytest.mark.parametrize("args", FORMS, ids=["named", "named-json", "all", "all-json"])
def test_the_replayed_answer_is_the_full_commands_word_for_word(clean: Workspace, args: tuple[str, ...]) -> None:
    answers_file(clean).unlink()
    first = full(clean, *args)  # answered by the stat signature; records its answer again
    assert replayed(clean, *args) == first
    if "--json" in args:
        doc = json.loads(first)
        for st in [doc] if args[0] == "ds" else doc["datasets"]:
            assert st["clean"] is True and st["rehashed"] == 0
    else:
        assert "clean against ds@v1 (4 files)" in first


def test_the_status_after_add_is_replayed(clean: Workspace) -> None:
    assert replayed(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"
    assert replayed(clean) == "ds: clean against ds@v1 (4 files)\nother: clean against other@v1 (1 file)\n"


def test_render_is_json_dumps_of_the_status(clean: Workspace) -> None:
    statuses = [status(clean, "ds"), status(clean, "other")]
    rows = [(s.dataset, s.against.ref, s.against.id, s.unchanged) for s in statuses]
    dumps = [json.dumps({**s.to_dict(), "rehashed": 0}, indent=2, ensure_ascii=False) for s in statuses]
    assert render(rows[:1], named=True, as_json=True) == dumps[0] + "\n"
    assert render(rows, named=False, as_json=True) == json.dumps(
        {"datasets": [json.loads(d) for d in dumps]}, indent=2, ensure_ascii=False) + "\n"
    with pytest.raises(ValueError):
        render([('a"b', "a@v1", "0" * 32, 1)], named=True, as_json=True)


# -- anything the answer was computed from changes: the full command runs ------------------

def test_an_edited_file_is_reported(clean: Workspace) -> None:
    with open(clean.root / "d" / "a.csv", "a") as f:
        f.write("one more row\n")
    out = json.loads(full(clean, "ds", "--json"))
    assert out["modified"] == ["d/a.csv"] and not out["clean"]


def test_a_touched_file_is_checked_then_replayed_again(clean: Workspace) -> None:
    os.utime(clean.root / "d" / "sub" / "c.txt", (OLD + 100, OLD + 100))
    assert full(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"
    assert replayed(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"


def test_a_newer_version_in_the_ledger_is_compared_with(clean: Workspace) -> None:
    # The files stay as they are, so only the ledger's latest row tells the answer is stale.
    (clean.cache_dir / "heads.json").unlink()  # no head: status compares with the latest version
    assert full(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"
    assert replayed(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"
    write(clean.root / "e" / "x.txt", "other content\n")
    snapshot, _ = snapshot_paths(clean, ["e"])
    save_snapshot(clean.store, snapshot)
    record_version(clean, "ds", snapshot, sources=["d"])  # as a pull of a newer version does
    out = json.loads(full(clean, "ds", "--json"))
    assert out["against"] == "ds@v2" and not out["clean"] and out["removed"] == ["e/x.txt"]


def test_a_checkout_changes_what_status_compares_with(clean: Workspace) -> None:
    v1 = status(clean, "ds").against
    write(clean.root / "d" / "new.txt", "new\n")
    age(clean.root / "d")
    add(clean, ["d"], name="ds")
    assert replayed(clean, "ds") == "ds: clean against ds@v2 (5 files)\n"
    heads = clean.cache_dir / "heads.json"
    saved = heads.read_bytes()
    # The heads file alone names v1 (the files are v2's): only the head tells the answer is stale.
    heads.write_text(json.dumps({**json.loads(saved), "ds": v1.id}, indent=1))
    out = json.loads(full(clean, "ds", "--json"))
    assert out["against"] == "ds@v1" and out["added"] == ["d/new.txt"]
    heads.write_bytes(saved)
    assert replayed(clean, "ds") == "ds: clean against ds@v2 (5 files)\n"
    checkout(clean, "ds@v1", force=True)
    assert full(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"


def test_an_edited_config_or_changed_sources_are_not_replayed(clean: Workspace) -> None:
    config = clean.dir / "config.toml"
    config.write_text(config.read_text() + "# edited\n")
    assert full(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"
    assert replayed(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"  # recorded under the new bytes
    conn = sqlite3.connect(clean.dir / "ledger.db")
    with conn:
        conn.execute("UPDATE datasets SET sources = ? WHERE name = 'ds'", (json.dumps(["d", "o.txt"]),))
        conn.execute("UPDATE version_sources SET sources = ?", (json.dumps(["d", "o.txt"]),))  # the version's own
    conn.close()
    out = json.loads(full(clean, "ds", "--json"))
    assert out["added"] == ["o.txt"]


def test_another_workspace_root_is_not_replayed(clean: Workspace, tmp_path_factory: pytest.TempPathFactory) -> None:
    answers = marshal.loads(answers_file(clean).read_bytes())
    for answer in answers["answers"].values():
        answer["root"] = str(tmp_path_factory.mktemp("elsewhere"))
    answers_file(clean).write_bytes(marshal.dumps(answers))
    assert full(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong-shape", "missing-field", "empty", "huge"])
def test_a_damaged_answers_file_costs_only_the_check(clean: Workspace, damage: str) -> None:
    good = answers_file(clean).read_bytes()
    short = marshal.loads(good)
    for answer in short["answers"].values():
        del answer["head"]  # (a field whose value may be None)
    bad = {
        "garbage": os.urandom(200), "truncated": good[: len(good) // 2], "empty": b"",
        "wrong-shape": marshal.dumps({"format": _replay._FORMAT, "answers": {"ds": {"root": 1, "files": "x"}}}),
        "missing-field": marshal.dumps(short),
        "huge": marshal.dumps({**marshal.loads(good), "pad": b"x" * (2 << 20)}),
    }[damage]
    answers_file(clean).write_bytes(bad)
    assert full(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"
    assert replayed(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"


def test_a_missing_dataset_or_ledger_falls_through_to_the_full_commands_error(clean: Workspace) -> None:
    proc = subprocess.run([sys.executable, "-m", "assay", "data", "status", "nope"], cwd=clean.root,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "no dataset or model named 'nope'" in proc.stderr
    for suffix in ("", "-wal", "-shm"):
        Path(f"{clean.dir / 'ledger.db'}{suffix}").unlink(missing_ok=True)
    # No ledger: the replay must not create one (it opens it read-only), and answers nothing.
    assert replay_status("ds", as_json=False) is None
    assert not (clean.dir / "ledger.db").exists()


def test_one_stale_dataset_makes_the_whole_listing_run_in_full(clean: Workspace) -> None:
    assert replayed(clean) == "ds: clean against ds@v1 (4 files)\nother: clean against other@v1 (1 file)\n"
    v1 = status(clean, "other").against
    write(clean.root / "o.txt", "other, changed\n")
    age(clean.root / "o.txt")
    add(clean, ["o.txt"], name="other")
    heads = clean.cache_dir / "heads.json"
    heads.write_text(json.dumps({**json.loads(heads.read_text()), "other": v1.id}, indent=1))
    out = full(clean)
    assert out == "ds: clean against ds@v1 (4 files)\nother: changes against other@v1\n  modified  o.txt\n"


def test_models_are_not_listed_by_the_replay_either(clean: Workspace) -> None:
    write(clean.root / "m" / "weights.bin", os.urandom(500))
    age(clean.root / "m")
    add(clean, ["m"], name="net", kind="model")
    answers = marshal.loads(answers_file(clean).read_bytes())["answers"]
    assert "net" in answers  # a model's answer is kept: `assay data status net` may replay it
    assert replayed(clean, "net") == "net: clean against net@v1 (1 file)\n"
    listing = replayed(clean)  # datasets only, as the full command lists them
    assert listing == "ds: clean against ds@v1 (4 files)\nother: clean against other@v1 (1 file)\n"
    answers_file(clean).unlink()
    assert full(clean) == listing


def test_a_head_the_ledger_does_not_hold_is_not_recorded(clean: Workspace) -> None:
    # A pull may later add that version under a number below the latest one; status then
    # compares with it, so no answer given without it may be replayed.
    answers_file(clean).unlink()
    heads = clean.cache_dir / "heads.json"
    heads.write_text(json.dumps({**json.loads(heads.read_text()), "ds": "f" * 32}, indent=1))
    assert full(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"
    assert "ds" not in _replay._read(str(answers_file(clean)))
    assert full(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"


def test_a_newer_ledger_schema_or_a_lost_stat_cache_runs_in_full(clean: Workspace) -> None:
    conn = sqlite3.connect(clean.dir / "ledger.db")
    with conn:
        conn.execute("INSERT INTO schema_migrations (version, description, applied_at) VALUES (999, 'x', 'now')")
    conn.close()
    proc = subprocess.run([sys.executable, "-m", "assay", "data", "status", "ds"], cwd=clean.root,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "newer than this assay" in proc.stderr, proc.stderr
    conn = sqlite3.connect(clean.dir / "ledger.db")
    with conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = 999")
    conn.close()
    assert replayed(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"
    stat_db = clean.cache_dir / "stat.db"
    shutil.copyfile(stat_db, clean.cache_dir / "copy.db")
    os.replace(clean.cache_dir / "copy.db", stat_db)  # another file: it could hold anything
    full(clean, "ds")
    assert replayed(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"
    with open(stat_db, "r+b") as f:  # damaged in place: the full command rebuilds it
        f.seek(60)
        f.write(b"\xff\xff\xff\xff")
    assert json.loads(full(clean, "ds", "--json"))["rehashed"] == 4
    stat_db.unlink()  # lost: the full command re-reads every file, and says so
    assert json.loads(full(clean, "ds", "--json"))["rehashed"] == 4


def test_a_relative_sqlite_ledger_keeps_no_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ws = Workspace.init(tmp_path, ledger="sqlite:///relative-ledger.db")  # relative to where assay runs
    try:
        write(tmp_path / "d" / "x.txt", "x\n")
        age(tmp_path / "d")
        add(ws, ["d"], name="ds")
        assert not status(ws, "ds").dirty and not status(ws, "ds").dirty
        assert not answers_file(ws).exists()
    finally:
        ws.close()


def test_answers_of_another_ledger_are_not_mixed_in(clean: Workspace) -> None:
    elsewhere = clean.root / "elsewhere.db"
    shutil.copyfile(clean.dir / "ledger.db", elsewhere)  # the same rows: only the path tells them apart
    answers = marshal.loads(answers_file(clean).read_bytes())
    answers["answers"]["other"]["ledger"] = str(elsewhere)
    answers_file(clean).write_bytes(marshal.dumps(answers))
    assert replayed(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"
    full(clean)


def test_only_data_status_with_its_own_options_is_answered_early(clean: Workspace) -> None:
    for args in (["--json", "data", "status"], ["data", "--json", "status", "ds"], ["data", "status", "ds", "-h"],
                 ["data", "status", "ds", "other"]):
        proc = subprocess.run([sys.executable, "-c", _RUN.replace('"data", "status", ', ""), *args],
                              cwd=clean.root, capture_output=True, text=True, timeout=60, check=False)
        assert "'click'" in proc.stderr.rpartition("LOADED ")[2], (args, proc.stderr)
        assert proc.returncode != 0 or "-h" in args, (args, proc.stdout)


def test_output_errors_end_as_the_full_commands_do(clean: Workspace) -> None:
    for args in (["ds"], ["ds", "--json"]):
        with open("/dev/full", "w") as full_device:
            proc = subprocess.run([sys.executable, "-c", _RUN, *args], cwd=clean.root, stdout=full_device,
                                  stderr=subprocess.PIPE, text=True, timeout=60, check=False)
        assert proc.returncode == 2 and "no space left on the device" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
        assert "assay.workspace" not in proc.stderr.rpartition("LOADED ")[2]  # it was the replay that failed
    read, write_end = os.pipe()
    os.close(read)  # a reader that went away before anything was written
    try:
        proc = subprocess.run([sys.executable, "-c", _RUN, "ds"], cwd=clean.root, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    finally:
        os.close(write_end)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("LOADED ") and "assay.workspace" not in proc.stderr, proc.stderr


def test_an_answers_file_that_cannot_be_written_costs_nothing_else(clean: Workspace) -> None:
    answers_file(clean).unlink()
    answers_file(clean).mkdir()
    assert full(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"
    assert full(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"
    assert not [p.name for p in clean.cache_dir.iterdir() if p.name.endswith(".tmp")]  # no temp file left


def test_status_against_a_named_version(clean: Workspace) -> None:
    write(clean.root / "d" / "new.txt", "new\n")
    age(clean.root / "d")
    add(clean, ["d"], name="ds")
    assert json.loads(full(clean, "ds@v1", "--json"))["added"] == ["d/new.txt"]
    assert json.loads(full(clean, "ds@v2", "--json"))["clean"] is True
    assert replayed(clean, "ds") == "ds: clean against ds@v2 (5 files)\n"


# -- in this process ---------------------------------------------------------------------

def test_a_walk_that_differs_is_handed_to_status(clean: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    import assay.data._status as status_module

    monkeypatch.setattr(_prefetch, "_pending", None)
    (clean.root / "d" / "b.bin").unlink()
    assert replay_status("ds", as_json=False) is None
    assert _prefetch._pending is not None

    def no_second_walk(*args: object, **kwargs: object) -> None:
        raise AssertionError("status walked again instead of taking the replay's walk")

    monkeypatch.setattr(status_module, "walk_groups", no_second_walk)
    assert status(clean, "ds").removed == ["d/b.bin"]
    assert _prefetch.take(str(clean.root), "ds", ["d"]) is None  # taken once


@pytest.fixture
def folders(ws: Workspace) -> Workspace:
    """Dataset "ds": 20 folders of one file, enough to share out among forked walkers."""
    for i in range(20):
        write(ws.root / "d" / f"f{i:02d}" / "x.txt", f"{i}\n")
    age(ws.root / "d")
    add(ws, ["d"], name="ds")
    return ws


def test_big_trees_are_walked_by_forked_walkers(folders: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.data import _sigwalk

    ws = folders
    monkeypatch.setattr(_prefetch, "_pending", None)
    monkeypatch.setattr(_replay, "MAX_FILES", 3)
    monkeypatch.setattr(_sigwalk, "_FORK_MIN_ENTRIES", 1)
    forked: list[int] = []
    fork_walk = _sigwalk.fork_walk
    monkeypatch.setattr(_sigwalk, "fork_walk",
                        lambda folders, walk: forked.append(len(folders)) or fork_walk(folders, walk))
    from assay.data._fork import can_fork

    single = can_fork()  # (not in a test process where an earlier test left a thread: a server's)
    assert replay_status("ds", as_json=False) == "ds: clean against ds@v1 (20 files)\n"
    # the other 4 listed here, to judge the size; where this process cannot fork, all walked
    # here (the next test forks in a fresh process)
    assert forked == ([16] if single else [])
    assert _prefetch._pending is None
    (ws.root / "d" / "f07" / "x.txt").write_text("changed\n")
    assert replay_status("ds", as_json=False) is None
    assert _prefetch._pending is not None  # the walk is status's: it does not walk again
    assert status(ws, "ds").modified == ["d/f07/x.txt"]


def test_a_big_tree_is_answered_without_the_command_line_or_typing(folders: Workspace) -> None:
    code = ("import assay.data._replay as r, assay.data._sigwalk as w\n"
            "r.MAX_FILES, w._FORK_MIN_ENTRIES = 3, 1  # a big tree, worth forking for\n" + _RUN)
    proc = subprocess.run([sys.executable, "-c", code, "ds", "--json"], cwd=folders.root, capture_output=True,
                          text=True, timeout=120, check=True)
    assert json.loads(proc.stdout)["clean"] is True
    # The walk forked, and nothing else watched loaded (its progress bar brings no typing).
    assert proc.stderr.rpartition("LOADED ")[2].strip() == "['assay.data._fork']"


def test_no_answer_is_kept_for_a_postgresql_ledger(tmp_path: Path, pg_database: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ws = Workspace.init(tmp_path, ledger=pg_database)
    try:
        write(tmp_path / "d" / "x.txt", "x\n")
        age(tmp_path / "d")
        add(ws, ["d"], name="ds")
        assert not status(ws, "ds").dirty
        assert not answers_file(ws).exists()
        assert full(ws, "ds") == "ds: clean against ds@v1 (1 file)\n"
    finally:
        ws.close()


@pytest.mark.parametrize("text", [
    '{\n "ds": "ab12",\n "other": "cd34"\n}', "{}", " { } ", '{"a":"1","a":"2"}', '{"a": "1"}',
    '{"a": "1",}', '{"a": 1}', '{"a": "1" "b": "2"}', '["a", "b"]', '{"a": "x\\"y"}', '{"a": "x\ny"}',
    '{"a": "1"', '"a"', "", '{"é": "ü"}', '{"a": "1"} x',
])
def test_the_heads_file_reads_as_json_loads_reads_it_or_not_at_all(tmp_path: Path, text: str) -> None:
    path = tmp_path / "heads.json"
    path.write_text(text, encoding="utf-8")
    ours = _replay._heads(str(path))
    try:
        theirs = json.loads(text)
    except ValueError:
        theirs = None
    if ours is not None:  # where it reads the file, it reads what json.loads does
        assert ours == theirs
    if text in ("{}", '{"a": "1"}', '{"a":"1","a":"2"}', '{\n "ds": "ab12",\n "other": "cd34"\n}'):
        assert ours is not None
    assert _replay._heads(str(tmp_path / "missing.json")) == {}
    path.write_text('{"ds": "ab12"}' + " " * (2 << 20) + "garbage")  # json.loads refuses it; a cut prefix would not
    assert _replay._heads(str(path)) is None
    assert _replay._heads(str(tmp_path)) is None  # unreadable (a folder): the full command says why


def test_the_early_walk_serves_each_dataset_it_covered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    group = [("x", 1, b"d" * 32)]
    monkeypatch.setattr(_prefetch, "_pending", _prefetch._Walk.finished("/r", {"a": ["x"]}, {"a": group}))
    assert _prefetch.take("/r", "c", ["y"]) is None  # not covered: the walk stays for the others
    assert _prefetch.take("/r", "a", ["x"]) == group
    assert _prefetch.take("/r", "a", ["x"]) is None  # taken once
    monkeypatch.setattr(_prefetch, "_pending", _prefetch._Walk.finished("/r", {"a": ["x"]}, {"a": group}))
    assert _prefetch.take("/r", "a", ["x", "z"]) is None  # other sources than walked: stale, dropped
    assert _prefetch._pending is None


def test_what_the_replay_knows_of_the_ledger_is_this_assays(clean: Workspace) -> None:
    from assay.ledger._migrations import MIGRATIONS

    assert _replay.LEDGER_SCHEMA == MIGRATIONS[-1][0]
    answers = marshal.loads(answers_file(clean).read_bytes())
    for answer in answers["answers"].values():
        answer["assay"] = "0.0.0"  # recorded by another assay: its answer may not be this one's
    answers_file(clean).write_bytes(marshal.dumps(answers))
    assert full(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"
    assert replayed(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"


def test_an_answer_over_a_stat_cache_of_another_layout_is_not_replayed(clean: Workspace) -> None:
    # An assay whose stat cache layout changed (and whose version did not) must not replay an
    # answer recorded over the old layout: the full command rebuilds the cache, re-hashing.
    from assay.data._statcache import _SCHEMA

    assert _replay.STAT_SCHEMA == _SCHEMA
    assert replayed(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"
    db = clean.cache_dir / "stat.db"
    data = bytearray(db.read_bytes())
    data[60:64] = (_SCHEMA - 1).to_bytes(4, "big")  # as an older assay left it
    db.write_bytes(bytes(data))
    answers = marshal.loads(answers_file(clean).read_bytes())
    for answer in answers["answers"].values():
        dev, ino, header = answer["stat"]
        answer["stat"] = (dev, ino, header[:16] + (_SCHEMA - 1).to_bytes(4, "big") + header[20:])  # recorded then
    answers_file(clean).write_bytes(marshal.dumps(answers))
    assert full(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"  # the full command ran


def test_an_interrupted_entry_point_exits_130(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import assay.data._replay
    from assay.cli import main

    monkeypatch.setattr("_signal.signal", lambda *a: None)  # keep this process's own Ctrl-C handling

    def interrupted(name: str | None, *, as_json: bool) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(assay.data._replay, "replay_status", interrupted)
    monkeypatch.setattr(sys, "argv", ["assay", "data", "status", "ds"])
    with pytest.raises(SystemExit) as ended:
        main()
    assert ended.value.code == 130 and capsys.readouterr().err == "assay: interrupted\n"


def test_an_error_report_survives_an_unwritable_stream(clean: Workspace) -> None:
    with open("/dev/full", "w") as full_device:
        proc = subprocess.run([sys.executable, "-m", "assay", "data", "status", "nope", "--json"], cwd=clean.root,
                              stdout=subprocess.PIPE, stderr=full_device, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "no dataset or model named" in json.loads(proc.stdout)["message"], proc.stdout


def test_the_stat_cache_is_known_by_the_header_it_is_written_with(clean: Workspace) -> None:
    from assay.data._statcache import stat_cache_header

    header = (clean.cache_dir / "stat.db").read_bytes()[:100]
    assert header[:16] + header[60:64] + header[68:72] == stat_cache_header(clean)


def test_a_dataset_sharing_its_folder_is_not_replayed(clean: Workspace) -> None:
    # status says where two datasets share files (shares_folder_with); the replay leaves that to it
    from assay.data._replay import _shares

    assert replayed(clean, "ds") == "ds: clean against ds@v1 (4 files)\n"
    add(clean, ["d/sub"], name="inner", allow_overlap=True)
    assert "shares files with dataset 'inner': d holds d/sub" in full(clean, "ds")
    assert "shares files" in full(clean, "ds")  # (not recorded away either)
    assert not _shares(["d"], ['[]', '["dd", "e/d"]', '["o.txt"]'])
    assert all(_shares(["d"], [t]) for t in ('["d"]', '["x", "d/s"]', '[ "e" , "d" ]', '["\\\\u00e9"]', '["a"'))
