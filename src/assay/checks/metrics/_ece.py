from __future__ import annotations

from typing import Any

import numpy as np

from assay.checks.metrics._base import DecomposableMetric, Outputs, register
from assay.errors import InputError


@register
class ExpectedCalibrationError(DecomposableMetric):
    """Top-label expected calibration error over equal-width confidence bins (Guo et al., 2017).

    ECE = Σ_b |Σ_{i∈b} (confidence_i − correct_i)| / n, a function of per-bin means, hence
    exact under bootstrap weights.
    """

    name = "ece"
    tasks = ("binary", "multiclass")
    greater_is_better = False
    needs_proba = True
    bounds = (0.0, 1.0)

    def __init__(self, bins: int = 15, **params: Any) -> None:
        super().__init__(**params)
        if not isinstance(bins, int) or bins < 1:
            raise InputError(f"ece bins must be a positive integer, got {bins!r}")
        self.bins = bins
        self.params = {"bins": bins} if bins != 15 else {}

    def stats(self, out: Outputs) -> np.ndarray:
        assert out.proba is not None
        conf = out.proba.max(axis=1)
        correct = (np.argmax(out.proba, axis=1) == out.y).astype(np.float64)
        b = np.minimum((conf * self.bins).astype(int), self.bins - 1)
        S = np.zeros((len(conf), self.bins))
        S[np.arange(len(conf)), b] = conf - correct
        return S

    def finalize(self, means: np.ndarray) -> np.ndarray:
        return np.abs(means).sum(axis=1)
