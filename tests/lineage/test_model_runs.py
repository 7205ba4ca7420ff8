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
    again = run_json(cli, "--in", "cancer@v1", "--model", "clf=model.skops", "--",
                     PY, "train.py", "data/cancer.csv", "model.skops", cwd=ws.root)
    assert again["outputs"] + again["unchanged"] in (["clf@v1"], ["clf@v2"])


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
        twice.output("clf2", ws.root / "data")
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
    old = ws.root / "model.skops"
    os.utime(old, (old.stat().st_atime - 3600, old.stat().st_mtime - 3600))  # (ctime moves too, and is now)
    # a command that writes nothing, or fails quietly and exits 0: the old file is still there
    time.sleep(2.5)  # the model file's ctime is now older than the run's start by more than the slack
    proc = cli("run", "--json", "--in", "cancer@v1", "--model", "clf=model.skops", "--", "true", cwd=ws.root, check=2)
    doc = json.loads(proc.stdout)
    assert "was last changed before run" in doc["message"] and "did not write it" in doc["message"]
    assert [v.ref for v in assay.data.log(ws, "clf")] == ["clf@v1"]
    assert ws.ledger.query("SELECT status FROM runs ORDER BY started_at DESC LIMIT 1")[0][0] == "failed"


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
    assert lines == sorted(lines)  # in one order, run after run


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

    # A pickle whose loading takes seconds (trusted: loading runs its code), and a command
    # that writes it and a marker: the signal comes after the command, during the load.
    make = (
        "import joblib, pickle\n"
        "from sklearn.dummy import DummyClassifier\n"
        "joblib.dump(DummyClassifier().fit([[0], [1]], [0, 1]), 'good.pkl')\n"
        "class Slow:\n"
        "    def __reduce__(self):\n"
        "        return (eval, (\"(__import__('time').sleep(6), __import__('joblib').load('good.pkl'))[1]\",))\n"
        "pickle.dump(Slow(), open('slow.pkl', 'wb'))\n"
        "open('done', 'w').write('1')\n"
    )
    (ws.root / "make.py").write_text(make)
    proc = subprocess.Popen([*ASSAY, "run", "--trust", "--model", "slow=slow.pkl", "--", PY, "make.py"], cwd=ws.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (ws.root / "done").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143
    status = ws.ledger.query("SELECT status FROM runs")[0][0]
    if status == "succeeded":  # (the usual case: the signal came during the load)
        assert "came after the command had ended well" in err and _exists(ws, "slow")
    else:
        assert "recorded as failed" in err and not _exists(ws, "slow")


def test_status_of_a_model_says_what_status_is_for(ws: Workspace, cli, trainable) -> None:  # type: ignore[no-untyped-def]
    import skops.io
    from sklearn.dummy import DummyClassifier

    skops.io.dump(DummyClassifier().fit([[0], [1]], [0, 1]), ws.root / "m.skops")
    cli("model", "add", "clf", "m.skops", cwd=ws.root)
    doc = cli.json("data", "status", "clf", cwd=ws.root, check=2)
    assert "is a model" in doc["message"] and "assay data verify clf" in doc["hint"]
    cli("data", "verify", "clf", cwd=ws.root)
