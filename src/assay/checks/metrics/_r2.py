from __future__ import annotations

import numpy as np

from assay.checks.metrics._base import DecomposableMetric, Outputs, register


@register
class R2(DecomposableMetric):
    """Coefficient of determination, 1 − mean squared error / variance of the target."""

    name = "r2"
    tasks = ("regression",)

    def stats(self, out: Outputs) -> np.ndarray:
        return np.column_stack([(out.y - out.values) ** 2, out.y, out.y**2])

    def finalize(self, means: np.ndarray) -> np.ndarray:
        var = means[:, 2] - means[:, 1] ** 2
        return 1.0 - means[:, 0] / var
