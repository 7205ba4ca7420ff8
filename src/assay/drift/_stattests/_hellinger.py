"""Hellinger distance: sqrt(1 - sum(sqrt(p * q))), in [0, 1].

Numeric columns use 20 bins cut at reference quantiles; categorical columns one bin
per category. The p-value is a permutation p-value of the distance on the same bins
(categorical: the 99 most frequent categories and the rest merged), see
:mod:`~assay.drift._stattests._permutation`.
"""

from __future__ import annotations

import numpy as np

from assay.drift._comparison import CategoricalComparison, NumericComparison
from assay.drift._registry import StatTest, TestOutcome, register_stat_test
from assay.drift._stattests._permutation import coarsen, permutation_p_value

BINS = 20


def squared_hellinger_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """1 - sum(sqrt(p q)) for each row of two (rows, bins) probability arrays."""
    return np.maximum(1.0 - np.sum(np.sqrt(p * q), axis=-1), 0.0)


def hellinger(p: np.ndarray, q: np.ndarray) -> float:
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    return float(np.sqrt(squared_hellinger_rows((p / p.sum())[None, :], (q / q.sum())[None, :])[0]))


@register_stat_test
class Hellinger(StatTest):
    """Effect: the distance itself."""

    name = "hellinger"
    kinds = frozenset({"numeric", "categorical"})
    has_p_value = True
    default_threshold = 0.1
    effect_name = "Hellinger distance"

    def numeric(self, cmp: NumericComparison) -> TestOutcome:
        value = hellinger(*cmp.quantile_bins(BINS))
        p = permutation_p_value(*cmp.quantile_bin_counts(BINS), squared_hellinger_rows, permutations=self.permutations, seed=self.seed)
        return TestOutcome(statistic=value, p_value=p, effect=value)

    def categorical(self, cmp: CategoricalComparison) -> TestOutcome:
        value = hellinger(*cmp.probabilities())
        p = permutation_p_value(*coarsen(cmp.ref_counts, cmp.cur_counts), squared_hellinger_rows, permutations=self.permutations, seed=self.seed)
        return TestOutcome(statistic=value, p_value=p, effect=value)
