from __future__ import annotations

from typing import Any

import numpy as np

from assay.checks.metrics._base import DecomposableMetric, Outputs, register
from assay.errors import InputError


@register
class QuantileLoss(DecomposableMetric):
    """Pinball loss at quantile ``alpha`` (0.5 → half the mean absolute error)."""

    name = "quantile_loss"
    tasks = ("regression",)
    greater_is_better = False

    def __init__(self, alpha: float = 0.5, **params: Any) -> None:
        super().__init__(**params)
        if not 0 < float(alpha) < 1:
            raise InputError(f"quantile_loss alpha must be in (0, 1), got {alpha!r}")
        self.alpha = float(alpha)
        self.params = {"alpha": self.alpha} if self.alpha != 0.5 else {}

    def stats(self, out: Outputs) -> np.ndarray:
        e = out.y - out.values
        return np.maximum(self.alpha * e, (self.alpha - 1) * e)
