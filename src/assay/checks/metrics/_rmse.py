from __future__ import annotations

import numpy as np

from assay.checks.metrics._base import DecomposableMetric, Outputs, register


@register
class RootMeanSquaredError(DecomposableMetric):
    """Root of the mean squared error."""

    name = "rmse"
    tasks = ("regression",)
    greater_is_better = False

    def stats(self, out: Outputs) -> np.ndarray:
        return (out.y - out.values) ** 2

    def finalize(self, means: np.ndarray) -> np.ndarray:
        return np.sqrt(means[:, 0])
