"""Pearson chi-squared test of homogeneity on the 2 x k table of category counts.

Categories seen fewer than 5 times on both sides together are pooled into one cell
first: the chi-squared approximation needs expected counts of a few units, and a
pooling rule that ignores which side a row came from keeps the test valid under
the null. The effect is the total variation distance on the unpooled table.
"""

from __future__ import annotations

import numpy as np

from assay.drift._comparison import CategoricalComparison
from assay.drift._distributions import chi2_sf
from assay.drift._registry import StatTest, TestOutcome, register_stat_test
from assay.drift._stattests._total_variation import total_variation

MIN_POOLED_COUNT = 5


def pooled_table(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    total = ref + cur
    rare = total < MIN_POOLED_COUNT
    table = np.vstack([ref[~rare], cur[~rare]])
    if rare.any():
        table = np.hstack([table, [[ref[rare].sum()], [cur[rare].sum()]]])
    return table[:, table.sum(axis=0) > 0]


def contingency(cmp: CategoricalComparison) -> tuple[float, np.ndarray | None, np.ndarray | None]:
    """(total variation effect, pooled 2 x k table, its expected counts under homogeneity).

    The table and expected counts are None when there is nothing to test (one category
    after pooling, or an empty side).
    """
    effect = total_variation(*cmp.probabilities())
    table = pooled_table(cmp.ref_counts.astype(np.float64), cmp.cur_counts.astype(np.float64))
    if table.shape[1] < 2 or cmp.n_ref == 0 or cmp.n_cur == 0:
        return effect, None, None
    return effect, table, np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()


@register_stat_test
class ChiSquared(StatTest):
    """Effect: total variation distance between category frequencies."""

    name = "chi2"
    kinds = frozenset({"categorical"})
    has_p_value = True
    default_threshold = 0.1
    effect_name = "total variation"

    def categorical(self, cmp: CategoricalComparison) -> TestOutcome:
        effect, table, expected = contingency(cmp)
        if table is None or expected is None:
            return TestOutcome(statistic=0.0, p_value=1.0, effect=effect)
        # scipy.stats.chi2_contingency(table, correction=False), without importing scipy.stats
        statistic = float(((table - expected) ** 2 / expected).sum())
        return TestOutcome(statistic=statistic, p_value=chi2_sf(statistic, table.shape[1] - 1), effect=effect)
