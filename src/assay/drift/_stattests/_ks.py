"""Two-sample Kolmogorov–Smirnov: the largest gap between the two CDFs.

Exact mode reproduces ``scipy.stats.ks_2samp``: its exact p-value up to 10,000 rows a
side, above that its ``kstwo.sf(D, round(n m / (n + m)))``, which
:func:`~assay.drift._distributions.kstwo_sf` computes without importing ``scipy.stats``.
Binned mode reads the CDFs at the reference-quantile edges, so D is a lower bound within
one bin's mass of the exact D.
"""

from __future__ import annotations

import numpy as np

from assay.drift._comparison import NumericComparison
from assay.drift._distributions import kstwo_sf
from assay.drift._registry import StatTest, TestOutcome, register_stat_test

# SciPy's own switch point from the exact to the asymptotic distribution
_EXACT_MAX_N = 10_000


@register_stat_test
class KolmogorovSmirnov(StatTest):
    """Effect: D itself, the largest difference in P(X <= x) over all x."""

    name = "ks"
    kinds = frozenset({"numeric"})
    has_p_value = True
    default_threshold = 0.1
    effect_name = "KS D"

    def numeric(self, cmp: NumericComparison) -> TestOutcome:
        d = cmp.ks_statistic()
        small = max(cmp.n_ref, cmp.n_cur) <= _EXACT_MAX_N
        if cmp.exact and cmp.ref_values is not None and small:
            from scipy import stats

            p = float(stats.ks_2samp(cmp.ref_values, cmp.cur_values).pvalue)
        elif cmp.ref_values is None and small and cmp.grid.size:
            p = _exact_from_cdfs(cmp)
        else:
            m, n = sorted([float(cmp.n_ref), float(cmp.n_cur)], reverse=True)
            en = m * n / (m + n)
            p = kstwo_sf(d, int(np.round(en)))
        return TestOutcome(statistic=d, p_value=p, effect=d)


def _exact_from_cdfs(cmp: NumericComparison) -> float:
    """The exact p-value of binned D, as exact mode's: up to 10,000 rows a side ``ks_2samp``'s exact
    distribution depends on D, n and m alone, so two samples of those sizes with that D, all of
    their rows at two values, give it. The asymptotic ``kstwo`` at n m / (n + m) rows is far off
    there: 1 row against 1 read D = 1 as p = 0 (exactly: 1), 5 against 5 as 0 (0.0079)."""
    from scipy import stats

    k = int(np.argmax(np.abs(cmp.ref_cdf - cmp.cur_cdf)))
    below_ref, below_cur = int(round(cmp.ref_cdf[k] * cmp.n_ref)), int(round(cmp.cur_cdf[k] * cmp.n_cur))
    ref = np.repeat([0.0, 1.0], [below_ref, cmp.n_ref - below_ref])
    cur = np.repeat([0.0, 1.0], [below_cur, cmp.n_cur - below_cur])
    return float(stats.ks_2samp(ref, cur).pvalue)
