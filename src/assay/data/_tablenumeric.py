"""Streaming summaries of one numeric column of a table (see :mod:`assay.data._tablestats`).

Integer columns (Parquet int/uint types, CSV columns whose every value parses as an int64)
are summarised as integers: min, max and every whole-number quantile are exact ints (never
rounded through float64); the mean is the exact sum / count. NaN is left out (counted in
`nan`); infinities are kept: the mean is +inf or -inf when infinities of one sign are present
(nan with both), the std is inf when any value is infinite (the limit as that value grows),
and a quantile between a finite value and an infinite one is that infinity (so [1, 2, inf]
has median 2). Quantiles come from a hash-chosen sample of `_QUANTILE_SAMPLE` values (exact
below that).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

_QUANTILE_SAMPLE = 65_536
_QUANTILES = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}


class _NumericStats:
    """Streaming count / mean / std, min / max and sampled quantiles of one numeric column.

    Integer columns stay integers (int64, or uint64 for a uint64 column): min, max and
    whole-number quantiles are exact ints, and the mean is an exact sum / count.
    Float columns: mean and std by Chan's parallel update over the finite values, with
    infinities counted apart, so the answer does not depend on batching (see module doc).
    """

    def __init__(self, *, integer: bool) -> None:
        self.integer = integer
        self.count = 0
        self.nan = 0
        self.pos_inf = 0
        self.neg_inf = 0
        self.finite = 0
        self.total = 0  # exact sum while integer
        self.whole = True  # every value a finite whole number (so an int64 column holds them alike)
        self.mean = 0.0  # of the finite values
        self.m2 = 0.0
        self.min: int | float | None = None
        self.max: int | float | None = None
        self.sample: np.ndarray | None = None
        self.priority = np.zeros(0, dtype=np.uint64)

    def to_float(self) -> None:
        """A CSV column that looked integral met a non-integer: go on in float64."""
        if not self.integer:
            return
        self.integer = False
        if self.sample is not None:
            self.sample = self.sample.astype(np.float64)
        if self.min is not None:
            self.min, self.max = float(self.min), float(self.max)  # type: ignore[arg-type]

    def update(self, values: np.ndarray, prio: np.ndarray) -> None:
        """Add the non-null `values` (int64 / uint64 when integer, else float64) of rows of sample priority `prio`."""
        if self.integer:
            finite = values
            if values.size:
                self.total += _exact_sum(values)
        else:
            nan = np.isnan(values)
            self.nan += int(nan.sum())
            values, prio = values[~nan], prio[~nan]
            inf = np.isinf(values)
            if inf.any():
                self.pos_inf += int((values[inf] > 0).sum())
                self.neg_inf += int((values[inf] < 0).sum())
            finite = values[~inf]
            if self.whole and (inf.any() or bool(np.any(finite != np.trunc(finite)))):
                self.whole = False
        if not values.size:
            return
        self.count += values.size
        if finite.size:
            f = finite.astype(np.float64)
            nb = f.size
            with np.errstate(over="ignore", invalid="ignore"):
                mb = float(f.mean())
                m2b = float(((f - mb) ** 2).sum())
                total = self.finite + nb
                delta = mb - self.mean
                self.mean = self.mean + delta * nb / total if self.finite else mb
                self.m2 = self.m2 + m2b + delta * delta * self.finite * nb / total
            self.finite = total
        lo, hi = values.min().item(), values.max().item()
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)
        # Bottom-k by the rows' priority (a hash of their key or content, see _sample_priority):
        # a uniform sample that an unchanged row is in on both sides or on neither.
        if self.sample is None:
            self.sample = values
        else:
            self.sample = np.concatenate((self.sample, values.astype(self.sample.dtype, copy=False)))
        self.priority = np.concatenate((self.priority, prio))
        if self.sample.size > _QUANTILE_SAMPLE:
            keep = np.argpartition(self.priority, _QUANTILE_SAMPLE - 1)[:_QUANTILE_SAMPLE]
            self.sample, self.priority = self.sample[keep], self.priority[keep]

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"count": self.count, "nan": self.nan}
        if not self.count:
            return out | {"mean": None, "std": None, "min": None, "max": None} | dict.fromkeys(_QUANTILES)
        assert self.sample is not None
        if self.integer:
            mean: float = self.total / self.count  # int / int: correctly rounded, no overflow
        elif self.pos_inf and self.neg_inf:
            mean = math.nan
        elif self.pos_inf or self.neg_inf:
            mean = math.inf if self.pos_inf else -math.inf
        else:
            mean = self.mean
        std = None
        if self.count > 1:
            std = math.inf if self.pos_inf or self.neg_inf else math.sqrt(self.m2 / (self.count - 1))
        out |= {"mean": mean, "std": std, "min": self.min, "max": self.max}
        out |= dict(zip(_QUANTILES, _quantiles(np.sort(self.sample), list(_QUANTILES.values()))))
        out["quantiles_exact"] = self.count <= _QUANTILE_SAMPLE
        return out


def _exact_sum(values: np.ndarray) -> int:
    # Split each 64-bit integer into 32-bit halves: neither half-sum can overflow for a batch.
    if values.dtype == np.uint64:
        hi, lo = values >> np.uint64(32), values & np.uint64(0xFFFFFFFF)
    else:
        hi, lo = values >> np.int64(32), values & np.int64(0xFFFFFFFF)
    return (int(hi.sum()) << 32) + int(lo.sum())


def _quantiles(a: np.ndarray, qs: list[float]) -> list[int | float]:
    """Linear interpolation between closest ranks (NumPy's default), exact for integers and ±inf.

    `a` is sorted. A quantile that lands on a value is that value; between two values it
    is lo + (hi - lo) * g (an exact int for integers when whole), and its limit when one
    of them is infinite (so [1, 2, inf] has median 2 and p75 inf; -inf..inf stays nan).
    """
    integer = a.dtype.kind in "iu"
    out: list[int | float] = []
    for q in qs:
        h = (a.size - 1) * q
        i = math.floor(h)
        g = h - i
        lo = a[i].item()
        hi = a[i + 1].item() if g else lo
        if lo == hi:
            out.append(lo if integer else float(lo))
        elif integer:
            # g is a binary fraction, so this is exact (a float product was off by up to 2,048
            # between int64 values of opposite sign: their difference has more than 53 bits)
            exact = lo + (hi - lo) * Fraction(g)
            out.append(int(exact) if exact.denominator == 1 else float(exact))
        elif math.isinf(lo) or math.isinf(hi):
            out.append(math.nan if (lo, hi) == (-math.inf, math.inf) else (hi if math.isinf(hi) else lo))
        else:
            out.append(lo + (hi - lo) * g)
    return out
