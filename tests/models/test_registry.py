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
    assert r.version.meta == {"flavor": "http", "url": "http://127.0.0.1:9/predict"}
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
