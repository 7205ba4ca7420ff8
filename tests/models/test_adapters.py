"""Each flavor loads and predicts the same as the estimator it wraps; unsafe formats need trust."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import assay.models as models
from assay.models import Features, ModelError, guarded_predict, load_model

EXPORTS = ["FLAVORS", "Features", "ModelAdapter", "ModelError", "ModelExitError", "Prediction", "PredictionCache", "call_with_timeout", "from_estimator",
           "from_function", "guarded_predict", "infer_flavor", "load_model", "load_registered", "model_versions",
           "register_model"]


def test_public_surface() -> None:
    assert models.__all__ == sorted(models.__all__) == EXPORTS


def test_skops_loads_without_trust_and_predicts(files: dict[str, Path], fitted: dict) -> None:
    m = load_model(files["skops"])
    assert m.flavor == "sklearn" and m.n_features == 4 and list(m.classes) == [0, 1, 2]
    pred = m.predict(Features.from_numpy(fitted["X"]))
    np.testing.assert_allclose(pred.proba, fitted["model"].predict_proba(fitted["X"]))
    assert (pred.labels == fitted["model"].predict(fitted["X"])).all()


def test_pickle_formats_need_trust(files: dict[str, Path], fitted: dict) -> None:
    with pytest.raises(ModelError, match="pickle") as info:
        load_model(files["joblib"])
    assert "--trust" in str(info.value)
    m = load_model(files["joblib"], trust=True)
    assert m.hash and m.size_bytes == files["joblib"].stat().st_size


def test_skops_with_untrusted_types_needs_trust(tmp_path: Path, fitted: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    (tmp_path / "assay_test_custom_fn.py").write_text("def shift(X):\n    return X + 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    custom = importlib.import_module("assay_test_custom_fn")
    pipe = make_pipeline(FunctionTransformer(custom.shift), fitted["model"].__class__(max_iter=300)).fit(fitted["X"], fitted["y"])
    path = tmp_path / "custom.skops"
    sio.dump(pipe, path)
    with pytest.raises(ModelError, match="does not trust"):
        load_model(path)
    assert load_model(path, trust=True).predict(Features.from_numpy(fitted["X"][:5])).proba.shape == (5, 3)


def test_onnx_model_matches_sklearn(tmp_path: Path, fitted: dict) -> None:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType

    onx = skl2onnx.convert_sklearn(fitted["model"], initial_types=[("input", FloatTensorType([None, 4]))],
                                   options={id(fitted["model"]): {"zipmap": False}})
    path = tmp_path / "m.onnx"
    path.write_bytes(onx.SerializeToString())
    m = load_model(path)
    assert m.flavor == "onnx" and m.n_features == 4 and list(m.classes) == [0, 1, 2]
    pred = m.predict(Features.from_numpy(fitted["X"]))
    np.testing.assert_allclose(pred.proba, fitted["model"].predict_proba(fitted["X"]), atol=1e-4)
    # zipmap output (list of dicts) is understood too
    onx2 = skl2onnx.convert_sklearn(fitted["model"], initial_types=[("input", FloatTensorType([None, 4]))])
    path2 = tmp_path / "zip.onnx"
    path2.write_bytes(onx2.SerializeToString())
    np.testing.assert_allclose(load_model(path2).predict(Features.from_numpy(fitted["X"])).proba, pred.proba, atol=1e-6)


def test_onnx_model_pickles_with_its_bytes(tmp_path: Path, fitted: dict) -> None:
    import pickle

    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType

    onx = skl2onnx.convert_sklearn(fitted["model"], initial_types=[("input", FloatTensorType([None, 4]))],
                                   options={id(fitted["model"]): {"zipmap": False}})
    path = tmp_path / "m.onnx"
    path.write_bytes(onx.SerializeToString())
    m = load_model(path)
    blob = pickle.dumps(m)
    path.unlink()  # the copy rebuilds its session from the pickled bytes, not from the file (Ray workers)
    copy = pickle.loads(blob)
    X = Features.from_numpy(fitted["X"])
    assert copy.hash == m.hash and copy.session is not m.session
    np.testing.assert_array_equal(copy.predict(X).proba, m.predict(X).proba)
    path.write_bytes(b"changed")
    with pytest.raises(ModelError, match="changed since the model was loaded"):
        pickle.dumps(m)


def test_broken_onnx_file_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="onnxruntime cannot load"):
        load_model(path)


def test_python_callable_by_module_and_by_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mymodels.py").write_text(
        "import numpy as np\n"
        "def predict(X):\n    return (X[:, 0] > 0).astype(int)\n"
        "def proba(X):\n    p = 1 / (1 + np.exp(-X[:, 0]))\n    return np.column_stack([1 - p, p])\n"
        "proba.classes = ['no', 'yes']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    X = np.array([[-1.0], [2.0]])
    m = load_model("mymodels:predict")
    assert m.flavor == "python"
    assert list(m.predict(Features.from_numpy(X)).labels) == [0, 1]
    m2 = load_model(f"{tmp_path / 'mymodels.py'}:proba")
    pred = m2.predict(Features.from_numpy(X))
    assert list(pred.labels) == ["no", "yes"] and pred.proba.shape == (2, 2)
    with pytest.raises(ModelError, match="no attribute"):
        load_model("mymodels:nothing")
    with pytest.raises(ModelError, match="cannot import"):
        load_model("no_such_module_xyz:predict")
    sys.modules.pop("mymodels", None)


class _Handler(BaseHTTPRequestHandler):
    calls: list[int] = []
    fail_first = 0
    sleep = 0.0

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(len(body["instances"]))
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        if type(self).sleep:
            time.sleep(type(self).sleep)
        rows = np.asarray(body["instances"], dtype=float)
        p = 1 / (1 + np.exp(-rows[:, 0]))
        out = json.dumps({"probabilities": np.column_stack([1 - p, p]).tolist(), "classes": [0, 1]}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out first, as the test intends

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> str:
    _Handler.calls, _Handler.fail_first, _Handler.sleep = [], 0, 0.0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/predict"
    server.shutdown()


def test_http_endpoint_with_retries_and_batches(endpoint: str) -> None:
    m = load_model(endpoint)
    assert m.flavor == "http"
    _Handler.fail_first = 1  # one 503, then success: retried
    X = np.column_stack([np.linspace(-3, 3, 10), np.zeros(10)])
    pred = guarded_predict(m, Features.from_numpy(X), batch_size=4)
    assert list(pred.labels) == [0] * 5 + [1] * 5
    assert _Handler.calls == [4, 4, 4, 2]  # the 503'd batch was sent twice


def test_http_timeout_and_dead_endpoint_are_model_errors(endpoint: str) -> None:
    from assay.models._http import load_http

    _Handler.sleep = 1.0
    m = load_http(endpoint, timeout_s=0.2, retries=1)
    m.backoff_s = 0.01
    with pytest.raises(ModelError, match="no usable answer after 2 tries"):
        guarded_predict(m, Features.from_numpy(np.zeros((2, 2))))
    dead = load_http("http://127.0.0.1:9/predict", timeout_s=0.5, retries=0)
    with pytest.raises(ModelError, match="no usable answer"):
        guarded_predict(dead, Features.from_numpy(np.zeros((2, 2))))


def test_unknown_reference_without_workspace() -> None:
    from assay.errors import NotFoundError

    with pytest.raises(NotFoundError, match="no such model"):
        load_model("churn@v3")
