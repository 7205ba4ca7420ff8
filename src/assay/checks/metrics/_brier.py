from __future__ import annotations

import numpy as np

from assay.checks.metrics._base import DecomposableMetric, Outputs, register


@register
class Brier(DecomposableMetric):
    """Brier score: binary (p − y)²; multiclass Σ_c (p_c − 1[y = c])²."""

    name = "brier"
    tasks = ("binary", "multiclass")
    greater_is_better = False
    needs_proba = True

    def stats(self, out: Outputs) -> np.ndarray:
        assert out.proba is not None
        if out.task == "binary":
            return (out.proba[:, 1] - (out.y == 1)) ** 2
        onehot = np.zeros_like(out.proba)
        onehot[np.arange(len(out.y)), out.y] = 1.0
        return ((out.proba - onehot) ** 2).sum(axis=1)
