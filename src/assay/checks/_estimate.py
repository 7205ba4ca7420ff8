"""An estimate with its uncertainty, and how a gate's threshold is judged against it.

Each gate is two one-sided questions: is there evidence the quantity is on the passing
side of its threshold (→ pass), or evidence it is on the failing side (→ fail)? Neither
is *inconclusive*. Both are judged at α = (1 − confidence) / 2, so with one gate the
decision reads straight off the reported two-sided interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["Estimate", "minimum_detectable_difference"]

#: power at which the minimum detectable difference is stated
POWER = 0.8


@dataclass
class Estimate:
    value: float
    se: float
    low: float
    high: float
    method: str
    replicates: np.ndarray | None = None  # bootstrap replicates, when bootstrapped
    null_se: Callable[[float], float] | None = None  # score tests: the standard error under "true value = t"
    centre: float | None = None  # the estimate the interval is built around, when not ``value``

    @classmethod
    def from_replicates(cls, value: float, replicates: np.ndarray, confidence: float, method: str) -> Estimate:
        r = replicates[np.isfinite(replicates)]
        if r.size < 10 or not np.isfinite(value):
            return cls(value, float("nan"), float("nan"), float("nan"), method, r)
        a = (1 - confidence) / 2
        low, high = np.quantile(r, [a, 1 - a])
        return cls(float(value), float(r.std(ddof=1)), float(low), float(high), method, r)

    @classmethod
    def normal(cls, value: float, se: float, confidence: float, method: str) -> Estimate:
        z = stats.norm.ppf(1 - (1 - confidence) / 2)
        return cls(float(value), float(se), float(value - z * se), float(value + z * se), method)

    @classmethod
    def wilson(cls, k: int, n: int, confidence: float) -> Estimate:
        """A proportion k/n with the Wilson score interval, which stays honest at small n and at 0 or 1
        (where a bootstrap interval collapses to a point)."""
        if n == 0:
            nan = float("nan")
            return cls(nan, nan, nan, nan, "Wilson score")
        z = stats.norm.ppf(1 - (1 - confidence) / 2)
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        # exact at the ends: at k = 0 (k = n) the bound is 0 (1), which rounding leaves a hair off (1.7e-18)
        low = 0.0 if k == 0 else max(float(centre - half), 0.0)
        high = 1.0 if k == n else min(float(centre + half), 1.0)
        return cls(p, float(np.sqrt(max(p * (1 - p), 1e-12) / n)), low, high,
                   "Wilson score interval", null_se=lambda t: float(np.sqrt(max(t * (1 - t), 1e-12) / n)))

    @classmethod
    def paired_proportions(cls, cand_only: int, base_only: int, n: int, confidence: float) -> Estimate:
        """Difference of two paired proportions (candidate − baseline) with the Agresti–Min (2005)
        interval: half a row added to each cell of the 2×2 table, then Wald. Unlike the bootstrap it
        does not collapse when few rows are discordant."""
        a, b, m = cand_only + 0.5, base_only + 0.5, n + 2.0
        d = (a - b) / m
        se = float(np.sqrt(max((a + b) - (a - b) ** 2 / m, 0.0)) / m)
        est = cls.normal(d, se, confidence, "paired proportions (Agresti–Min)")
        est.low, est.high = max(est.low, -1.0), min(est.high, 1.0)  # a Wald interval can overshoot at tiny n
        est.value = (cand_only - base_only) / n if n else float("nan")
        est.centre = d
        return est

    @property
    def defined(self) -> bool:
        return bool(np.isfinite(self.low) and np.isfinite(self.high))

    def _tail(self, k: int, normal_tail: Callable[[float], float], t: float) -> float:
        """Bootstrap p-value (k + 1) / (B + 1). When no resample reaches t, that is only a bound
        set by B; the tail beyond it is extrapolated with the normal approximation (bootstrap SE),
        so that many gates under Holm can still each be declared failed."""
        B = self.replicates.size  # type: ignore[union-attr]
        if k > 0 or not (self.se > 0):
            return float((1 + k) / (B + 1))
        return float(min(1.0 / (B + 1), normal_tail((t - self.value) / self.se)))

    def p_above(self, t: float) -> float:
        """One-sided p-value for the claim "the true value is above t"."""
        if not self.defined:
            return 1.0
        if self.replicates is not None:
            return self._tail(np.count_nonzero(self.replicates <= t), stats.norm.cdf, t)
        v = self.value if self.centre is None else self.centre
        se = self.null_se(t) if self.null_se is not None else self.se
        if se == 0:
            return 0.0 if v > t else 1.0
        return float(stats.norm.cdf((t - v) / se))

    def p_below(self, t: float) -> float:
        """One-sided p-value for the claim "the true value is below t"."""
        if not self.defined:
            return 1.0
        if self.replicates is not None:
            return self._tail(np.count_nonzero(self.replicates >= t), stats.norm.sf, t)
        v = self.value if self.centre is None else self.centre
        se = self.null_se(t) if self.null_se is not None else self.se
        if se == 0:
            return 0.0 if v < t else 1.0
        return float(stats.norm.sf((t - v) / se))


def minimum_detectable_difference(se: float, confidence: float, power: float = POWER) -> float:
    """Smallest true distance from a threshold that a one-sided test at α = (1−confidence)/2
    resolves with probability ``power``: (z₁₋α + z_power) · se."""
    if not np.isfinite(se):
        return float("inf")
    a = (1 - confidence) / 2
    return float((stats.norm.ppf(1 - a) + stats.norm.ppf(power)) * se)
