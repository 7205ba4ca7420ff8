"""Hellinger distance: sqrt(1 - sum(sqrt(p * q))), in [0, 1].

Numeric columns use 20 bins cut at reference quantiles; categorical columns one bin
per category.
"""

from __future__ import annotations

import numpy as np

from assay.drift._comparison import CategoricalComparison, NumericComparison
from assay.drift._registry import StatTest, TestOutcome, register_stat_test

BINS = 20


def hellinger(p: np.ndarray, q: np.ndarray) -> float:
    p = p / p.sum()
    q = q / q.sum()
    return float(np.sqrt(max(1.0 - np.sum(np.sqrt(p * q)), 0.0)))


@register_stat_test
class Hellinger(StatTest):
    """Effect: the distance itself."""

    name = "hellinger"
    kinds = frozenset({"numeric", "categorical"})
    has_p_value = False
    default_threshold = 0.1
    effect_name = "Hellinger distance"

    def numeric(self, cmp: NumericComparison) -> TestOutcome:
        value = hellinger(*cmp.quantile_bins(BINS))
        return TestOutcome(statistic=value, p_value=None, effect=value)

    def categorical(self, cmp: CategoricalComparison) -> TestOutcome:
        value = hellinger(*cmp.probabilities())
        return TestOutcome(statistic=value, p_value=None, effect=value)
