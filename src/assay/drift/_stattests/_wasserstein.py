"""Wasserstein-1 (earth mover's) distance, normalized by the reference standard deviation.

W1 = integral of |F_ref - F_cur| dx, the same formula as ``scipy.stats.wasserstein_distance``.
Divided by the reference std it reads as "how many standard deviations the mass moved".

The p-value is a permutation p-value of W1 recomputed on at most 100 cells cut at
reference quantiles (binned mode: on every so many of the sketch's edges), by the
trapezoid rule, see :mod:`~assay.drift._stattests._permutation`; the effect stays the
exact W1 (exact mode). Resampling cells rather than rows keeps it fast at any size.
"""

from __future__ import annotations

import numpy as np

from assay.drift._comparison import NumericComparison
from assay.drift._registry import StatTest, TestOutcome, register_stat_test
from assay.drift._stattests._permutation import MAX_CELLS, permutation_p_value


def cdf_gap_integral(cmp: NumericComparison, power: int) -> float:
    """Integral of |F_ref - F_cur|**power over the grid.

    Exact mode: the CDFs are steps between grid points, so the left value is exact.
    Binned mode: both CDFs rise through a bin, so the gap is taken as the mean of its
    two ends (trapezoid rule), which halves the error of the left-point sum.
    """
    if cmp.grid.size < 2:
        return 0.0
    widths = np.diff(cmp.grid)
    gaps = np.abs(cmp.ref_cdf - cmp.cur_cdf) ** power
    ends = gaps[:-1] if cmp.exact else (gaps[:-1] + gaps[1:]) / 2
    return float(np.sum(ends * widths))


def cell_gap_p_value(cmp: NumericComparison, power: int, *, permutations: int, seed: int) -> float:
    """Permutation p-value of the integral of |F_ref - F_cur|**power over :meth:`NumericComparison.cells`."""
    points, ref_counts, cur_counts = cmp.cells(MAX_CELLS)
    widths = np.diff(points)

    def integral(ref_p: np.ndarray, cur_p: np.ndarray) -> np.ndarray:
        gaps = np.abs(np.cumsum(ref_p, axis=-1) - np.cumsum(cur_p, axis=-1)) ** power
        return np.sum((gaps[:, :-1] + gaps[:, 1:]) / 2 * widths, axis=-1)

    if widths.size == 0:
        return 1.0
    return permutation_p_value(ref_counts, cur_counts, integral, permutations=permutations, seed=seed)


@register_stat_test
class Wasserstein(StatTest):
    """Effect: W1 / reference std (0.1 = a tenth of a standard deviation)."""

    name = "wasserstein"
    kinds = frozenset({"numeric"})
    has_p_value = True
    default_threshold = 0.1
    effect_name = "W1 / std"

    def numeric(self, cmp: NumericComparison) -> TestOutcome:
        w = cdf_gap_integral(cmp, 1)
        scale = cmp.ref_std if cmp.ref_std > 0 else 1.0
        p = cell_gap_p_value(cmp, 1, permutations=self.permutations, seed=self.seed)
        return TestOutcome(statistic=w, p_value=p, effect=w / scale)
