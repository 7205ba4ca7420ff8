"""Registering models in a workspace: versioned snapshots with their flavor, loaded back by NAME@REF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assay.models import Features, ModelError, load_model, register_model


def test_register_and_load_each_flavor(ws, files: dict[str, Path], fitted: dict) -> None:  # noqa: ANN001
    r1 = register_model(ws, "iris", files["skops"], message="first")
    assert r1.version.number == 1 and r1.version.meta["flavor"] == "sklearn"
    m = load_model("iris@v1", ws=ws)
    assert m.meta["version"] == r1.version.id
    np.testing.assert_allclose(m.predict(Features.from_numpy(fitted["X"])).proba, fitted["model"].predict_proba(fitted["X"]))
    # pickles need trust to register (they are loaded to validate) and to load
    with pytest.raises(ModelError, match="pickle"):
        register_model(ws, "iris-pkl", files["joblib"])
    register_model(ws, "iris-pkl", files["joblib"], trust=True)
    with pytest.raises(ModelError, match="pickle"):
        load_model("iris-pkl", ws=ws)
    assert load_model("iris-pkl", ws=ws, trust=True).flavor == "sklearn"
    # a python file is snapshotted with the model, so the check runs the recorded code
    src = ws.root / "rule.py"
    src.write_text("import numpy as np\ndef predict(X):\n    return (X[:, 2] > 2.5).astype(int)\n")
    register_model(ws, "rule", f"{src}:predict")
    src.write_text("def predict(X):\n    raise RuntimeError('edited after registration')\n")
    rule = load_model("rule@v1", ws=ws)
    assert list(rule.predict(Features.from_numpy(fitted["X"][[0, 100]])).labels) == [0, 1]
    # an endpoint is registered by URL
    r = register_model(ws, "svc", "http://127.0.0.1:9/predict")
    assert r.version.meta == {"flavor": "http", "url": "http://127.0.0.1:9/predict", "by": r.version.by}
    assert r.version.by and "@" in r.version.by  # who registered it
    assert load_model("svc", ws=ws).flavor == "http"
    # the staging folder is gone; nothing is left in the user's tree
    assert not list(ws.root.glob(".assay-model-*"))


def test_a_dataset_is_not_a_model(ws) -> None:  # noqa: ANN001
    from assay import data
    from assay.errors import InputError

    (ws.root / "t.csv").write_text("a,b\n1,2\n")
    data.add(ws, [ws.root / "t.csv"], name="table")
    with pytest.raises(InputError, match="not a registered model"):
        load_model("table@v1", ws=ws)


def test_the_same_bytes_from_another_file_or_mode_are_the_same_version(ws, files: dict[str, Path]) -> None:  # noqa: ANN001
    import shutil

    other = ws.root / "elsewhere" / "renamed.skops"
    other.parent.mkdir()
    shutil.copy(files["skops"], other)
    other.chmod(0o600)
    first = register_model(ws, "iris", files["skops"])
    again = register_model(ws, "iris", other)
    assert first.created and not again.created and again.version.ref == "iris@v1"
    # a file whose name is not UTF-8 registers as well: the snapshot names the file itself
    odd = ws.root / "elsewhere" / "mod\udce9le.skops"
    shutil.copy(files["skops"], odd)
    assert register_model(ws, "odd", odd).version.meta["file"] == ".assay-model-odd/model.skops"


def test_registering_leaves_the_model_s_folder_in_the_workspace_alone(ws, files: dict[str, Path]) -> None:  # noqa: ANN001
    from assay import data

    register_model(ws, "iris", files["skops"])
    data.checkout(ws, "iris@v1")  # writes .assay-model-iris/ into the workspace
    mine = ws.root / ".assay-model-iris" / "notes.txt"
    mine.write_text("precious")
    register_model(ws, "iris", files["skops"], message="again")
    assert mine.read_text() == "precious" and (ws.root / ".assay-model-iris" / "model.skops").is_file()
    (ws.root / ".assay-model-other").write_text("a file where the old staging folder went")
    assert register_model(ws, "other", files["skops"]).created
    assert (ws.root / ".assay-model-other").read_text().startswith("a file")


def test_status_and_diff_of_a_model_look_where_its_checkout_writes(ws, cli, files: dict[str, Path]) -> None:  # noqa: ANN001
    # A checkout writes .assay-model-NAME/; status refused ("its files live in the store") and
    # diff said none of its files were on disk while they were there.
    register_model(ws, "churn", files["skops"])
    # without NAME: no dataset, but the model is named, not passed over in silence
    assert cli("data", "status", cwd=ws.root).stdout == (
        "no datasets yet; add one with `assay data add PATH --name NAME` (registered models: `assay data status "
        "NAME` compares one, e.g. churn)\n")
    out = cli("data", "status", "churn", cwd=ws.root).stdout
    assert out == "churn: not checked out here (2 files in churn@v1); `assay data checkout churn@v1` writes them\n"
    proc = cli("data", "diff", "churn", cwd=ws.root, check=2)
    assert "none of churn@v1's files are on disk here" in proc.stderr and "assay data checkout churn@v1" in proc.stderr
    cli("data", "checkout", "churn@v1", cwd=ws.root)
    assert cli("data", "status", "churn", cwd=ws.root).stdout == "churn: clean against churn@v1 (2 files)\n"
    assert "0 modified, 2 unchanged" in cli("data", "diff", "churn", cwd=ws.root).stdout
    (ws.root / ".assay-model-churn" / "model.skops").write_bytes(b"retrained")
    assert "modified  .assay-model-churn/model.skops" in cli("data", "status", "churn", cwd=ws.root).stdout
    assert cli.json("data", "diff", "churn", cwd=ws.root)["modified"][0]["path"] == ".assay-model-churn/model.skops"
    # a checkout no longer overwrites the edited file unasked, as for a dataset's
    proc = cli("data", "checkout", "churn@v1", cwd=ws.root, check=2)
    assert "local changes that checkout would lose" in proc.stderr
    assert "`assay model add`" in proc.stderr and "assay data add" not in proc.stderr  # (a model's hint)
    cli("data", "checkout", "churn@v1", "--force", cwd=ws.root)
    assert cli("data", "status", "churn", cwd=ws.root).stdout == "churn: clean against churn@v1 (2 files)\n"


def test_registrations_of_one_name_at_once_each_store_their_own_model(ws, files: dict[str, Path], fitted: dict) -> None:  # noqa: ANN001
    import subprocess

    import skops.io
    from sklearn.linear_model import LogisticRegression

    from assay import data
    from assay.models._hashing import hash_path
    from tests.conftest import ASSAY

    for i, c in enumerate((0.01, 0.1, 1.0, 10.0)):
        (ws.root / f"m{i}").mkdir()
        skops.io.dump(LogisticRegression(C=c, max_iter=500).fit(fitted["X"], fitted["y"]), ws.root / f"m{i}" / "model.skops")
    procs = [subprocess.Popen([*ASSAY, "model", "add", "race", f"m{i}/model.skops", "--json"], cwd=ws.root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    outcomes = [(p.communicate(timeout=120), p.returncode) for p in procs]
    assert [code for _, code in outcomes] == [0] * 4, outcomes
    for i, ((out, _), _) in enumerate(outcomes):
        ref = __import__("json").loads(out)["ref"]
        data.checkout(ws, ref, to=ws.root / f"out{i}")
        assert hash_path(ws.root / f"out{i}" / ".assay-model-race" / "model.skops") == hash_path(ws.root / f"m{i}" / "model.skops")


def test_a_changed_cached_copy_is_not_used(ws, files: dict[str, Path], fitted: dict) -> None:  # noqa: ANN001
    import shutil

    register_model(ws, "iris", files["skops"])
    model = load_model("iris@v1", ws=ws)
    cached = next((ws.cache_dir / "models").rglob("model.skops"))
    shutil.copy(files["joblib"], cached)  # other bytes where the registered model's are cached
    again = load_model("iris@v1", ws=ws)
    assert again.hash == model.hash
    np.testing.assert_allclose(again.predict(Features.from_numpy(fitted["X"])).proba,
                               fitted["model"].predict_proba(fitted["X"]))


def test_a_missing_model_file_is_named_as_such(ws) -> None:  # noqa: ANN001
    from assay.errors import NotFoundError

    with pytest.raises(NotFoundError, match="nothere.skops: no such model file") as caught:
        register_model(ws, "m", ws.root / "nothere.skops")
    assert "no workspace" not in caught.value.message  # (it was said inside one)


class Threshold:
    """A model of the user's own: it learns nothing, so it has no state ending in ``_``."""

    def fit(self, X, y):  # noqa: ANN001, ANN201
        return self

    def predict(self, X):  # noqa: ANN001, ANN201
        return (np.asarray(X)[:, 2] > 2.5).astype(int)


