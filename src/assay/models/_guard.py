"""Calling a model safely: batches, a time limit, and checks on what comes back.

A model that raises, hangs, returns the wrong number of rows or NaN is reported as a
:class:`ModelError` naming the model, never a crash or a silent pass.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from assay._wording import shortened
from assay.models._base import Features, ModelAdapter, ModelError, Prediction

__all__ = ["PredictionCache", "call_with_timeout", "guarded_predict"]


def call_with_timeout(model: ModelAdapter, batch: Features, timeout_s: float | None) -> Prediction:
    """``model.predict(batch)``, or :class:`ModelError` if it has not returned after ``timeout_s``."""
    if timeout_s is None:
        return model.predict(batch)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = model.predict(batch)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    # a daemon thread: a hung model cannot be killed from Python, but it must not keep
    # the process alive after we have reported it
    worker = threading.Thread(target=target, daemon=True, name=f"predict-{model.name}")
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise ModelError(
            f"{model.name}: predict did not return within {timeout_s:g} s on a batch of {len(batch)} rows",
            hint="the model may hang; raise the limit with --timeout if it is just slow",
        )
    if "error" in box:
        raise box["error"]
    return box["value"]


#: how far a row of probabilities may sum from 1, per class column: float32 rounding (about 6e-8
#: per addition) passes, a model that does not normalize its output (rows summing to 1.4) does not
PROBA_SUM_TOLERANCE = 1e-6


def _validate(model: ModelAdapter, pred: Prediction, n: int, offset: int = 0, total: int | None = None) -> None:
    """``offset``: the batch's first row in the whole table, so that a bad row is named as the user counts it;
    ``total``: the table's rows, when it was predicted in batches (a shape error then names the batch)."""
    proba = pred.proba
    rows = f"{n} rows" if total is None or total == n else f"a batch of {n} rows (rows {offset}–{offset + n - 1} of {total}, counting from 0)"
    # first: labels taken from the probabilities' argmax have their wrong row count too
    if proba is not None and (proba.ndim != 2 or proba.shape[0] != n):
        cols = proba.shape[1] if proba.ndim == 2 else "n_classes"
        raise ModelError(f"{model.name}: predict_proba returned an array of shape {proba.shape} for {rows}; "
                         f"expected one row per input and one column per class, shape ({n}, {cols})")
    labels = np.asarray(pred.labels)
    if labels.ndim != 1 or len(labels) != n:
        raise ModelError(f"{model.name}: predict returned an array of shape {labels.shape} for {rows}; "
                         f"expected one value per row, shape ({n},)")
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        bad = int(np.count_nonzero(~np.isfinite(labels)))
        raise ModelError(f"{model.name}: predict returned {bad} NaN or infinite values out of {n}")
    if proba is not None:
        if not np.all(np.isfinite(proba)):
            bad = int(np.count_nonzero(~np.all(np.isfinite(proba), axis=1)))
            raise ModelError(f"{model.name}: predict_proba returned NaN or infinite probabilities in {bad} of {n} rows")
        if proba.size and (proba.min() < -1e-6 or proba.max() > 1 + 1e-6):
            raise ModelError(f"{model.name}: predict_proba returned values outside [0, 1]")
        sums = proba.sum(axis=1)
        tol = PROBA_SUM_TOLERANCE * max(1, proba.shape[1])
        off = np.flatnonzero(np.abs(sums - 1.0) > tol)
        if len(off):
            first = int(off[0])
            raise ModelError(f"{model.name}: predict_proba returned rows of {proba.shape[1]} probabilities that do not sum to 1: "
                             f"row {offset + first} (counting from 0), the first such row, sums to {sums[first]:.6g}",
                             hint=f"return class probabilities that add up to 1 in each row (within {tol:g}), "
                                  "e.g. a softmax, or return labels only")


def guarded_predict(
    model: ModelAdapter,
    features: Features,
    *,
    batch_size: int = 65_536,
    timeout_s: float | None = None,
) -> Prediction:
    """Predict every row of ``features`` in batches; raise :class:`ModelError` on any misbehaviour."""
    n = len(features)
    if model.n_features is not None and model.n_features != features.n_features:
        raise ModelError(
            f"{model.name}: the model expects {model.n_features} features but the data has {features.n_features}"
            f" ({', '.join(features.columns[:8])}{', …' if features.n_features > 8 else ''})",
            hint="set `features:` in the suite to the model's input columns, or check the target column",
        )
    parts: list[Prediction] = []
    for start in range(0, max(n, 1), batch_size):
        batch = features.take(slice(start, start + batch_size))
        try:
            pred = call_with_timeout(model, batch, timeout_s)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"{model.name}: predict raised {type(exc).__name__}: {shortened(str(exc)) or '(no message)'}") from None
        _validate(model, pred, len(batch), offset=start, total=n)
        parts.append(pred)
    if len(parts) == 1:
        return parts[0]
    proba = np.concatenate([p.proba for p in parts]) if parts[0].proba is not None else None
    return Prediction(labels=np.concatenate([p.labels for p in parts]), proba=proba, classes=parts[0].classes)


class PredictionCache:
    """Predictions keyed by (model hash, data hash, variant): each model predicts each row once per run."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str, str], Prediction] = {}
        self.rows_predicted = 0

    def get(
        self,
        model: ModelAdapter,
        features: Features,
        data_hash: str,
        *,
        variant: str = "",
        timeout_s: float | None = None,
        batch_size: int = 65_536,
    ) -> Prediction:
        key = (model.hash, data_hash, variant)
        if key not in self._items:
            self._items[key] = guarded_predict(model, features, timeout_s=timeout_s, batch_size=batch_size)
            self.rows_predicted += len(features)
        return self._items[key]

    def __len__(self) -> int:
        return len(self._items)
