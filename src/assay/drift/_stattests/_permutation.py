"""Permutation p-values for the distance tests, computed on binned counts.

Under "no drift" the reference and current rows are exchangeable, so given the pooled
count of every cell the current side's counts follow a multivariate hypergeometric
law: drawing from it is an exact permutation of the row labels, at the cost of one
draw per cell instead of one per row (a million rows cost what a hundred do).

The p-value is (1 + #{T* >= T}) / (1 + B). A resampled p-value cannot fall below
1 / (B + 1), which a correction across many columns would turn into a floor above
alpha; so when fewer than ``TAIL_HITS`` draws reach T, the tail is read from a gamma
law with the null draws' mean and variance (the large-sample form of these
statistics is a weighted sum of chi-squares, which a moment-matched gamma follows;
Satterthwaite 1946), and the smaller of the two is kept.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from assay.drift._distributions import chi2_sf

__all__ = ["MAX_CELLS", "PERMUTATIONS", "coarsen", "permutation_p_value"]

PERMUTATIONS = 1000
MAX_CELLS = 100  # draws cost B x cells; more cells than this are merged first
TAIL_HITS = 10

Statistic = Callable[[np.ndarray, np.ndarray], np.ndarray]


def coarsen(ref: np.ndarray, cur: np.ndarray, max_cells: int = MAX_CELLS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_cells`` cells for unordered categories: the most frequent (pooled) kept, the rest merged.

    The choice looks only at pooled counts, never at which side a row came from, so the
    merged table still has exchangeable rows under the null (the same argument as the
    chi-squared test's pooling of rare categories).
    """
    if ref.size <= max_cells:
        return ref, cur
    order = np.argsort(-(ref + cur), kind="stable")
    keep, rest = order[: max_cells - 1], order[max_cells - 1 :]
    return np.append(ref[keep], ref[rest].sum()), np.append(cur[keep], cur[rest].sum())


def permutation_p_value(ref_counts: np.ndarray, cur_counts: np.ndarray, statistic: Statistic, *, permutations: int = PERMUTATIONS, seed: int = 0) -> float:
    """P(T* >= T) with T = ``statistic`` of the observed counts and T* of label-permuted ones.

    ``statistic(ref_p, cur_p)`` takes two (rows, cells) arrays of probabilities (each row
    sums to 1) and returns one value per row; larger means more different.
    """
    ref = np.rint(np.asarray(ref_counts, dtype=np.float64)).astype(np.int64)
    cur = np.rint(np.asarray(cur_counts, dtype=np.float64)).astype(np.int64)
    n_ref, n_cur = int(ref.sum()), int(cur.sum())
    pooled = ref + cur
    if n_ref == 0 or n_cur == 0 or np.count_nonzero(pooled) < 2:
        return 1.0
    observed = float(statistic(ref[None, :] / n_ref, cur[None, :] / n_cur)[0])
    rng = np.random.default_rng(seed)
    cur_null = rng.multivariate_hypergeometric(pooled, n_cur, size=permutations)
    null = statistic((pooled - cur_null) / n_ref, cur_null / n_cur)
    hits = int(np.count_nonzero(null >= observed - 1e-12 * max(abs(observed), 1.0)))  # ties count as reached
    p = (1 + hits) / (1 + permutations)
    if hits < TAIL_HITS:
        mean, var = float(null.mean()), float(null.var())
        if mean > 0 and var > 0:
            shape, scale = mean * mean / var, var / mean  # gamma(shape, scale) = scale / 2 * chi-squared(2 shape)
            p = min(p, chi2_sf(2.0 * observed / scale, 2.0 * shape))
    return float(p)
