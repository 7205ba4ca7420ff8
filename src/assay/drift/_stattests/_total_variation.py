"""Total variation distance: half the L1 distance between category frequencies.

It is the largest difference in probability that any set of categories has between
the two sides, the categorical counterpart of the KS D.
"""

from __future__ import annotations

import numpy as np

from assay.drift._comparison import CategoricalComparison
from assay.drift._registry import StatTest, TestOutcome, register_stat_test


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    return float(0.5 * np.sum(np.abs(p - q)))


@register_stat_test
class TotalVariation(StatTest):
    """Effect: the distance itself."""

    name = "tv"
    kinds = frozenset({"categorical"})
    has_p_value = False
    default_threshold = 0.1
    effect_name = "total variation"

    def categorical(self, cmp: CategoricalComparison) -> TestOutcome:
        value = total_variation(*cmp.probabilities())
        return TestOutcome(statistic=value, p_value=None, effect=value)
