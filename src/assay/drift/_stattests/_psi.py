"""Population stability index: sum of (cur - ref) * ln(cur / ref) over bins.

Numeric columns use 10 bins cut at reference deciles (the convention in credit
scoring, where 0.1 reads "moderate" and 0.25 "major" shift); categorical columns use
one bin per category. Empty bins are floored at 1e-4 so the log stays finite.
"""

from __future__ import annotations

import numpy as np

from assay.drift._comparison import CategoricalComparison, NumericComparison
from assay.drift._registry import StatTest, TestOutcome, register_stat_test

FLOOR = 1e-4
BINS = 10


def psi(ref: np.ndarray, cur: np.ndarray) -> float:
    ref = np.clip(ref, FLOOR, None)
    cur = np.clip(cur, FLOOR, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


@register_stat_test
class PopulationStabilityIndex(StatTest):
    """Effect: the PSI itself."""

    name = "psi"
    kinds = frozenset({"numeric", "categorical"})
    has_p_value = False
    default_threshold = 0.1
    effect_name = "PSI"

    def numeric(self, cmp: NumericComparison) -> TestOutcome:
        value = psi(*cmp.quantile_bins(BINS))
        return TestOutcome(statistic=value, p_value=None, effect=value)

    def categorical(self, cmp: CategoricalComparison) -> TestOutcome:
        value = psi(*cmp.probabilities())
        return TestOutcome(statistic=value, p_value=None, effect=value)
