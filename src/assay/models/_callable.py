"""A Python callable named ``module:function`` (or ``path/to/file.py:function``)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assay.models._base import Features, ModelAdapter, ModelError, Prediction
from assay.models._hashing import hash_bytes, hash_path

__all__ = ["CallableModel", "load_callable"]


@dataclass
class CallableModel(ModelAdapter):
    """Calls ``function(X)`` with a 2-D numpy array (a DataFrame if ``function.wants_frame``).

    The function returns 1-D labels or values, 2-D class probabilities (columns in the order
    of ``function.classes`` if set, else 0..k-1), or a dict with ``labels`` and/or ``proba``.
    """

    function: Callable[[Any], Any] | None = None

    def _predict(self, features: Features) -> Prediction:
        assert self.function is not None
        wants_frame = bool(getattr(self.function, "wants_frame", False))
        out = self.function(features.to_pandas() if wants_frame else features.to_numpy())
        return prediction_from_output(out, self.classes, len(features))


def prediction_from_output(out: Any, classes: np.ndarray | None, n: int) -> Prediction:
    """Interpret what a callable or an endpoint returned."""
    labels = proba = None
    if isinstance(out, dict):
        labels = out.get("labels", out.get("predictions"))
        proba = out.get("proba", out.get("probabilities"))
    else:
        arr = np.asarray(out)
        if arr.ndim == 2 and arr.shape[1] > 1:
            proba = arr
        else:
            labels = arr.reshape(-1) if arr.ndim == 2 else arr
    if proba is not None:
        proba = np.asarray(proba, dtype=np.float64)
        if proba.ndim != 2:
            raise ModelError(f"probabilities must be 2-D (rows × classes), got shape {proba.shape}")
        cls = classes if classes is not None and len(classes) == proba.shape[1] else np.arange(proba.shape[1])
        lab = np.asarray(labels) if labels is not None else cls[np.argmax(proba, axis=1)]
        return Prediction(labels=lab, proba=proba, classes=cls)
    if labels is None:
        raise ModelError("the model returned neither labels nor probabilities")
    return Prediction(labels=np.asarray(labels))


def _import_target(spec: str) -> Any:
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise ModelError(f"{spec!r} is not of the form module:function", hint="e.g. mypkg.models:predict or models.py:predict")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).resolve()
            if not path.is_file():
                raise ModelError(f"{spec}: no such file {path}")
            mod_name = f"_assay_model_{hash_bytes(str(path).encode())[:12]}"
            loader_spec = importlib.util.spec_from_file_location(mod_name, path)
            assert loader_spec is not None and loader_spec.loader is not None
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[mod_name] = module
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{spec}: cannot import {module_name} ({type(exc).__name__}: {exc})") from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ModelError(f"{spec}: {module_name} has no attribute {attr!r}")
        target = getattr(target, part)
    return target, module


def load_callable(spec: str, *, name: str | None = None) -> ModelAdapter:
    """Load ``module:attr``: a function, or an object with ``predict`` (wrapped like scikit-learn)."""
    target, module = _import_target(spec)
    label = name or spec
    source = getattr(module, "__file__", None)
    # the hash covers the defining file so an edited function is a new model for the cache
    digest = hash_bytes((spec + "\0" + (hash_path(Path(source)) if source and Path(source).is_file() else "")).encode())
    if hasattr(target, "predict") and not inspect.isfunction(target):
        from assay.models._sklearn import wrap_estimator

        model = wrap_estimator(target, name=label, hash=digest)
        model.flavor = "python"
        return model
    if not callable(target):
        raise ModelError(f"{spec}: {type(target).__name__} is neither callable nor has predict")
    classes = getattr(target, "classes", None)
    return CallableModel(
        name=label,
        flavor="python",
        hash=digest,
        n_features=getattr(target, "n_features", None),
        classes=np.asarray(classes) if classes is not None else None,
        function=target,
    )


def from_function(function: Callable[[Any], Any], *, name: str = "function", classes: Any = None) -> CallableModel:
    """Wrap an in-process function as a model (see :class:`CallableModel` for what it returns)."""
    digest = hash_bytes(f"{name}\0{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', '')}\0{id(function)}".encode())
    return CallableModel(name=name, flavor="python", hash=digest, classes=None if classes is None else np.asarray(classes),
                         n_features=getattr(function, "n_features", None), function=function)