def test_an_unfitted_scikit_learn_estimator_is_refused_at_registration(ws, cli, fitted: dict) -> None:  # noqa: ANN001
    import joblib
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    sio.dump(LogisticRegression(), ws.root / "unfitted.skops")
    with pytest.raises(ModelError, match="LogisticRegression in the file was never fitted") as caught:
        register_model(ws, "clf", ws.root / "unfitted.skops")
    assert "fit it before saving" in str(caught.value.hint)
    joblib.dump(make_pipeline(StandardScaler(), LogisticRegression()), ws.root / "pipe.joblib")
    with pytest.raises(ModelError, match="Pipeline in the file was never fitted"):
        register_model(ws, "pipe", ws.root / "pipe.joblib", trust=True)
    proc = cli("model", "add", "clf", "unfitted.skops", cwd=ws.root, check=2)
    assert "never fitted" in proc.stderr and "fit it before saving" in proc.stderr
    assert not ws.ledger.query("SELECT 1 FROM datasets")
    # an estimator of the user's own need not keep scikit-learn's convention, nor a Pipeline ending in one
    joblib.dump(Threshold(), ws.root / "own.joblib")
    assert register_model(ws, "own", ws.root / "own.joblib", trust=True).created
    joblib.dump(make_pipeline(StandardScaler().fit(fitted["X"]), Threshold()), ws.root / "own-pipe.joblib")
    assert register_model(ws, "own-pipe", ws.root / "own-pipe.joblib", trust=True).created


