from __future__ import annotations

import numpy as np

from assay.checks.metrics._base import DecomposableMetric, Outputs, register


@register
class LogLoss(DecomposableMetric):
    """Mean negative log-probability of the true class (probabilities clipped at float eps)."""

    name = "log_loss"
    tasks = ("binary", "multiclass")
    greater_is_better = False
    needs_proba = True

    def stats(self, out: Outputs) -> np.ndarray:
        assert out.proba is not None
        eps = np.finfo(np.float64).eps
        proba = out.proba / out.proba.sum(axis=1, keepdims=True)
        p = np.clip(proba[np.arange(len(out.y)), out.y], eps, 1 - eps)
        return -np.log(p)
