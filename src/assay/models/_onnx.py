"""ONNX models through onnxruntime (``assay[onnx]``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assay.extras import import_optional
from assay.models._base import Features, ModelAdapter, ModelError, Prediction
from assay.models._hashing import hash_bytes, hash_path

__all__ = ["OnnxModel", "load_onnx"]

_NP_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
             "tensor(int32)": np.int32, "tensor(string)": object}


@dataclass
class OnnxModel(ModelAdapter):
    """A model with one 2-D input tensor; outputs are a label tensor and/or a probability tensor."""

    session: Any = None
    input_name: str = ""
    input_dtype: Any = np.float32
    #: the file the session was built from; pickling ships its bytes
    path: str = ""

    def __getstate__(self) -> dict[str, Any]:
        # an onnxruntime session cannot be pickled: send the model's bytes and rebuild the session
        # where it is unpickled (a Ray worker may run on a machine without the file)
        blob = Path(self.path).read_bytes()
        if hash_bytes(blob) != self.hash:
            raise ModelError(f"{self.name}: {self.path} changed since the model was loaded", hint="load the model again")
        return {**self.__dict__, "session": blob}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.session = _session(state["session"], self.name)

    def _predict(self, features: Features) -> Prediction:
        X = features.to_numpy().astype(self.input_dtype)
        outputs = self.session.run(None, {self.input_name: X})
        labels = None
        proba = None
        for meta, value in zip(self.session.get_outputs(), outputs, strict=True):
            if isinstance(value, list) and value and isinstance(value[0], dict):
                # ZipMap output: a list of {class: probability}
                keys = list(value[0].keys())
                proba = np.array([[row[k] for k in keys] for row in value], dtype=np.float64)
                if self.classes is None:
                    self.classes = np.asarray(keys)
                continue
            arr = np.asarray(value)
            name = meta.name.lower()
            if arr.ndim == 2 and arr.shape[1] > 1 and ("prob" in name or labels is not None or self.classes is not None):
                proba = arr.astype(np.float64)
            elif labels is None:
                labels = arr.reshape(len(X), -1)[:, 0] if arr.ndim == 2 and arr.shape[1] == 1 else arr
            elif proba is None and arr.ndim == 2:
                proba = arr.astype(np.float64)
        if proba is not None:
            classes = self.classes if self.classes is not None and len(self.classes) == proba.shape[1] else None
            if classes is None:
                classes = np.arange(proba.shape[1])
            return Prediction(labels=classes[np.argmax(proba, axis=1)], proba=proba, classes=classes)
        if labels is None:
            raise ModelError(f"{self.name}: the ONNX model returned no usable output")
        return Prediction(labels=np.asarray(labels).reshape(-1) if np.asarray(labels).ndim > 1 and np.asarray(labels).shape[-1] == 1 else np.asarray(labels))


def _class_labels(model_proto: Any) -> np.ndarray | None:
    """Class labels as written by converters (skl2onnx stores them on the classifier node)."""
    for node in model_proto.graph.node:
        for attr in node.attribute:
            if attr.name in ("classlabels_int64s", "classlabels_ints") and attr.ints:
                return np.asarray(list(attr.ints))
            if attr.name == "classlabels_strings" and attr.strings:
                return np.asarray([s.decode() for s in attr.strings])
    return None


def _session(source: str | bytes, label: str) -> Any:
    """An onnxruntime session on a model file (path) or a model's bytes."""
    ort = import_optional("onnxruntime", "onnx")
    options = ort.SessionOptions()
    # one thread per session: the checks already batch, and CI machines are small
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"{label}: onnxruntime cannot load the model ({type(exc).__name__}: {exc})") from None


def load_onnx(path: Path, *, name: str | None = None) -> OnnxModel:
    path = Path(path)
    label = name or str(path)
    if not path.is_file():
        raise ModelError(f"{label}: no such model file")
    session = _session(str(path), label)
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"{label}: the ONNX model has {len(inputs)} inputs; assay feeds one 2-D feature tensor")
    shape = inputs[0].shape
    n_features = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
    classes = None
    try:
        onnx = import_optional("onnx", "onnx")
        classes = _class_labels(onnx.load(str(path)))
    except Exception:  # noqa: BLE001 - labels are a nicety; probabilities still map to column numbers
        classes = None
    return OnnxModel(
        name=label,
        flavor="onnx",
        hash=hash_path(path),
        n_features=n_features,
        classes=classes,
        size_bytes=path.stat().st_size,
        session=session,
        input_name=inputs[0].name,
        input_dtype=_NP_TYPES.get(inputs[0].type, np.float32),
        path=str(path),
    )