def test_a_killed_load_s_copy_removed_by_the_next_load_is_said_on_stderr(ws, files: dict[str, Path],  # noqa: ANN001
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # A load killed while it checked the model out into the workspace's temp folder leaves a
    # folder of the model's size: the next load removes it, and says so once, as the store's
    # sweep of a killed writer's temp files does (it went silently).
    import shutil
    import subprocess
    import sys

    from assay._process import host_tag

    register_model(ws, "iris", files["skops"])
    ws.store  # noqa: B018 - opened (and swept) already: the load's own sweep finds the folder
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    left = ws.tmp_dir / f"{proc.pid}-{host_tag()}-model-0123-0badcafe"
    left.mkdir(parents=True)
    (left / "model.skops").write_bytes(b"m" * 3000)
    capsys.readouterr()
    load_model("iris@v1", ws=ws)
    out, err = capsys.readouterr()
    assert not left.exists() and out == ""
    assert err.count("note: removed") == 1
    assert "note: removed a temp folder (2.9 KiB) left in this workspace's temp folder by an assay command killed " \
           "mid-write" in err
    shutil.rmtree(ws.cache_dir / "models")
    load_model("iris@v1", ws=ws)
    assert "note:" not in capsys.readouterr().err  # said once, by the load that removed it


def test_model_list_name_lists_its_versions(ws, files: dict[str, Path], cli) -> None:  # noqa: ANN001
    from assay import data

    register_model(ws, "churn", files["skops"], message="first")
    second = register_model(ws, "churn", files["joblib"], message="second\nmore", trust=True).version
    (ws.root / "t.csv").write_text("a,b\n1,2\n")
    data.add(ws, [ws.root / "t.csv"], name="table")
    doc = cli.json("model", "list", "churn")
    assert doc["model"] == "churn" and [v["ref"] for v in doc["versions"]] == ["churn@v2", "churn@v1"]
    top = doc["versions"][0]
    assert (top["id"], top["flavor"], top["snapshot"], top["message"], top["run_id"]) == (
        second.id, "sklearn", second.snapshot, "second\nmore", None)
    assert top["bytes"] > 0 and top["created_at"]
    lines = cli("model", "list", "churn").stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("churn@v2") and second.id[:12] in lines[0]
    assert "sklearn" in lines[0] and second.snapshot[:12] in lines[0] and "second …" in lines[0]
    assert [v["ref"] for v in cli.json("model", "list", "churn@v1")["versions"]] == ["churn@v1"]
    # an unknown name is a usage error that names the close one; a dataset is not a model
    proc = cli("model", "list", "chrun", check=2)
    assert "no model named 'chrun'" in proc.stderr and "did you mean churn" in proc.stderr
    assert "did you mean churn" in cli.json("model", "list", "chrun", check=2)["hint"]
    assert "is a dataset" in cli("model", "list", "table", check=2).stderr
    # a version it lacks: the hint names the model's own listing, not a dataset's
    assert "`assay model list churn` lists its versions" in cli("model", "list", "churn@v9", check=2).stderr
    assert "`assay data log table` lists its versions" in cli("data", "log", "table@v9", check=2).stderr
    assert "NAME" in cli("model", "list", "--help").stdout
    assert [m["name"] for m in cli.json("model", "list")["models"]] == ["churn"]  # without NAME: as before
