"""DeLong's test for two correlated ROC AUCs on the same rows (DeLong et al., 1988),
with the midrank algorithm of Sun & Xu (2014): O(n log n)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["DeLongResult", "delong"]


@dataclass
class DeLongResult:
    auc: np.ndarray  # (k,) AUC of each score
    cov: np.ndarray  # (k, k) covariance of the AUC estimates

    @property
    def delta(self) -> float:
        """AUC of score 0 minus AUC of score 1."""
        return float(self.auc[0] - self.auc[1])

    @property
    def delta_se(self) -> float:
        var = self.cov[0, 0] + self.cov[1, 1] - 2 * self.cov[0, 1]
        return float(np.sqrt(max(var, 0.0)))

    def p_value(self) -> float:
        """Two-sided p-value of AUC₀ = AUC₁."""
        se = self.delta_se
        if se == 0:
            return 1.0 if self.delta == 0 else 0.0
        return float(2 * stats.norm.sf(abs(self.delta) / se))


def delong(y: np.ndarray, *scores: np.ndarray) -> DeLongResult:
    """AUCs of ``scores`` for binary ``y`` (1 = positive) and their DeLong covariance."""
    y = np.asarray(y)
    pos = y == 1
    m, n = int(pos.sum()), int((~pos).sum())
    if m < 2 or n < 2:
        raise ValueError("DeLong needs at least two positives and two negatives")
    S = np.vstack([np.asarray(s, dtype=np.float64) for s in scores])
    X, Y = S[:, pos], S[:, ~pos]
    tx = stats.rankdata(X, axis=1)
    ty = stats.rankdata(Y, axis=1)
    tz = stats.rankdata(np.hstack([X, Y]), axis=1)
    auc = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2.0) / n
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return DeLongResult(auc=auc, cov=s10 / m + s01 / n)
