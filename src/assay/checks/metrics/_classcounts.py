"""Per-class counts shared by precision, recall and F1 (binary: the positive class; else macro)."""

from __future__ import annotations

import numpy as np

from assay.checks.metrics._base import Outputs


def class_counts(out: Outputs) -> np.ndarray:
    """Columns per class c: [true positive, predicted c, actually c] → shape (n, 3 C)."""
    classes = [1] if out.task == "binary" else list(range(out.n_classes))
    cols = []
    for c in classes:
        pred = out.labels == c
        true = out.y == c
        cols += [pred & true, pred, true]
    return np.column_stack(cols).astype(np.float64)


def macro(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Average per-class values over classes that occur in truth or prediction (as scikit-learn)."""
    if values.shape[1] == 1:
        return values[:, 0]
    count = present.sum(axis=1)
    return np.where(present, values, 0.0).sum(axis=1) / np.maximum(count, 1)


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)  # 0/0 → 0, scikit-learn's default
