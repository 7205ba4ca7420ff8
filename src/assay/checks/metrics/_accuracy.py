from __future__ import annotations

import numpy as np

from assay.checks.metrics._base import DecomposableMetric, Outputs, register


@register
class Accuracy(DecomposableMetric):
    """Share of rows whose predicted class is the true class."""

    name = "accuracy"
    tasks = ("binary", "multiclass")
    bounds = (0.0, 1.0)

    def stats(self, out: Outputs) -> np.ndarray:
        return (out.labels == out.y).astype(np.float64)
