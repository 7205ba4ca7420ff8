"""Total variation distance: half the L1 distance between category frequencies.

It is the largest difference in probability that any set of categories has between
the two sides, the categorical counterpart of the KS D. The p-value is a permutation
p-value of the distance (the 99 most frequent categories and the rest merged), see
:mod:`~assay.drift._stattests._permutation`.
"""

from __future__ import annotations

import numpy as np

from assay.drift._comparison import CategoricalComparison
from assay.drift._registry import StatTest, TestOutcome, register_stat_test
from assay.drift._stattests._permutation import coarsen, permutation_p_value


def total_variation_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return 0.5 * np.sum(np.abs(p - q), axis=-1)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    return float(0.5 * np.sum(np.abs(p - q)))


@register_stat_test
class TotalVariation(StatTest):
    """Effect: the distance itself."""

    name = "tv"
    kinds = frozenset({"categorical"})
    has_p_value = True
    default_threshold = 0.1
    effect_name = "total variation"

    def categorical(self, cmp: CategoricalComparison) -> TestOutcome:
        value = total_variation(*cmp.probabilities())
        p = permutation_p_value(*coarsen(cmp.ref_counts, cmp.cur_counts), total_variation_rows, permutations=self.permutations, seed=self.seed)
        return TestOutcome(statistic=value, p_value=p, effect=value)
