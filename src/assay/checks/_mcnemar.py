"""McNemar's exact test on discordant pairs (an exact binomial sign test)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["McNemarResult", "mcnemar"]


@dataclass
class McNemarResult:
    candidate_only: int  # rows the candidate gets right and the baseline wrong
    baseline_only: int  # rows the baseline gets right and the candidate wrong
    p_value: float  # two-sided exact
    p_worse: float  # one-sided exact: evidence that the candidate is less accurate

    def to_dict(self) -> dict[str, float | int]:
        return {"candidate_only": self.candidate_only, "baseline_only": self.baseline_only,
                "p_value": self.p_value, "p_worse": self.p_worse}


def mcnemar(candidate_correct: np.ndarray, baseline_correct: np.ndarray) -> McNemarResult:
    """Under H0 each discordant row favours either model with probability ½."""
    c = np.asarray(candidate_correct, dtype=bool)
    b = np.asarray(baseline_correct, dtype=bool)
    n01 = int(np.count_nonzero(c & ~b))
    n10 = int(np.count_nonzero(~c & b))
    k = n01 + n10
    if k == 0:
        return McNemarResult(n01, n10, 1.0, 1.0)
    two = float(min(1.0, 2 * min(stats.binom.cdf(n01, k, 0.5), stats.binom.sf(n01 - 1, k, 0.5))))
    worse = float(stats.binom.cdf(n01, k, 0.5))  # few candidate-only wins → candidate worse
    return McNemarResult(n01, n10, two, worse)
