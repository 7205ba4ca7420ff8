"""scikit-learn estimators from skops files (safe) or joblib / pickle files (only with trust)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assay.extras import import_optional
from assay.models._base import Features, ModelAdapter, ModelError, Prediction
from assay.models._hashing import hash_path

__all__ = ["SklearnModel", "load_sklearn", "refuse_unfitted"]

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


@dataclass
class SklearnModel(ModelAdapter):
    """Any object with scikit-learn's ``predict`` (and maybe ``predict_proba``)."""

    estimator: Any = None

    def _predict(self, features: Features) -> Prediction:
        est = self.estimator
        # Estimators fitted on a DataFrame check column names; give them one. Others get numbers.
        X: Any = features.to_pandas() if hasattr(est, "feature_names_in_") else features.to_numpy()
        if hasattr(est, "predict_proba") and getattr(est, "classes_", None) is not None:
            proba = np.asarray(est.predict_proba(X), dtype=np.float64)
            classes = np.asarray(est.classes_)
            if proba.ndim != 2 or proba.shape[1] != len(classes):
                return Prediction(labels=np.asarray(est.predict(X)))
            return Prediction(labels=classes[np.argmax(proba, axis=1)], proba=proba, classes=classes)
        return Prediction(labels=np.asarray(est.predict(X)))


def wrap_estimator(estimator: Any, *, name: str, hash: str, size_bytes: int | None = None) -> SklearnModel:
    if not hasattr(estimator, "predict"):
        raise ModelError(f"{name}: the loaded object ({type(estimator).__name__}) has no predict method")
    n = getattr(estimator, "n_features_in_", None)
    classes = getattr(estimator, "classes_", None)
    return SklearnModel(
        name=name,
        flavor="sklearn",
        hash=hash,
        n_features=int(n) if n is not None else None,
        classes=np.asarray(classes) if classes is not None else None,
        size_bytes=size_bytes,
        estimator=estimator,
    )


def refuse_unfitted(model: SklearnModel) -> None:
    """Refuse an estimator that was never fitted (it would load, and fail only when a check
    calls it). Only scikit-learn's own estimators, and Pipelines of them, are judged: others
    need not keep its convention that learned state ends in ``_``."""
    if not _keeps_fitted_convention(model.estimator):
        return
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model.estimator)
    except NotFittedError:
        raise ModelError(f"{model.name}: the {type(model.estimator).__name__} in the file was never fitted, "
                         "so it cannot predict", hint="fit it before saving it, then register the saved file") from None


def _keeps_fitted_convention(estimator: Any) -> bool:
    if not type(estimator).__module__.startswith("sklearn.") or not hasattr(estimator, "fit"):
        return False
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):  # (fitted when its last step is: see Pipeline.__sklearn_is_fitted__)
        return all(step in (None, "passthrough") or _keeps_fitted_convention(step) for _, step in estimator.steps)
    return True


def load_sklearn(path: Path, *, trust: bool = False, name: str | None = None) -> SklearnModel:
    """Load a ``.skops`` file, or a pickle-based file (``.joblib``, ``.pkl``) when ``trust`` is set.

    skops files are checked for types outside skops' trusted set; those, like any pickle,
    can run arbitrary code when loaded, so they too need ``trust``.
    """
    path = Path(path)
    label = name or str(path)
    if not path.is_file():
        raise ModelError(f"{label}: no such model file", hint="check the path, or register it with `assay model add`")
    suffix = path.suffix.lower()
    if suffix == ".skops":
        sio = import_optional("skops.io", "sklearn")
        try:
            untrusted = sio.get_untrusted_types(file=path)
        except Exception as exc:
            raise ModelError(f"{label}: not a readable skops file ({type(exc).__name__}: {exc})") from None
        if untrusted and not trust:
            raise ModelError(
                f"{label}: the skops file contains types skops does not trust: {', '.join(untrusted)}",
                hint="loading them may run code from the file; pass --trust (trust=True) only if you trust its author",
            )
        try:
            est = sio.load(path, trusted=untrusted or None)
        except Exception as exc:
            raise ModelError(f"{label}: cannot load the skops file ({type(exc).__name__}: {exc})") from None
    elif suffix in PICKLE_SUFFIXES:
        if not trust:
            raise ModelError(
                f"{label}: {suffix} files are pickles, and loading a pickle can run any code it contains",
                hint="pass --trust (trust=True) if you trust the file's author, or save the model with skops (.skops)",
            )
        import_optional("sklearn", "sklearn")
        import joblib  # ships with scikit-learn

        try:
            est = joblib.load(path)
        except Exception as exc:
            raise ModelError(f"{label}: cannot unpickle the file ({type(exc).__name__}: {exc})") from None
    else:
        raise ModelError(f"{label}: unknown scikit-learn model format {suffix!r}", hint="use .skops, or .joblib/.pkl with --trust (trust=True)")
    return wrap_estimator(est, name=label, hash=hash_path(path), size_bytes=path.stat().st_size)


def from_estimator(estimator: Any, *, name: str = "estimator") -> SklearnModel:
    """Wrap a fitted in-memory estimator; its hash is that of its skops/pickle-free repr plus identity."""
    from assay.models._hashing import hash_bytes

    return wrap_estimator(estimator, name=name, hash=hash_bytes(f"{name}\0{type(estimator).__qualname__}\0{id(estimator)}".encode()))
