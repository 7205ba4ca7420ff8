from __future__ import annotations

import numpy as np

from assay.checks.metrics._base import DecomposableMetric, Outputs, register
from assay.checks.metrics._classcounts import class_counts, macro, ratio


@register
class F1(DecomposableMetric):
    """F1 of the positive class (binary) or macro-averaged: 2 TP / (predicted + actual)."""

    name = "f1"
    tasks = ("binary", "multiclass")
    bounds = (0.0, 1.0)

    def stats(self, out: Outputs) -> np.ndarray:
        return class_counts(out)

    def finalize(self, means: np.ndarray) -> np.ndarray:
        tp, pred, true = means[:, 0::3], means[:, 1::3], means[:, 2::3]
        return macro(ratio(2 * tp, pred + true), (pred + true) > 0)
