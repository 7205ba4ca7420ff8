"""An estimate with its uncertainty, and how a gate's threshold is judged against it.

Each gate is two one-sided questions: is there evidence the quantity is on the passing
side of its threshold (→ pass), or evidence it is on the failing side (→ fail)? Neither
is *inconclusive*. Both are judged at α = (1 − confidence) / 2, so with one gate the
decision reads straight off the reported two-sided interval.
"""

from __future__ import annotations

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

    @property
    def defined(self) -> bool:
        return bool(np.isfinite(self.low) and np.isfinite(self.high))

    def p_above(self, t: float) -> float:
        """One-sided p-value for the claim "the true value is above t"."""
        if not self.defined:
            return 1.0
        if self.replicates is not None:
            r = self.replicates
            return float((1 + np.count_nonzero(r <= t)) / (r.size + 1))
        if self.se == 0:
            return 0.0 if self.value > t else 1.0
        return float(stats.norm.cdf((t - self.value) / self.se))

    def p_below(self, t: float) -> float:
        """One-sided p-value for the claim "the true value is below t"."""
        if not self.defined:
            return 1.0
        if self.replicates is not None:
            r = self.replicates
            return float((1 + np.count_nonzero(r >= t)) / (r.size + 1))
        if self.se == 0:
            return 0.0 if self.value < t else 1.0
        return float(stats.norm.sf((t - self.value) / self.se))


def minimum_detectable_difference(se: float, confidence: float, power: float = POWER) -> float:
    """Smallest true distance from a threshold that a one-sided test at α = (1−confidence)/2
    resolves with probability ``power``: (z₁₋α + z_power) · se."""
    if not np.isfinite(se):
        return float("inf")
    a = (1 - confidence) / 2
    return float((stats.norm.ppf(1 - a) + stats.norm.ppf(power)) * se)
