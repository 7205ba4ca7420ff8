"""Jensen–Shannon distance (base 2, in [0, 1]), as ``scipy.spatial.distance.jensenshannon``.

Numeric columns use 20 bins cut at reference quantiles; categorical columns one bin
per category.
"""

from __future__ import annotations

import numpy as np

from assay.drift._comparison import CategoricalComparison, NumericComparison
from assay.drift._registry import StatTest, TestOutcome, register_stat_test

BINS = 20


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return float(np.sqrt(max((kl(p) + kl(q)) / 2, 0.0)))


@register_stat_test
class JensenShannon(StatTest):
    """Effect: the distance itself."""

    name = "jensenshannon"
    kinds = frozenset({"numeric", "categorical"})
    has_p_value = False
    default_threshold = 0.1
    effect_name = "JS distance"

    def numeric(self, cmp: NumericComparison) -> TestOutcome:
        value = js_distance(*cmp.quantile_bins(BINS))
        return TestOutcome(statistic=value, p_value=None, effect=value)

    def categorical(self, cmp: CategoricalComparison) -> TestOutcome:
        value = js_distance(*cmp.probabilities())
        return TestOutcome(statistic=value, p_value=None, effect=value)
