"""Runs record inputs, outputs and environment; lineage answers what was built from what."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest

import assay
from assay.data import add, log, resolve, verify
from assay.data._packs import workspace_packs
from assay.data._versions import load_snapshot
from assay.lineage import lineage, run_command
from assay.workspace import Workspace

PY = sys.executable


def test_run_command_records_everything(ws: Workspace) -> None:
    (ws.root / "raw").mkdir()
    (ws.root / "raw" / "r.txt").write_text("3\n4\n")
    add(ws, ["raw"], name="raw")
    script = "import pathlib; pathlib.Path('feat').mkdir(exist_ok=True); pathlib.Path('feat/f.txt').write_text(str(sum(map(int, open('raw/r.txt')))))"
    run = run_command(ws, [PY, "-c", script], inputs=["raw@v1"], outputs={"features": "feat"}, cwd=ws.root)
    assert run.status == "succeeded" and [v.ref for v in run.produced] == ["features@v1"]
    row = ws.ledger.query("SELECT kind, command, env, status, exit_code, started_at, ended_at FROM runs WHERE id = ?", (run.id,))[0]
    env = json.loads(row[2])
    assert row[0] == "command" and json.loads(row[1])[0] == PY and row[3] == "succeeded" and row[4] == 0
    assert row[5] <= row[6]
    assert {"python", "platform", "packages_hash"} <= set(env)
    assert resolve(ws, "features").run_id == run.id
    up = lineage(ws, resolve(ws, "features").node, up=True, down=False)
    labels = {info["label"] for info in up.nodes.values()}
    assert "raw@v1" in labels and "features@v1" in labels
    down = lineage(ws, resolve(ws, "raw").node, up=False, down=True)
    assert any(info["label"] == "features@v1" for info in down.nodes.values())
    assert "digraph" in down.to_dot() and '"raw@v1"' in down.to_dot()


def test_failed_command_makes_no_output_versions(ws: Workspace) -> None:
    (ws.root / "out").mkdir()
    (ws.root / "out" / "x").write_text("partial")
    run = run_command(ws, [PY, "-c", "import sys; sys.exit(3)"], outputs={"model": "out"}, cwd=ws.root)
    assert run.status == "failed" and run.exit_code == 3  # type: ignore[attr-defined]
    assert ws.ledger.query("SELECT COUNT(*) FROM versions")[0][0] == 0
    assert ws.ledger.query("SELECT status, exit_code FROM runs")[0] == ("failed", 3)


def test_track_context_manager(ws: Workspace) -> None:
    (ws.root / "raw").mkdir()
    (ws.root / "raw" / "a.csv").write_text("x\n1\n")
    add(ws, ["raw"], name="raw")
    with assay.track(ws, inputs=["raw@latest"], params={"lr": 0.1}) as run:
        (ws.root / "model").mkdir()
        (ws.root / "model" / "m.txt").write_text("weights")
        run.output("model", ws.root / "model")
    assert run.status == "succeeded"
    assert log(ws, "model")[0].run_id == run.id
    with pytest.raises(ValueError):
        with assay.track(ws, inputs=["raw"]) as failing:
            failing.output("model", ws.root / "model")
            raise ValueError("training diverged")
    assert failing.status == "failed"
    assert len(log(ws, "model")) == 1


def test_damaged_input_names_downstream_outputs(ws: Workspace) -> None:
    (ws.root / "raw").mkdir()
    (ws.root / "raw" / "r.bin").write_bytes(os.urandom(10_000))
    add(ws, ["raw"], name="raw")
    with assay.track(ws, inputs=["raw@v1"]) as run:
        (ws.root / "feat").mkdir()
        (ws.root / "feat" / "f.bin").write_bytes(b"derived")
        run.output("features", ws.root / "feat")
    with assay.track(ws, inputs=["features@v1"]) as run2:
        (ws.root / "model").mkdir()
        (ws.root / "model" / "m.bin").write_bytes(b"model")
        run2.output("model", ws.root / "model")
    snap = load_snapshot(ws.store, resolve(ws, "raw").snapshot)
    digest = snap.files["raw/r.bin"].chunks[0][0]
    loc = workspace_packs(ws).index[digest]
    pack = ws.dir / "objects" / "packs" / f"{loc.pack}.pack"
    data = bytearray(pack.read_bytes())
    data[loc.offset + 5] ^= 1
    pack.write_bytes(bytes(data))
    workspace_packs(ws).close()
    report = verify(ws, all_objects=True)
    assert report.damaged_versions == ["raw@v1"]
    assert [d["ref"] for d in report.downstream] == ["features@v1", "model@v1"]


def test_cli_run_and_lineage(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "raw").mkdir()
    (ws.root / "raw" / "r.txt").write_text("1")
    cli("data", "add", "raw", "--name", "raw")
    doc = json.loads(cli("run", "--json", "--in", "raw@v1", "--out", "copy=c", "--", PY, "-c",
                         "import shutil; shutil.copytree('raw', 'c')").stdout)
    assert doc["status"] == "succeeded" and doc["outputs"] == ["copy@v1"]
    graph = cli.json("lineage", "copy@v1", "--up")
    assert {n["label"] for n in graph["nodes"]} >= {"raw@v1", "copy@v1"}
    from assay.data._versions import maker

    assert {n["label"]: n.get("by") for n in graph["nodes"]}["raw@v1"] == maker()  # who made each version
    assert cli("lineage", "copy@v1").stdout.splitlines()[0] == f"copy@v1  (by {maker()})"
    dot = cli("lineage", "raw", "--dot").stdout
    assert dot.startswith("digraph") and "copy@v1" in dot
    failed = cli("run", "--out", "x=nowhere", "--", PY, "-c", "raise SystemExit(4)", check=4)
    assert "failed" in failed.stderr
    assert cli("run", "--", check=2).returncode == 2


def test_lineage_of_a_mistyped_name_says_dataset_or_model_and_the_close_one(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # `assay lineage chrn@v1`, a typo of a model's name, said "no dataset named 'chrn'".
    (ws.root / "m").mkdir()
    (ws.root / "m" / "model.skops").write_text("weights")
    add(ws, ["m"], name="churn", kind="model", meta={"flavor": "sklearn"})
    (ws.root / "raw").mkdir()
    (ws.root / "raw" / "r.txt").write_text("1")
    add(ws, ["raw"], name="raw")
    err = cli("lineage", "chrn@v1", check=2).stderr
    assert "no dataset or model named 'chrn'" in err, err
    assert "did you mean 'churn' (a model)? known datasets: raw; known models: churn" in err, err
    err = cli("lineage", "zzzz", check=2).stderr
    assert "no dataset or model named 'zzzz'" in err and "did you mean" not in err, err


def test_an_input_whose_files_on_disk_are_another_version_is_refused(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    from assay.data import checkout
    from assay.errors import UsageError

    (ws.root / "data").mkdir()
    (ws.root / "data" / "c.csv").write_text("id\n1\n")
    add(ws, [ws.root / "data"], name="customers")
    (ws.root / "data" / "c.csv").write_text("id\n1\n2\n3\n")
    add(ws, [ws.root / "data"], name="customers")
    checkout(ws, "customers@v1")
    count = "import os; os.makedirs('f', exist_ok=True); open('f/n', 'w').write(str(len(open('data/c.csv').readlines())))"
    with pytest.raises(UsageError, match="are not customers@v2"):
        run_command(ws, [sys.executable, "-c", count], inputs=["customers@v2"], outputs={"feats": "f"}, cwd=ws.root)
    assert ws.ledger.query("SELECT COUNT(*) FROM runs")[0][0] == 0  # nothing recorded
    proc = cli("run", "--in", "customers@v2", "--out", "feats=f", "--", sys.executable, "-c", count, check=2, cwd=ws.root)
    assert "checkout customers@v2" in proc.stderr
    run = run_command(ws, [sys.executable, "-c", count], inputs=["customers@v1"], outputs={"feats": "f"}, cwd=ws.root)
    assert run.status == "succeeded" and (ws.root / "f" / "n").read_text() == "2"
    # --no-input-check: the command reads its input from elsewhere
    cli("run", "--no-input-check", "--in", "customers@v2", "--", sys.executable, "-c", "pass", cwd=ws.root)
    (ws.root / "data" / "c.csv").unlink()  # nothing of it on disk: the check lets it through
    with assay.track(ws, inputs=["customers@v2"]) as tracked:
        pass
    assert tracked.status == "succeeded"


def pushed_run(ws: Workspace, remote: str, data: str) -> Any:
    """Add data/c.csv as dataset ``data``, run a command that makes ``feats`` from it, push both."""
    from assay.data import add_remote, push

    (ws.root / "data").mkdir()
    (ws.root / "data" / "c.csv").write_text("id\n1\n")
    add(ws, [ws.root / "data"], name=data)
    make = "import os, shutil; os.makedirs('f', exist_ok=True); shutil.copy('data/c.csv', 'f/c.csv')"
    run = run_command(ws, [sys.executable, "-c", make], inputs=[f"{data}@v1"], outputs={"feats": "f"}, cwd=ws.root)
    add_remote(ws, "origin", remote)
    push(ws)
    return run


def test_lineage_travels_with_push_and_pull(ws: Workspace, tmp_path, cli) -> None:  # type: ignore[no-untyped-def]
    from assay.data import add_remote, pull

    run = pushed_run(ws, str(tmp_path / "remote"), "customers")
    clone = Workspace.init(tmp_path / "clone")
    add_remote(clone, "origin", str(tmp_path / "remote"))
    result = pull(clone, "feats@v1")  # the output only: its input is known by id, not pulled
    assert not result.notes
    graph = lineage(clone, resolve(clone, "feats@v1").node, up=True)
    assert f"run:{run.id}" in graph.nodes and graph.nodes[f"run:{run.id}"]["status"] == "succeeded"
    inputs = [s for s, d, r in graph.edges if r == "input_of"]
    assert inputs == [resolve(ws, "customers@v1").node] and graph.nodes[inputs[0]].get("missing")
    pull(clone)
    graph = lineage(clone, resolve(clone, "feats@v1").node, up=True)
    assert graph.nodes[resolve(ws, "customers@v1").node]["label"] == "customers@v1"
    # A run record that does not read on the remote: the pull goes on, and says so.
    other = Workspace.init(tmp_path / "other")
    add_remote(other, "origin", str(tmp_path / "remote"))
    (tmp_path / "remote" / "runs" / f"{run.id}.json").write_text("{not json")
    result = pull(other)
    assert result.versions and any("missing or damaged" in n for n in result.notes)
    clone.close()
    other.close()


def test_an_input_added_from_other_folders_is_compared_file_by_file(ws: Workspace) -> None:
    (ws.root / "d1").mkdir()
    (ws.root / "d1" / "a").write_text("one")
    add(ws, [ws.root / "d1"], name="ds")
    (ws.root / "d2").mkdir()
    (ws.root / "d2" / "b").write_text("two")
    add(ws, [ws.root / "d2"], name="ds")  # the dataset's folders are d2 now; d1/a is still v1's
    # As a version recorded before versions kept their own sources (or pulled without them):
    ws.ledger.execute("DELETE FROM version_sources WHERE version = ?", (resolve(ws, "ds@v1").id,))
    run = run_command(ws, [sys.executable, "-c", "print(open('d1/a').read())"], inputs=["ds@v1"], cwd=ws.root)
    assert run.status == "succeeded"
    (ws.root / "d1" / "a").write_text("changed")
    from assay.errors import UsageError

    with pytest.raises(UsageError, match="1 modified; d1/a"):
        run_command(ws, [sys.executable, "-c", "pass"], inputs=["ds@v1"], cwd=ws.root)


def test_a_remote_s_run_record_cannot_claim_a_version_or_break_a_pull(ws: Workspace, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json as _json

    from assay.data import add_remote, pull

    run = pushed_run(ws, str(tmp_path / "remote"), "bait")
    clone = Workspace.init(tmp_path / "clone")
    (clone.root / "mine").mkdir()
    (clone.root / "mine" / "m").write_text("mine")
    mine = add(clone, [clone.root / "mine"], name="mine").version
    record = tmp_path / "remote" / "runs" / f"{run.id}.json"
    doc = _json.loads(record.read_text())
    doc["outputs"].append({"node": mine.node, "ref": "mine@v1"})  # claims a version the clone made itself
    record.write_text(_json.dumps(doc))
    add_remote(clone, "origin", str(tmp_path / "remote"))
    pull(clone)
    graph = lineage(clone, mine.node, up=True)
    assert not any(r == "produced" for _, _, r in graph.edges)  # not claimed
    assert any(r == "produced" for _, _, r in lineage(clone, resolve(clone, "feats@v1").node, up=True).edges)
    # A record nested past any parser's depth, and a ref whose run id ends in a newline: pulls go on.
    record.write_text("[" * 100_000 + "]" * 100_000)
    other = Workspace.init(tmp_path / "other")
    add_remote(other, "origin", str(tmp_path / "remote"))
    result = pull(other)
    assert result.versions and result.notes
    ref = next((tmp_path / "remote" / "versions" / "feats").glob("*.json"))
    entry = _json.loads(ref.read_text())
    entry["run_id"] = run.id + "\n"
    ref.write_text(_json.dumps(entry))
    third = Workspace.init(tmp_path / "third")
    add_remote(third, "origin", str(tmp_path / "remote"))
    assert pull(third).versions and resolve(third, "feats@v1").run_id is None
    for w in (clone, other, third):
        w.close()
