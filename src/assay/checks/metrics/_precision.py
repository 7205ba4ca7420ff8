from __future__ import annotations

import numpy as np

from assay.checks.metrics._base import DecomposableMetric, Outputs, register
from assay.checks.metrics._classcounts import class_counts, macro, ratio


@register
class Precision(DecomposableMetric):
    """Precision of the positive class (binary) or macro-averaged over classes."""

    name = "precision"
    tasks = ("binary", "multiclass")
    bounds = (0.0, 1.0)

    def stats(self, out: Outputs) -> np.ndarray:
        return class_counts(out)

    def finalize(self, means: np.ndarray) -> np.ndarray:
        tp, pred, true = means[:, 0::3], means[:, 1::3], means[:, 2::3]
        return macro(ratio(tp, pred), (pred + true) > 0)
