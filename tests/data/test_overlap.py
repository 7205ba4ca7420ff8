"""Two datasets in one folder (found by trials: `data add raw/ --name raw2` beside `raw`, a run's
`--out raw2=raw/` of its input's folder, `all` on data/ and `sub` on data/sub): they share the
files there, so a checkout of one rewrote the other's without a word. A new overlap is
refused unless asked for; one that exists keeps working, and is said on each add and on a
checkout that changed the other's files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from assay.data import add, checkout
from assay.errors import UsageError
from assay.workspace import Workspace

PY = sys.executable


def _files(ws: Workspace, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = ws.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_second_dataset_in_a_dataset_s_folder_is_refused_unless_allowed(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    _files(ws, {"raw/a": "1", "data/t": "t", "data/sub/s": "s", "own/o": "o"})
    cli("data", "add", "raw", "--name", "raw")
    err = cli("data", "add", "raw/", "--name", "raw2", check=2).stderr
    assert "dataset 'raw2': raw is where dataset 'raw' was added from too" in err
    assert "checking out a version of either rewrites the other's" in err and "--allow-overlap" in err
    doc = cli.json("data", "add", "raw", "--name", "raw2", check=2)
    assert doc["overlaps"] == [{"dataset": "raw", "path": "raw", "theirs": "raw"}]
    # nested, either way round
    cli("data", "add", "data", "--name", "all")
    assert "data/sub is inside data, where dataset 'all' was added from" in cli(
        "data", "add", "data/sub", "--name", "sub", check=2).stderr
    assert "data holds data/sub" not in cli("data", "add", "own", "--name", "sub").stderr  # a folder of its own
    add(ws, ["raw/a"], name="one", allow_overlap=True)
    with pytest.raises(UsageError, match="raw holds raw/a, where dataset 'one' was added from"):
        add(ws, ["raw"], name="many")
    # asked for: recorded, and said
    out = cli("data", "add", "raw", "--name", "raw2", "--allow-overlap")
    assert out.stdout.startswith("raw2@v1") and "warning: dataset 'raw2': raw is where dataset 'raw' was added from" in out.stderr
    # an overlap that exists keeps working (a workspace from before overlaps were refused), said each time
    _files(ws, {"raw/a": "2"})
    for name in ("raw", "raw2"):
        again = cli.json("data", "add", "raw", "--name", name)
        assert again["created"] and any("where dataset" in w for w in again["warnings"]), again
    assert not any("where dataset" in w for w in cli.json("data", "add", "own", "--name", "sub")["warnings"])


def test_a_run_s_output_in_another_dataset_s_folder_is_refused_before_the_command_runs(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    _files(ws, {"raw/a": "1"})
    cli("data", "add", "raw", "--name", "raw")
    touch = [PY, "-c", "open('ran', 'w').write('1')"]
    err = cli("run", "--in", "raw@v1", "--out", "raw2=raw/", "--", *touch, check=2).stderr
    assert "output raw2: raw is where dataset 'raw' was added from too" in err and "--allow-overlap" in err
    assert not (ws.root / "ran").exists() and not ws.ledger.query("SELECT id FROM runs")
    err = cli("run", "--out", "o1=out", "--out", "o2=out/x", "--", *touch, check=2).stderr
    assert "output o2: out/x is inside out, where dataset 'o1' was added from" in err
    assert not (ws.root / "ran").exists()
    # the run's own input, updated in place under its own name, is no overlap
    doc = json.loads(cli("run", "--json", "--in", "raw@v1", "--out", "raw=raw", "--", *touch).stdout)
    assert "warnings" not in doc
    doc = json.loads(cli("run", "--json", "--in", "raw@v1", "--out", "raw2=raw", "--allow-overlap", "--",
                         *touch).stdout)
    assert doc["outputs"] == ["raw2@v1"] and "raw is where dataset 'raw' was added from too" in doc["warnings"][0]


def test_a_checkout_says_which_other_dataset_s_files_it_changed(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    _files(ws, {"raw/a": "1", "raw/b": "b"})
    add(ws, ["raw"], name="raw")
    add(ws, ["raw"], name="raw2", allow_overlap=True)
    _files(ws, {"raw/a": "2"})
    add(ws, ["raw"], name="raw")  # raw@v2; raw2's files on disk are now raw@v2's, its status says so
    # back to raw@v1: raw2@v1's files again, nothing of raw2's changed
    assert checkout(ws, "raw@v1").warnings == []
    result = cli.json("data", "checkout", "raw@v2")
    (note,) = result["warnings"]
    assert note.startswith("1 file this checkout wrote or removed (raw/a) is in raw, where dataset 'raw2' was added "
                           "from too, and differs from raw2@v1")
    assert "`assay data checkout raw2@v1` writes raw2's back" in note
    assert cli.json("data", "status", "raw2")["modified"] == ["raw/a"]
    assert cli.json("data", "checkout", "raw2@v1")["warnings"][0].startswith("1 file this checkout wrote or removed "
                                                                               "(raw/a) is in raw, where dataset 'raw'")
    assert not cli.json("data", "status", "raw2")["modified"]


def test_add_passes_allow_overlap(ws: Workspace) -> None:
    _files(ws, {"d/a": "1"})
    add(ws, [Path("d")], name="one")
    with pytest.raises(UsageError, match="where dataset 'one' was added from too"):
        add(ws, [Path("d")], name="two")
    assert add(ws, [Path("d")], name="two", allow_overlap=True).warnings


def test_status_says_the_dataset_shares_its_folder_with_another(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # found by a trial: status of each of two datasets in one folder said only "clean"
    _files(ws, {"raw/a": "1", "own/o": "o"})
    cli("data", "add", "raw", "--name", "raw")
    cli("data", "add", "own", "--name", "own")
    for _ in range(2):  # the second status is the replayed one, where there is one
        assert cli.json("data", "status", "raw")["shares_folder_with"] == []
        assert "shares files" not in cli("data", "status").stdout
    cli("data", "add", "raw", "--name", "raw2", "--allow-overlap")
    for _ in range(2):
        doc = cli.json("data", "status", "raw")
        assert doc["clean"] and doc["shares_folder_with"] == ["raw2"], doc
        out = cli("data", "status", "raw2").stdout
        assert "raw2: clean against raw2@v1" in out
        assert "shares files with dataset 'raw': raw is where dataset 'raw' was added from too" in out, out
        listing = cli.json("data", "status")["datasets"]
        assert {d["dataset"]: d["shares_folder_with"] for d in listing} == {"own": [], "raw": ["raw2"], "raw2": ["raw"]}
    _files(ws, {"raw/a": "2"})
    assert "shares files with dataset 'raw2'" in cli("data", "status", "raw").stdout


def test_status_names_a_registered_model_that_shares_the_dataset_s_folder(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # add refuses a model in a dataset's folder as it refuses a dataset there; status named
    # only datasets, so a dataset sharing its folder with a model (allowed, or older) said "clean".
    _files(ws, {"raw/a": "1", "raw/net.skops": "weights"})
    cli("data", "add", "raw", "--name", "raw")
    with pytest.raises(UsageError, match="where dataset 'raw' was added from too"):
        add(ws, [Path("raw")], name="net", kind="model", meta={"flavor": "sklearn"})
    add(ws, [Path("raw")], name="net", kind="model", meta={"flavor": "sklearn"}, allow_overlap=True)
    for _ in range(2):  # the second status is the replayed one, where there is one
        doc = cli.json("data", "status", "raw")
        assert doc["clean"] and doc["shares_folder_with"] == ["net"], doc
        out = cli("data", "status", "raw").stdout
        assert "shares files with model 'net': raw is where model 'net' was added from too" in out, out
        assert {d["dataset"]: d["shares_folder_with"] for d in cli.json("data", "status")["datasets"]} == {"raw": ["net"]}


def test_pull_refuses_a_dataset_whose_folder_meets_one_here_unless_allowed(ws: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Pull records the remote's sources of a dataset new here (and checkout writes its files
    # there): a teammate's `raw2` from raw/ landed beside this workspace's `raw` without a word.
    other = tmp_path / "other"
    other.mkdir()
    _files(ws, {"raw/a": "1"})
    (other / "raw").mkdir()
    (other / "raw" / "b").write_text("theirs")
    cli("remote", "add", "origin", str(tmp_path / "remote"))
    cli("init", cwd=other)
    cli("remote", "add", "origin", str(tmp_path / "remote"), cwd=other)
    cli("data", "add", "raw", "--name", "raw2", cwd=other)
    cli("data", "push", cwd=other)
    cli("data", "add", "raw", "--name", "raw")
    packs = sorted(p.name for p in (ws.dir / "objects").rglob("*"))
    refused = cli("data", "pull", "--checkout", check=2)
    assert ("dataset 'raw2' of remote origin: raw is where dataset 'raw' was added from too: the two would share "
            "those files") in refused.stderr, refused.stderr
    assert "--allow-overlap" in refused.stderr
    assert [d["name"] for d in cli.json("data", "ls")["datasets"]] == ["raw"]  # nothing recorded,
    assert sorted(p.name for p in (ws.dir / "objects").rglob("*")) == packs  # nothing fetched,
    assert not (ws.root / "raw" / "b").exists()  # nothing written
    doc = cli.json("data", "pull", "--allow-overlap")
    assert doc["versions_sent"] == ["raw2@v1"]
    assert any("where dataset 'raw' was added from too: the two share those files" in n for n in doc["notes"]), doc
    assert cli.json("data", "status", "raw")["shares_folder_with"] == ["raw2"]
    # pulled once allowed, it is an overlap that exists: the next pull of it is not refused
    (other / "raw" / "b").write_text("theirs, v2")
    cli("data", "add", "raw", "--name", "raw2", cwd=other)
    cli("data", "push", cwd=other)
    assert cli.json("data", "pull")["versions_sent"] == ["raw2@v2"]


def _teammate_with_all(tmp_path: Path, cli) -> Path:  # type: ignore[no-untyped-def]
    """A teammate's workspace (``other``) with `all` added from data/ (which holds data/sub/),
    both it and this one with the folder remote ``origin``."""
    other = tmp_path / "other"
    (other / "data" / "sub").mkdir(parents=True)
    (other / "data" / "t").write_text("t")
    (other / "data" / "sub" / "s").write_text("s")
    cli("remote", "add", "origin", str(tmp_path / "remote"))
    cli("init", cwd=other)
    cli("remote", "add", "origin", str(tmp_path / "remote"), cwd=other)
    cli("data", "add", "data", "--name", "all", cwd=other)
    return other


def test_pull_refuses_two_pulled_datasets_whose_folders_meet_unless_allowed(ws: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Each pulled dataset was checked only against those here: a teammate's `all` from data/ and
    # `sub` from data/sub (allowed there) were pulled together into a fresh workspace without a word.
    other = _teammate_with_all(tmp_path, cli)
    cli("data", "add", "data/sub", "--name", "sub", "--allow-overlap", cwd=other)
    cli("data", "push", cwd=other)
    packs = sorted(p.name for p in (ws.dir / "objects").rglob("*"))
    refused = cli("data", "pull", "--checkout", check=2)
    assert ("dataset 'all' of remote origin: data holds data/sub, where dataset 'sub' was added from: the two would "
            "share those files") in refused.stderr, refused.stderr
    assert "--allow-overlap" in refused.stderr
    assert cli.json("data", "ls")["datasets"] == []  # nothing recorded,
    assert sorted(p.name for p in (ws.dir / "objects").rglob("*")) == packs  # nothing fetched,
    assert not (ws.root / "data").exists()  # nothing written
    doc = cli.json("data", "pull", "--allow-overlap")
    assert doc["versions_sent"] == ["all@v1", "sub@v1"]
    # said once for the pair, from the side checked first (it was said from both sides)
    shared = [n for n in doc["notes"] if "the two share those files" in n]
    assert len(shared) == 1 and "dataset 'all' of remote origin: data holds data/sub, where dataset 'sub' was added " \
        "from: the two share those files" in shared[0], doc
    assert cli.json("data", "status", "sub")["shares_folder_with"] == ["all"]


def test_pull_allow_overlap_says_an_overlap_seen_only_from_the_later_side(ws: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # `all` is here from data/; its new version on the remote comes from data2/, and `sub` from
    # data/sub. Only `sub`'s side meets `all`'s folder here (data): the note from that side was
    # dropped because `all` had been checked first, so --allow-overlap shared the files unsaid.
    other = _teammate_with_all(tmp_path, cli)
    cli("data", "push", cwd=other)
    cli("data", "pull", "--checkout")
    (other / "data2").mkdir()
    (other / "data2" / "u").write_text("u")
    cli("data", "add", "data2", "--name", "all", cwd=other)
    cli("data", "add", "data/sub", "--name", "sub", "--allow-overlap", cwd=other)
    cli("data", "push", cwd=other)
    refused = cli("data", "pull", check=2)
    assert "dataset 'sub' of remote origin: data/sub is inside data, where dataset 'all' was added from" in refused.stderr
    doc = cli.json("data", "pull", "--allow-overlap")
    assert doc["versions_sent"] == ["all@v2", "sub@v1"]
    shared = [n for n in doc["notes"] if "the two share those files" in n]
    assert shared == ["dataset 'sub' of remote origin: data/sub is inside data, where dataset 'all' was added from: "
                      "the two share those files, so checking out a version of either rewrites the other's, and "
                      "`assay data status` of each reports the other's changes as its own"], doc
