"""Tail probabilities the default tests need, without importing ``scipy.stats``.

Importing ``scipy.stats`` costs about a second of start-up, and SciPy's exact
one-sided Smirnov sum (``scipy.special.smirnov``) loops over every term in double-double
arithmetic: 0.2-0.8 s per call at half a million rows a side. These functions compute
the same quantities with the same branch rules as SciPy 1.17 (``stats.kstwo.sf``,
``stats.chi2.sf``, ``stats.norm.sf`` / ``ppf``, ``stats.rankdata``); tests check them
against SciPy. Where SciPy would run Durbin's matrix algorithm or Pomeranz's recursion
(small or moderate n with a tiny statistic) we call SciPy itself.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

__all__ = ["chi2_sf", "kstwo_sf", "norm_ppf", "norm_sf", "rankdata", "smirnov_sf"]

_MIN_LOG = -708.3964185322641  # log of the smallest normal double, as in Cephes
_SMIRNOV_MAX_COMPUTE_N = 1_000_000  # above this Cephes uses a closed form; so do we
_PI2, _PI4, _PI6 = math.pi**2, math.pi**4, math.pi**6
_SQRT2PI = math.sqrt(2 * math.pi)


def norm_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z (``scipy.stats.norm.sf``)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def norm_ppf(q: float) -> float:
    """The q-quantile of the standard normal (``scipy.stats.norm.ppf``)."""
    return NormalDist().inv_cdf(q)


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank (``scipy.stats.rankdata``, method 'average')."""
    values = np.asarray(values)
    order = np.argsort(values, kind="mergesort")
    inverse = np.empty(order.size, dtype=np.intp)
    inverse[order] = np.arange(order.size)
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    dense = np.cumsum(first)[inverse]
    bounds = np.r_[np.flatnonzero(first), first.size]
    return 0.5 * (bounds[dense] + bounds[dense - 1] + 1)


# -- chi-squared ------------------------------------------------------------------------------
def chi2_sf(x: float, dof: float) -> float:
    """P(X > x) for X ~ chi-squared(dof): the regularized upper incomplete gamma Q(dof/2, x/2).

    Series below a + 1, Lentz's continued fraction above (Numerical Recipes 6.2); both
    reach double precision within a few hundred terms for the category counts drift sees.
    """
    if x <= 0:
        return 1.0
    return _gamma_q(0.5 * dof, 0.5 * x)


def _gamma_q(a: float, x: float) -> float:
    if x < a + 1.0:
        log_front = a * math.log(x) - x - math.lgamma(a + 1.0)
        term = total = 1.0
        ap = a
        for _ in range(100_000):
            ap += 1.0
            term *= x / ap
            total += term
            if term < total * 1e-17:
                break
        return max(0.0, 1.0 - math.exp(log_front) * total)
    log_front = a * math.log(x) - x - math.lgamma(a)
    if log_front < _MIN_LOG - 40:
        return 0.0
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 100_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return min(1.0, math.exp(log_front) * h)


# -- Kolmogorov-Smirnov -------------------------------------------------------------------------
def kstwo_sf(d: float, n: int) -> float:
    """P(D_n >= d) for the two-sided one-sample KS statistic (``scipy.stats.kstwo.sf(d, n)``).

    ``ks_2samp`` evaluates this at n = round(n1 n2 / (n1 + n2)) above 10,000 rows a side.
    The branches follow SciPy's ``_kolmogn`` (Simard & L'Ecuyer 2011).
    """
    n = int(n)
    if d <= 0.0:
        return 1.0
    if d >= 1.0:
        return 0.0
    t = n * d
    if t <= 0.5:
        return 1.0
    if n <= 140 or t <= 1.0:
        return _scipy_kstwo_sf(d, n)
    if t >= n - 1:
        return float(np.clip(2 * (1.0 - d) ** n, 0.0, 1.0))
    if d >= 0.5:
        return float(np.clip(2 * smirnov_sf(n, d), 0.0, 1.0))
    nxsquared = t * d
    if nxsquared >= 370.0:
        return 0.0
    if nxsquared >= 2.2:
        return float(np.clip(2 * smirnov_sf(n, d), 0.0, 1.0))
    if n <= 100_000 and n * d**1.5 <= 1.4:
        return _scipy_kstwo_sf(d, n)  # Durbin's matrix algorithm
    return float(np.clip(1.0 - _pelz_good_cdf(n, d), 0.0, 1.0))


def _scipy_kstwo_sf(d: float, n: int) -> float:
    from scipy import stats

    return float(np.clip(stats.kstwo.sf(d, n), 0.0, 1.0))


