from __future__ import annotations

import numpy as np

from assay.checks.metrics._base import DecomposableMetric, Outputs, register


@register
class MeanAbsoluteError(DecomposableMetric):
    """Mean absolute error."""

    name = "mae"
    tasks = ("regression",)
    greater_is_better = False

    def stats(self, out: Outputs) -> np.ndarray:
        return np.abs(out.y - out.values)
