"""Energy distance: sqrt(2 * integral of (F_ref - F_cur)^2 dx), as ``scipy.stats.energy_distance``.

It has units of sqrt(length), so the effect divides by sqrt(reference std); a shift of
d standard deviations of a normal gives an effect of about d / 1.33.

The p-value is a permutation p-value of the CDF-gap integral recomputed on at most 100
cells cut at reference quantiles, as Wasserstein's (:func:`cell_gap_p_value`).
"""

from __future__ import annotations

import math

from assay.drift._comparison import NumericComparison
from assay.drift._registry import StatTest, TestOutcome, register_stat_test
from assay.drift._stattests._wasserstein import cdf_gap_integral, cell_gap_p_value


@register_stat_test
class EnergyDistance(StatTest):
    """Effect: energy distance / sqrt(reference std)."""

    name = "energy"
    kinds = frozenset({"numeric"})
    has_p_value = True
    default_threshold = 0.1
    effect_name = "energy / sqrt(std)"

    def numeric(self, cmp: NumericComparison) -> TestOutcome:
        e = math.sqrt(2.0 * cdf_gap_integral(cmp, 2))
        scale = math.sqrt(cmp.ref_std) if cmp.ref_std > 0 else 1.0
        p = cell_gap_p_value(cmp, 2, permutations=self.permutations, seed=self.seed)
        return TestOutcome(statistic=e, p_value=p, effect=e / scale)