def _pelz_good_cdf(n: int, x: float) -> float:
    """Pelz & Good (1976) series for P(D_n <= x), term for term as SciPy's ``_kolmogn_PelzGood``."""
    z = math.sqrt(n) * x
    z2, z3, z4, z6 = z**2, z**3, z**4, z**6
    qlog = -_PI2 / 8 / z2
    if qlog < -708:
        return 0.0
    q = math.exp(qlog)
    k1a, k1b = -z2, _PI2 / 4
    k2a, k2b, k2c = 6 * z6 + 2 * z4, (2 * z4 - 5 * z2) * _PI2 / 4, _PI4 * (1 - 2 * z2) / 16
    k3d = _PI6 * (5 - 30 * z2) / 64
    k3c = _PI4 * (-60 * z2 + 212 * z4) / 16
    k3b = _PI2 * (135 * z4 - 96 * z6) / 4
    k3a = -30 * z6 - 90 * z**8
    k = np.zeros(4)
    maxk = int(np.ceil(16 * z / np.pi))
    for i in range(maxk, 0, -1):
        m = 2 * i - 1
        m2, m4, m6 = m**2, m**4, m**6
        k *= np.power(q, 8 * i)
        k += np.array([1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6])
    k *= q * _SQRT2PI
    k /= np.array([z, 6 * z4, 72 * z**7, 6480 * z**10])
    q = np.exp(-_PI2 / 2 / z2)
    ks = np.arange(maxk, 0, -1)
    ks2 = ks**2
    qpowers = q**ks2
    k[2] += np.sum(ks2 * qpowers) * _PI2 * _SQRT2PI / (-36 * z3)
    sqrt3z, kspi = math.sqrt(3) * z, np.pi * ks
    k[3] += np.sum((sqrt3z + kspi) * (sqrt3z - kspi) * ks2 * qpowers) * _PI2 * _SQRT2PI / (216 * z6)
    k /= np.power(n * 1.0, np.arange(4) / 2.0)
    return float(sum(k))


_SMALL = 10  # below this many, log k! comes from math.lgamma, not the Stirling series
_STIRLING_SMALL = np.array([0.0] + [math.lgamma(k + 1) - (k * math.log(k) - k + 0.5 * math.log(2 * math.pi * k)) for k in range(1, _SMALL)])


def _stirling_tail(k: np.ndarray) -> np.ndarray:
    """lgamma(k + 1) - (k log k - k + log(2 pi k) / 2) for integers k >= 1 (exact below 10, the series above)."""
    k = np.asarray(k, dtype=np.float64)
    inv = 1.0 / k
    inv2 = inv * inv
    out = inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 / 1680)))
    small = k < _SMALL
    if np.any(small):
        out[small] = _STIRLING_SMALL[k[small].astype(np.intp)]
    return out


def smirnov_sf(n: int, x: float) -> float:
    """P(D+_n >= x), the one-sided one-sample KS tail (``scipy.special.smirnov(n, x)``).

    The exact Birnbaum-Tingey sum x * sum_j C(n, j) (x + j/n)^(j-1) (1 - x - j/n)^(n-j),
    summed at once in log space. Each log term is written so that its large parts cancel
    analytically (Stirling for the binomial, log1p for the powers), which keeps it accurate
    to about 1e-12 where SciPy sums term by term in double-double arithmetic.
    """
    if n == 1:
        return 1.0 - x
    if x <= 0.0:
        return 1.0
    if x >= 1.0:
        return 0.0
    nx = n * x
    nxfl = math.floor(nx)
    alpha = nx - nxfl
    if nxfl == 0 or (nxfl == 1 and alpha == 0):
        return 1.0 - x * (1.0 + x) ** (n - 1)
    if -2 * n * x * x < _MIN_LOG:
        return 0.0
    if nxfl >= n - 1:
        return (1.0 - x) ** n
    if n > _SMIRNOV_MAX_COMPUTE_N:
        logp = -((6.0 * n * x + 1) ** 2) / 18.0 / n
        return math.exp(logp) if logp < -math.log(2) else 1.0 + math.expm1(logp)
    last = n - nxfl - 1  # the largest j with 1 - x - j/n > 0
    j = np.arange(1, last + 1, dtype=np.float64)
    rest = n - j
    # (n - j) log(1 - x - j/n) - (n - j) log(1 - j/n) = (n - j) log(1 - nx/(n - j)): log1p while
    # nx/(n - j) < 1/2, then the logarithm of 1 - nx/(n - j) written exactly; nx/(n - j) grows with j
    split = int(np.searchsorted(-rest, -2 * nx))  # first j with rest <= 2 nx
    tail = np.empty_like(j)
    tail[:split] = np.log1p(-nx / rest[:split])
    tail[split:] = np.log(((rest[split:] - nxfl) - alpha) / rest[split:])
    log_terms = j * np.log1p(nx / j)
    log_terms += rest * tail
    log_terms -= np.log(np.sqrt(j * rest) * (j + nx))
    log_terms += 1.5 * math.log(n) - 0.5 * math.log(2 * math.pi) + float(_stirling_tail(np.array([float(n)]))[0])
    log_terms -= _stirling_tail(j)
    log_terms -= _stirling_tail(rest)
    first = n * math.log1p(-x) - math.log(x)  # j = 0
    top = max(first, float(log_terms.max()) if log_terms.size else first)
    total = math.exp(first - top) + float(np.sum(np.exp(log_terms - top)))
    return float(np.clip(x * math.exp(top) * total, 0.0, 1.0))
