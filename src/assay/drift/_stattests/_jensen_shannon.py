"""Jensen–Shannon distance (base 2, in [0, 1]), as ``scipy.spatial.distance.jensenshannon``.

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


def js_divergence_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """JS divergence (base 2) of each row of two (rows, bins) probability arrays; its square root is the distance."""
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0) / np.where(m > 0, m, 1.0)), 0.0)
        kl_q = np.where(q > 0, q * np.log2(np.where(q > 0, q, 1.0) / np.where(m > 0, m, 1.0)), 0.0)
    return np.maximum((kl_p.sum(axis=-1) + kl_q.sum(axis=-1)) / 2, 0.0)


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    return float(np.sqrt(js_divergence_rows((p / p.sum())[None, :], (q / q.sum())[None, :])[0]))


@register_stat_test
class JensenShannon(StatTest):
    """Effect: the distance itself."""

    name = "jensenshannon"
    kinds = frozenset({"numeric", "categorical"})
    has_p_value = True
    default_threshold = 0.1
    effect_name = "JS distance"

    # the divergence is resampled: the same order as the distance, and its null law is near a gamma's
    def numeric(self, cmp: NumericComparison) -> TestOutcome:
        value = js_distance(*cmp.quantile_bins(BINS))
        p = permutation_p_value(*cmp.quantile_bin_counts(BINS), js_divergence_rows, permutations=self.permutations, seed=self.seed)
        return TestOutcome(statistic=value, p_value=p, effect=value)

    def categorical(self, cmp: CategoricalComparison) -> TestOutcome:
        value = js_distance(*cmp.probabilities())
        p = permutation_p_value(*coarsen(cmp.ref_counts, cmp.cur_counts), js_divergence_rows, permutations=self.permutations, seed=self.seed)
        return TestOutcome(statistic=value, p_value=p, effect=value)
