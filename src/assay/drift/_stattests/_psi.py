"""Population stability index: sum of (cur - ref) * ln(cur / ref) over bins.

Numeric columns use 10 bins cut at reference deciles (the convention in credit
scoring, where 0.1 reads "moderate" and 0.25 "major" shift); categorical columns use
one bin per category. Empty bins are floored at 1e-4 so the log stays finite.

The p-value is a permutation p-value of the PSI on the same bins (categorical: the 99
most frequent categories and the rest merged), see
:mod:`~assay.drift._stattests._permutation`: at small samples PSI is large by chance
alone, and the threshold by itself raised false alarms.
"""

from __future__ import annotations

import numpy as np

from assay.drift._comparison import CategoricalComparison, NumericComparison
from assay.drift._registry import StatTest, TestOutcome, register_stat_test
from assay.drift._stattests._permutation import coarsen, permutation_p_value

FLOOR = 1e-4
BINS = 10


def psi_rows(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """PSI of each row of two (rows, bins) probability arrays."""
    ref = np.clip(ref, FLOOR, None)
    cur = np.clip(cur, FLOOR, None)
    return np.sum((cur - ref) * np.log(cur / ref), axis=-1)


def psi(ref: np.ndarray, cur: np.ndarray) -> float:
    return float(psi_rows(np.asarray(ref)[None, :], np.asarray(cur)[None, :])[0])


@register_stat_test
class PopulationStabilityIndex(StatTest):
    """Effect: the PSI itself."""

    name = "psi"
    kinds = frozenset({"numeric", "categorical"})
    has_p_value = True
    default_threshold = 0.1
    effect_name = "PSI"

    def numeric(self, cmp: NumericComparison) -> TestOutcome:
        value = psi(*cmp.quantile_bins(BINS))
        p = permutation_p_value(*cmp.quantile_bin_counts(BINS), psi_rows, permutations=self.permutations, seed=self.seed)
        return TestOutcome(statistic=value, p_value=p, effect=value)

    def categorical(self, cmp: CategoricalComparison) -> TestOutcome:
        value = psi(*cmp.probabilities())
        p = permutation_p_value(*coarsen(cmp.ref_counts, cmp.cur_counts), psi_rows, permutations=self.permutations, seed=self.seed)
        return TestOutcome(statistic=value, p_value=p, effect=value)
