"""Exact binomial inference for rates (flip rates, violation rates, accuracies on a subset)."""

from __future__ import annotations

from scipy import stats

__all__ = ["clopper_pearson", "rate_p_values"]


def clopper_pearson(k: int, n: int, confidence: float) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    a = (1 - confidence) / 2
    low = 0.0 if k == 0 else float(stats.beta.ppf(a, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - a, k + 1, n - k))
    return low, high


def rate_p_values(k: int, n: int, limit: float, *, at_most: bool) -> tuple[float, float]:
    """(p for "rate is on the passing side of limit", p for "rate is on the failing side")."""
    if n == 0:
        return 1.0, 1.0
    below = float(stats.binom.cdf(k, n, limit))  # small → true rate < limit
    above = float(stats.binom.sf(k - 1, n, limit))  # small → true rate > limit
    return (below, above) if at_most else (above, below)
