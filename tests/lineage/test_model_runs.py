"""A run that trains a model registers it as a model version made by the run, so that the
model's lineage leads to the data it learned from, and on to the checks that judged it."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

import assay
from assay.data import resolve
from assay.errors import InputError, UsageError
from assay.lineage import lineage, run_command
from assay.models import ModelError, load_registered
from assay.workspace import Workspace

PY = sys.executable
# Trains on the CSV it is given and writes the model where it is told (skops or joblib).
TRAIN = """\
import sys
import pandas as pd
from sklearn.linear_model import LogisticRegression
frame = pd.read_csv(sys.argv[1])
model = LogisticRegression(max_iter=2000).fit(frame.drop(columns="label"), frame["label"])
if sys.argv[2].endswith(".skops"):
    import skops.io
    skops.io.dump(model, sys.argv[2])
else:
    import joblib
    joblib.dump(model, sys.argv[2])
"""
SUITE = """\
name: gate
data: data/cancer.csv
target: label
task: binary
features: [{features}]
metrics: [accuracy]
gates:
  - metric: accuracy
    min: 0.5
"""


@pytest.fixture
def trainable(ws: Workspace) -> list[str]:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"}).iloc[:, -6:]
    (ws.root / "data").mkdir()
    frame.to_csv(ws.root / "data" / "cancer.csv", index=False)
    (ws.root / "train.py").write_text(TRAIN)
    return [c for c in frame.columns if c != "label"]


def test_a_model_a_run_trains_leads_back_to_its_data_and_on_to_its_check(ws: Workspace, cli, trainable) -> None:  # type: ignore[no-untyped-def]
    cli("data", "add", "data", "--name", "cancer", cwd=ws.root)
    doc = run_json(cli, "--in", "cancer@v1", "--model", "clf=model.skops", "--",
                   PY, "train.py", "data/cancer.csv", "model.skops", cwd=ws.root)
    assert doc["status"] == "succeeded" and doc["outputs"] == ["clf@v1"]
    version = resolve(ws, "clf@v1")
    assert _kind(ws, "clf") == "model" and version.meta["flavor"] == "sklearn" and version.run_id == doc["id"]
    assert [m["name"] for m in cli.json("model", "list", cwd=ws.root)["models"]] == ["clf"]
    listed = cli.json("model", "list", "clf", cwd=ws.root)["versions"]  # one model's versions, and the run that made each
    assert [(v["ref"], v["run_id"]) for v in listed] == [("clf@v1", doc["id"])]
    assert f"made by run {doc['id'][:12]}" in cli("model", "list", "clf", cwd=ws.root).stdout
    # what did this model learn from?
    up = lineage(ws, "clf@v1", down=False)
    assert f"run:{doc['id']}" in up.nodes and resolve(ws, "cancer@v1").node in up.nodes
    assert (resolve(ws, "cancer@v1").node, f"run:{doc['id']}", "input_of") in up.edges
    # the registered model loads, and a check of it is linked to it: the data's downstream
    # lineage reaches the check through the run and the model
    assert load_registered(ws, "clf@v1").meta["version"] == version.id
    (ws.root / "suite.yaml").write_text(SUITE.format(features=", ".join(trainable)))
    check = cli.json("check", "suite.yaml", "--candidate", "clf@v1", cwd=ws.root)
    down = lineage(ws, "cancer@v1", up=False)
    assert version.node in down.nodes and f"record:{check['id']}" in down.nodes
    # trained again on the same data: the same bytes are reproduced, other bytes are v2
    # the same model bytes, written again by a command (skops dumps carry a time stamp, so a
    # copy stands for a deterministic trainer), are reproduced; other bytes make v2
    again = run_json(cli, "--in", "cancer@v1", "--model", "clf=copy.skops", "--",
                     "cp", "model.skops", "copy.skops", cwd=ws.root)
    assert again["unchanged"] == ["clf@v1"] and again["outputs"] == []
    retrained = run_json(cli, "--in", "cancer@v1", "--model", "clf=model.skops", "--",
                         PY, "train.py", "data/cancer.csv", "model.skops", cwd=ws.root)
    assert retrained["outputs"] == ["clf@v2"]


def test_a_pickle_model_output_needs_trust_and_is_refused_before_the_command_runs(ws: Workspace, cli, trainable) -> None:  # type: ignore[no-untyped-def]
    marker = ws.root / "ran"
    proc = cli("run", "--model", "clf=model.joblib", "--", PY, "-c", f"open({str(marker)!r}, 'w')",
               cwd=ws.root, check=2)
    assert "--trust" in proc.stderr and not marker.exists()
    doc = run_json(cli, "--trust", "--model", "clf=model.joblib", "--",
                   PY, "train.py", "data/cancer.csv", "model.joblib", cwd=ws.root)
    assert doc["outputs"] == ["clf@v1"] and resolve(ws, "clf@v1").meta["n_features"] == len(trainable)


@pytest.mark.parametrize(("model", "message"), [
    ("cancer=model.skops", "is a dataset, not a model"),
    ("clf=model.txt", "cannot tell a model file's flavor"),
    ("clf=https://example.invalid/predict", "not a file a run writes"),
    ("bad name=model.skops", "name"),
])
def test_a_model_output_that_could_never_be_registered_is_refused_before_the_command_runs(  # type: ignore[no-untyped-def]
        ws: Workspace, cli, trainable, model: str, message: str) -> None:
    cli("data", "add", "data", "--name", "cancer", cwd=ws.root)
    marker = ws.root / "ran"
    proc = cli("run", "--model", model, "--", PY, "-c", f"open({str(marker)!r}, 'w')", cwd=ws.root, check=2)
    assert message in proc.stderr and not marker.exists()
    proc = cli("run", "--out", "x=data", "--model", "x=model.skops", "--", "true", cwd=ws.root, check=2)
    assert "both" in proc.stderr


def test_a_model_file_that_does_not_load_fails_the_run_and_versions_no_output(ws: Workspace, trainable) -> None:
    write = "import os; os.makedirs('feats', exist_ok=True); open('feats/f', 'w').write('x'); open('model.skops', 'w').write('junk')"
    with pytest.raises(ModelError, match="not a readable skops file"):
        run_command(ws, [PY, "-c", write], outputs={"feats": "feats"}, models={"clf": "model.skops"})
    assert not _exists(ws, "feats") and not _exists(ws, "clf")
    with pytest.raises(UsageError, match="is not a file"):
        run_command(ws, [PY, "-c", "pass"], models={"clf": "gone.onnx"})
    assert not _exists(ws, "clf")
    statuses = [row[0] for row in ws.ledger.query("SELECT status FROM runs")]
    assert statuses == ["failed", "failed"]
    failures = [json.loads(row[0])["failure"] for row in ws.ledger.query("SELECT env FROM runs ORDER BY started_at")]
    assert "not a readable skops file" in failures[0] and "gone.onnx is not a file" in failures[1]


def test_an_unfitted_model_fails_the_run_as_a_model_that_does_not_load(ws: Workspace, cli, trainable) -> None:  # type: ignore[no-untyped-def]
    write = "import skops.io; from sklearn.linear_model import LogisticRegression; skops.io.dump(LogisticRegression(), 'model.skops')"
    proc = cli("run", "--json", "--model", "clf=model.skops", "--", PY, "-c", write, cwd=ws.root, check=2)
    doc = json.loads(proc.stdout)
    assert "model output clf" in doc["message"] and "never fitted" in doc["message"] and "fit it" in doc["hint"]
    assert not _exists(ws, "clf")
    assert [row[0] for row in ws.ledger.query("SELECT status FROM runs")] == ["failed"]


def test_a_tracked_block_registers_its_model(ws: Workspace, trainable) -> None:
    import skops.io
    from sklearn.dummy import DummyClassifier

    assay.data.add(ws, [ws.root / "data"], name="cancer")
    with assay.track(ws, inputs=["cancer@v1"], name="fit") as run:
        skops.io.dump(DummyClassifier().fit([[0], [1]], [0, 1]), ws.root / "m.skops")
        run.output_model("clf", ws.root / "m.skops", message="baseline")
    version = resolve(ws, "clf@v1")
    assert version.run_id == run.id and version.message == "baseline"
    with pytest.raises(InputError, match="is a dataset"), assay.track(ws) as bad:
        bad.output_model("cancer", ws.root / "m.skops")
    with pytest.raises(UsageError, match="declared twice"), assay.track(ws) as twice:
        twice.output("clf2", ws.root / "data", allow_overlap=True)
        twice.output_model("clf2", ws.root / "m.skops")


def run_json(cli, *args: str, **kw: object) -> dict:  # type: ignore[no-untyped-def]
    """`assay run --json ARGS` (``--json`` before the command's own ``--``)."""
    return json.loads(cli("run", "--json", *args, **kw).stdout)  # type: ignore[no-any-return]


def _exists(ws: Workspace, name: str) -> bool:
    return bool(ws.ledger.query("SELECT 1 FROM datasets WHERE name = ?", (name,)))


def _kind(ws: Workspace, name: str) -> str:
    return str(ws.ledger.query("SELECT kind FROM datasets WHERE name = ?", (name,))[0][0])


def test_a_model_file_the_command_did_not_write_is_not_registered_as_its_output(ws: Workspace, cli, trainable) -> None:  # type: ignore[no-untyped-def]
    cli("data", "add", "data", "--name", "cancer", cwd=ws.root)
    run_json(cli, "--in", "cancer@v1", "--model", "clf=model.skops", "--",
             PY, "train.py", "data/cancer.csv", "model.skops", cwd=ws.root)
    # a command that writes nothing, or fails quietly and exits 0: the old file is still there,
    # however recent (no clock is involved: the file is the one that was there before)
    proc = cli("run", "--json", "--in", "cancer@v1", "--model", "clf=model.skops", "--", "true", cwd=ws.root, check=2)
    doc = json.loads(proc.stdout)
    assert "is the file that was there before run" in doc["message"] and "did not write it" in doc["message"]
    assert [v.ref for v in assay.data.log(ws, "clf")] == ["clf@v1"]
    assert ws.ledger.query("SELECT status FROM runs ORDER BY started_at DESC LIMIT 1")[0][0] == "failed"
    # a tracked block names its model after writing it: one changed before the block began is refused
    time.sleep(2.5)  # older than the block's start by more than the slack for file-server clocks
    with pytest.raises(UsageError, match="did not write it"), assay.track(ws, inputs=["cancer@v1"]) as run:
        run.output_model("clf", ws.root / "model.skops")
    assert [v.ref for v in assay.data.log(ws, "clf")] == ["clf@v1"]


def test_lineage_text_tells_runs_of_one_command_and_checks_of_one_suite_apart(ws: Workspace, cli, trainable) -> None:  # type: ignore[no-untyped-def]
    cli("data", "add", "data", "--name", "cancer", cwd=ws.root)
    ok = run_json(cli, "--in", "cancer@v1", "--model", "clf=model.skops", "--",
                  PY, "train.py", "data/cancer.csv", "model.skops", cwd=ws.root)
    failed = cli("run", "--json", "--in", "cancer@v1", "--model", "clf=model.skops", "--",
                 PY, "train.py", "data/missing.csv", "model.skops", cwd=ws.root, check=1)
    bad = json.loads(failed.stdout)
    (ws.root / "suite.yaml").write_text(SUITE.format(features=", ".join(trainable)))
    check = cli.json("check", "suite.yaml", "--candidate", "clf@v1", cwd=ws.root)
    text = cli("lineage", "cancer@v1", "--down", cwd=ws.root).stdout
    assert f"[run {ok['id'][:12]}, succeeded]" in text and f"[run {bad['id'][:12]}, failed]" in text
    assert f"[pass, {check['id'][:12]}]" in text
    lines = text.splitlines()[1:]
    # in the order the data flowed: the runs that read it, as they ran, then the check of their model
    assert lines[0] == "downstream:" and len(lines) == 4, text
    assert f"[run {ok['id'][:12]}, succeeded]  -->  clf@v1" in lines[1] and lines[1].startswith("  cancer@v1  -->  ")
    assert lines[2].startswith("  cancer@v1  -->  ") and lines[2].endswith(f"[run {bad['id'][:12]}, failed]")
    assert lines[3].startswith("  clf@v1 as candidate  -->  check ") and lines[3].endswith(f"[pass, {check['id'][:12]}]")


def test_a_tracked_block_s_relative_paths_are_taken_where_they_were_declared(ws: Workspace, trainable) -> None:
    import skops.io
    from sklearn.dummy import DummyClassifier

    (ws.root / "sub").mkdir()
    here = os.getcwd()
    try:
        with assay.track(ws, name="fit") as run:
            skops.io.dump(DummyClassifier().fit([[0], [1]], [0, 1]), "m.skops")
            run.output_model("clf", "m.skops")
            run.output("feats", "data")
            os.chdir(ws.root / "sub")
            skops.io.dump(DummyClassifier().fit([[0], [1]], [1, 1]), "m.skops")  # another file, elsewhere
    finally:
        os.chdir(here)
    from assay.models._hashing import hash_path

    assert resolve(ws, "clf@v1").meta["model_hash"] == hash_path(ws.root / "m.skops")
    assert [f["path"] for f in assay.data.ls(ws, "feats@v1")[1]] == ["data/cancer.csv"]


def test_sigterm_while_a_model_loads_after_the_command_says_what_was_recorded(ws: Workspace, trainable) -> None:
    import signal
    import subprocess

    from tests.conftest import ASSAY

    # A pickle whose loading takes seconds (trusted: loading runs its code) and says when it
    # began: the signal comes after the command has ended, while assay loads the model.
    loading = ws.root / "loading"
    make = (
        "import joblib, pickle\n"
        "from sklearn.dummy import DummyClassifier\n"
        "joblib.dump(DummyClassifier().fit([[0], [1]], [0, 1]), 'good.pkl')\n"
        "class Slow:\n"
        "    def __reduce__(self):\n"
        f"        return (eval, (\"(open({str(loading)!r}, 'w').close(), __import__('time').sleep(4), "
        "__import__('joblib').load('good.pkl'))[2]\",))\n"
        "pickle.dump(Slow(), open('slow.pkl', 'wb'))\n"
    )
    (ws.root / "make.py").write_text(make)
    proc = subprocess.Popen([*ASSAY, "run", "--trust", "--model", "slow=slow.pkl", "--", PY, "make.py"], cwd=ws.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not loading.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert loading.exists()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143
    assert ws.ledger.query("SELECT status FROM runs")[0][0] == "succeeded" and _exists(ws, "slow")
    assert "came after the command had ended well" in err and "recorded as failed" not in err


def test_status_of_a_model_says_what_status_is_for(ws: Workspace, cli, trainable) -> None:  # type: ignore[no-untyped-def]
    import skops.io
    from sklearn.dummy import DummyClassifier

    skops.io.dump(DummyClassifier().fit([[0], [1]], [0, 1]), ws.root / "m.skops")
    cli("model", "add", "clf", "m.skops", cwd=ws.root)
    # compared where a checkout of it writes (.assay-model-clf/): not there until one does
    doc = cli.json("data", "status", "clf", cwd=ws.root)
    assert not doc["checked_out"] and doc["removed"] == [".assay-model-clf/assay-model.json", ".assay-model-clf/model.skops"]
    assert "`assay data checkout clf@v1` writes them" in cli("data", "status", "clf", cwd=ws.root).stdout
    cli("data", "checkout", "clf@v1", cwd=ws.root)
    assert cli.json("data", "status", "clf", cwd=ws.root)["clean"]
    cli("data", "verify", "clf", cwd=ws.root)


def test_a_model_file_rewritten_while_it_registers_is_stored_as_it_was_validated(
        ws: Workspace, files_of_two_models, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.models import _registry
    from assay.models._hashing import hash_path

    first, second = files_of_two_models
    target = ws.root / "model.skops"
    target.write_bytes(first.read_bytes())
    real = _registry.describe_model

    def then_rewritten(*args, **kw):  # type: ignore[no-untyped-def]
        meta = real(*args, **kw)
        target.write_bytes(second.read_bytes())  # a trainer's next checkpoint, between the reads
        return meta

    monkeypatch.setattr(_registry, "describe_model", then_rewritten)
    version = _registry.register_model(ws, "clf", target).version
    assert version.meta["model_hash"] == hash_path(first)
    assert load_registered(ws, "clf@v1").hash == hash_path(first)  # stored as validated: it loads


def test_a_killed_model_checkout_s_folder_is_removed_by_the_next(ws: Workspace, files_of_two_models) -> None:
    import subprocess

    from assay.models import register_model

    register_model(ws, "clf", files_of_two_models[0])
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = ws.tmp_dir / f"{dead.pid}-model-{'0' * 64}-abcd1234"
    (left / ".assay-model-clf").mkdir(parents=True)
    (left / ".assay-model-clf" / "model.skops").write_bytes(b"half a model")
    load_registered(ws, "clf@v1")
    assert not left.exists()
    assert not [p for p in ws.tmp_dir.iterdir() if "-model-" in p.name]


@pytest.fixture
def files_of_two_models(tmp_path: Path) -> tuple[Path, Path]:
    import skops.io
    from sklearn.dummy import DummyClassifier

    out = []
    for i, labels in enumerate(([0, 1], [1, 1])):
        path = tmp_path / f"other{i}.skops"
        skops.io.dump(DummyClassifier().fit([[0], [1]], labels), path)
        out.append(path)
    return out[0], out[1]
