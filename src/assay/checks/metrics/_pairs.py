"""Metrics that compare the candidate with the baseline row by row (equivalence gates)."""

from __future__ import annotations

import numpy as np

from assay.checks.metrics._base import Outputs, PairMetric, register


@register
class FlipRate(PairMetric):
    """Share of rows where the candidate's predicted class differs from the baseline's."""

    name = "flip_rate"
    tasks = ("binary", "multiclass")
    bounds = (0.0, 1.0)

    def pair_stats(self, cand: Outputs, base: Outputs) -> np.ndarray:
        return (cand.labels != base.labels).astype(np.float64)


@register
class Agreement(PairMetric):
    """Share of rows where candidate and baseline predict the same class."""

    name = "agreement"
    tasks = ("binary", "multiclass")
    greater_is_better = True
    bounds = (0.0, 1.0)

    def pair_stats(self, cand: Outputs, base: Outputs) -> np.ndarray:
        return (cand.labels == base.labels).astype(np.float64)


@register
class ProbabilityDistance(PairMetric):
    """Mean total-variation distance between the two models' class probabilities
    (regression: mean absolute difference of the predictions)."""

    name = "prob_distance"

    def pair_stats(self, cand: Outputs, base: Outputs) -> np.ndarray:
        if cand.task == "regression":
            return np.abs(cand.values - base.values)
        if cand.proba is None or base.proba is None:
            return (cand.labels != base.labels).astype(np.float64)
        return 0.5 * np.abs(cand.proba - base.proba).sum(axis=1)
