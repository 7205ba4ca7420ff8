"""The evidence behind one column's verdict: summaries, the comparison the tests read,
the missing-rate test, findings about categories, and the data the report charts draw.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from assay.drift._columns import CategoricalSide, NumericSide
from assay.drift._comparison import CategoricalComparison, NumericComparison
from assay.drift._distributions import norm_sf
from assay.drift._profile import CategoricalSketch, NumericSketch
from assay.drift._report import Finding

__all__ = ["categorical_chart", "categorical_comparison", "distinct_share", "is_identifier_like", "missing_rate_test", "nonfinite_rate_test", "numeric_chart", "numeric_comparison", "side_summary", "unseen_test"]

OTHER = "(other)"
# the new-category test draws its tail when one category carries more than this share of U's variance,
# unless more than _TAIL_CATEGORIES categories (not seen once) would be drawn one by one
LUMPY = 0.05
_TAIL_CATEGORIES = 200_000
# a categorical column whose reference has a distinct value in at least this share of its
# (at least IDENTIFIER_MIN_DISTINCT) valid rows is identifier-like: it has no distribution to judge
IDENTIFIER_SHARE = 0.9
IDENTIFIER_MIN_DISTINCT = 100


def side_summary(side: object) -> dict[str, object]:
    if isinstance(side, NumericSide):
        rows, missing, nonfinite, valid = side.rows, side.missing, side.posinf + side.neginf, side.values.size
        extra = {"mean": float(side.values.mean()) if valid else None, "std": float(side.values.std()) if valid else None}
    elif isinstance(side, NumericSketch):
        rows, missing, nonfinite, valid = side.rows, side.missing, side.posinf + side.neginf, side.finite
        extra = {"mean": side.total / valid if valid else None, "std": side.std if valid else None}
    elif isinstance(side, CategoricalSide):
        rows, missing, nonfinite, valid = side.rows, side.missing, 0, int(side.counts.sum())
        extra = {"distinct": int(side.categories.size)}
    else:
        assert isinstance(side, CategoricalSketch)
        rows, missing, nonfinite, valid = side.rows, side.missing, 0, sum(side.values.values()) + side.other
        extra = {"distinct": side.distinct, "distinct_is_lower_bound": bool(side.other)}
    return {"rows": int(rows), "missing": int(missing), "missing_rate": missing / rows if rows else 0.0, "nonfinite": int(nonfinite), "valid": int(valid), **extra}


def numeric_comparison(ref: object, cur: object) -> NumericComparison | None:
    if isinstance(ref, NumericSide) and isinstance(cur, NumericSide):
        if ref.values.size == 0 or cur.values.size == 0:
            return None
        return NumericComparison.from_values(ref.values, cur.values, presorted=True)  # sides are sorted
    assert isinstance(ref, NumericSketch) and isinstance(cur, NumericSketch)
    if ref.finite == 0 or cur.finite == 0 or ref.edges.size == 0:
        return None
    return NumericComparison.from_counts(ref.edges, ref.counts, cur.counts, low=min(ref.low, cur.low), high=max(ref.high, cur.high), ref_std=ref.std)


def _counts(side: object) -> tuple[dict[str, int], int]:
    if isinstance(side, CategoricalSide):
        return dict(zip(side.categories.tolist(), side.counts.tolist())), 0
    assert isinstance(side, CategoricalSketch)
    return side.values, side.other


def distinct_share(side: object, *, most: bool = False) -> tuple[int, float]:
    """(distinct values, their share of the valid rows) of a categorical side.

    A capped sketch keeps only its most frequent categories; the rows in ``other`` fall in
    categories no more frequent than the least kept one, which bounds how many there are from
    below; with ``most`` the bound from above (each row in ``other`` a category of its own).
    """
    counts, other = _counts(side)
    valid = sum(counts.values()) + other
    if not valid:
        return 0, 0.0
    if most:
        distinct = len(counts) + other
    else:
        distinct = len(counts) + (math.ceil(other / max(min(counts.values(), default=1), 1)) if other else 0)
    return distinct, distinct / valid


def is_identifier_like(side: object) -> bool:
    distinct, share = distinct_share(side)
    return distinct >= IDENTIFIER_MIN_DISTINCT and share >= IDENTIFIER_SHARE


def categorical_comparison(ref: object, cur: object, cap: int, findings: list[Finding], name: str) -> CategoricalComparison | None:
    ref_counts, ref_other = _counts(ref)
    cur_counts, cur_other = _counts(cur)
    if not (ref_counts or ref_other) or not (cur_counts or cur_other):
        return None
    unseen = {k: v for k, v in cur_counts.items() if k not in ref_counts}
    if unseen:
        cur_valid = sum(cur_counts.values()) + cur_other
        top = sorted(unseen.items(), key=lambda kv: -kv[1])[:5]
        share = sum(unseen.values()) / cur_valid
        # Good-Turing: the share of rows in categories a sample of this size has not seen yet is
        # about the share of reference rows in categories seen once; an identifier column expects ~100%
        ref_valid_all = sum(ref_counts.values()) + ref_other
        expected = sum(1 for v in ref_counts.values() if v == 1) / max(ref_valid_all, 1)
        caveat = " (the reference sketch was capped, so some may be rare reference values)" if ref_other else ""
        severity = "warning" if share > 2 * expected + 0.01 else "info"
        findings.append(Finding("unseen_categories", f"{len(unseen):,} categor{'y' if len(unseen) == 1 else 'ies'} of {name!r} never seen in the reference, "
                                f"{share:.2%} of current rows; about {expected:.2%} expected from the reference's singletons{caveat}", name, severity,
                                {"count": len(unseen), "share": share, "expected_share": expected, "examples": [k for k, _ in top]}))  # fmt: skip
    categories = sorted(set(ref_counts) | set(cur_counts), key=lambda k: (-(ref_counts.get(k, 0) + cur_counts.get(k, 0)), k))
    other_ref, other_cur = ref_other, cur_other
    if len(categories) > cap:
        findings.append(Finding("high_cardinality", f"column {name!r} has {len(categories):,} categories; the {len(categories) - cap:,} rarest are pooled as {OTHER}", name, "info",
                                {"distinct": len(categories), "kept": cap}))  # fmt: skip
        for k in categories[cap:]:
            other_ref += ref_counts.get(k, 0)
            other_cur += cur_counts.get(k, 0)
        categories = categories[:cap]
    ref_arr = np.array([ref_counts.get(k, 0) for k in categories], dtype=np.int64)
    cur_arr = np.array([cur_counts.get(k, 0) for k in categories], dtype=np.int64)
    if other_ref or other_cur:
        categories = [*categories, OTHER]
        ref_arr = np.append(ref_arr, other_ref)
        cur_arr = np.append(cur_arr, other_cur)
    return CategoricalComparison(categories, ref_arr, cur_arr)


def missing_rate_test(ref: dict, cur: dict, threshold: float) -> dict[str, object]:
    """Two-proportion z-test (pooled), the same as a 2 x 2 chi-squared without continuity correction."""
    return _rate_test(ref["rows"], ref["missing"], cur["rows"], cur["missing"], threshold)


def nonfinite_rate_test(ref: dict, cur: dict, threshold: float) -> dict[str, object]:
    """The same test on the share of rows holding an infinity: the distribution tests leave those
    out, as they do missing values, so a feature that turned infinite in a third of its rows (a
    division by zero upstream) passed as "ok" with an info note. No test (``p_value`` None) when
    neither side holds one, so columns without infinities keep the family they had."""
    return _rate_test(ref["rows"], ref.get("nonfinite", 0), cur["rows"], cur.get("nonfinite", 0), threshold)


def _rate_test(n1: int, x1: int, n2: int, x2: int, threshold: float) -> dict[str, object]:
    p1, p2 = x1 / n1, x2 / n2
    doc: dict[str, object] = {"reference": p1, "current": p2, "effect": abs(p2 - p1), "threshold": threshold, "p_value": None, "p_adjusted": None, "drifted": False}
    if x1 + x2 == 0 or x1 + x2 == n1 + n2:
        return doc
    pooled = (x1 + x2) / (n1 + n2)
    z = (p2 - p1) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    doc["p_value"] = float(2 * norm_sf(abs(float(z))))
    return doc


def unseen_test(ref: object, cur: object, threshold: float, *, seed: int = 0) -> dict[str, object]:
    """Whether more current rows fall in categories the reference never saw than chance allows.

    Chi-squared pools rare categories into one cell, so a column of rare values (user agents,
    postcodes) whose values switch to others as rare passes it. This test looks at ``U``, the
    current rows in categories absent from the reference, under the permutation null: given each
    category's pooled count ``c``, the reference is a random ``n`` of the ``N`` pooled rows, and a
    category is unseen when all ``c`` of its rows fall in the current side, with probability
    ``q(c) = C(m, c) / C(N, c)``. The mean and variance of ``U`` follow exactly from the pooled
    counts (categories with equal counts grouped; pairs through ``q(c + d)``); its upper tail is
    read from a gamma matched to them and to the skewness of the same sum with rows split
    independently (a normal tail alone alarmed twice as often as it should at 0.01), or, when one
    category carries more than ``LUMPY`` of the variance (a small reference, which may miss a
    mid-sized category by chance), from draws of the split itself, seeded with ``seed``. With a
    distinct value in every row, ``U`` is the whole current side whatever the split: no test.

    The effect is the unseen share beyond the Good-Turing expectation, the reference's share of
    rows in categories it saw once: the share of new rows a second sample of the same source
    would bring. Empty (no test) when either side's counts were capped (a sketch's ``other``),
    which hides the rare categories this test counts.
    """
    found = _split_counts(ref, cur)
    if found is None:
        return {}
    ref_counts, cur_counts, cur_new = found
    n, m = int(ref_counts.sum()), int(cur_counts.sum() + cur_new.sum())
    if not n or not m:
        return {}
    unseen = int(cur_new.sum())
    share, expected = unseen / m, int(np.count_nonzero(ref_counts == 1)) / n
    doc: dict[str, object] = {"share": share, "expected_share": expected, "effect": share - expected, "threshold": threshold,
                              "p_value": None, "p_adjusted": None, "drifted": False}  # fmt: skip
    pooled = np.concatenate([ref_counts + cur_counts, cur_new])
    pooled = pooled[pooled > 0]
    mean, var, skew, lumpy = _unseen_moments(pooled, n, m)
    sd = math.sqrt(var)
    if sd < 1e-3 + 1e-9 * mean:  # U is all but fixed by the pooled counts (common categories, or all distinct)
        if unseen - mean >= 0.5:  # and yet it is not: Cantelli's bound, P(U - mean >= t) <= var / (var + t^2)
            doc["p_value"] = var / (var + (unseen - mean) ** 2)
        return doc
    z = (unseen - mean - 0.5) / sd  # U is whole: continuity-corrected
    if z <= 0:
        doc["p_value"] = norm_sf(z)  # no more unseen than expected: far from alpha, the tail's shape does not matter
    elif lumpy > LUMPY and (drawn := _unseen_tail(pooled, n, unseen, seed)) is not None:
        doc["p_value"] = drawn
    elif skew <= 1e-3:
        doc["p_value"] = norm_sf(z)
    else:
        from scipy.special import gammaincc

        shape = 4.0 / (skew * skew)
        at = shape + z * math.sqrt(shape)
        doc["p_value"] = 1.0 if at <= 0 else float(gammaincc(shape, at))
    return doc


def _split_counts(ref: object, cur: object) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(the reference's count per category, the current's count of each of those, the current's
    counts of categories the reference lacks); None when a side's counts were capped."""
    if isinstance(ref, CategoricalSide) and isinstance(cur, CategoricalSide):  # arrays: two passes, no dict of counts
        position = dict(zip(ref.categories.tolist(), range(ref.categories.size)))
        at = np.fromiter((position.get(k, -1) for k in cur.categories.tolist()), dtype=np.int64, count=cur.categories.size)
        known = at >= 0
        cur_in_ref = np.zeros(ref.counts.size, dtype=np.int64)
        cur_in_ref[at[known]] = cur.counts[known]
        return ref.counts.astype(np.int64), cur_in_ref, cur.counts[~known].astype(np.int64)
    ref_counts, ref_other = _counts(ref)
    cur_counts, cur_other = _counts(cur)
    if ref_other or cur_other:
        return None
    return (np.fromiter(ref_counts.values(), dtype=np.int64, count=len(ref_counts)),
            np.fromiter((cur_counts.get(k, 0) for k in ref_counts), dtype=np.int64, count=len(ref_counts)),
            np.fromiter((v for k, v in cur_counts.items() if k not in ref_counts), dtype=np.int64))  # fmt: skip


class _Moments(NamedTuple):
    mean: float
    var: float
    skew: float  # of the rows split independently (with probability m / N each)
    lumpy: float  # the largest share of the variance that one category carries


# a table of log q(c) up to this c (32 MB); past it, from log-gamma (digits enough there: see _log_q)
_TABLE = 1 << 22


def _log_q(points: np.ndarray, n: int, m: int, top: int) -> np.ndarray:
    """log q(c) = log C(m, c) / C(N, c), the chance that all ``c`` rows of a category fall in the current
    side, at ``points`` (-inf past m). Up to ``_TABLE`` (and ``top``) a running sum of log1p(-n / (N - i)),
    which keeps the digits that q(c + d) / (q(c) q(d)) - 1 needs for the small counts of rare categories;
    past it from log-gamma, whose absolute error (~1e-7 there) matters only for such small differences."""
    from scipy.special import gammaln

    total = n + m
    edge = int(min(top, _TABLE, m))
    table = np.concatenate(([0.0], np.cumsum(np.log1p(-n / (total - np.arange(edge, dtype=np.float64))))))
    out = np.full(points.shape, -np.inf)
    small = points <= edge
    out[small] = table[points[small]]
    big = (points > edge) & (points <= m)
    if big.any():
        c = points[big].astype(np.float64)
        out[big] = gammaln(m + 1.0) - gammaln(m - c + 1.0) - gammaln(total + 1.0) + gammaln(total - c + 1.0)
    return out


def _unseen_moments(pooled: np.ndarray, n: int, m: int) -> _Moments:
    """The moments of the current rows in categories the reference lacks, for pooled category counts ``pooled``
    split at random into ``n`` reference and ``m`` current rows."""
    total = n + m
    values, groups = np.unique(pooled, return_counts=True)
    # q(c) is 0 past m, and below e^-700 (past c ~ 700 / log(N / m)) a category can be taken as always seen
    reach = m if n == 0 else min(m, int(700.0 / -math.log(m / total)) + 1)
    keep = values <= reach
    values, groups = values[keep], groups[keep].astype(np.float64)
    if not values.size:
        return _Moments(0.0, 0.0, 0.0, 0.0)
    top = int(min(2 * int(values[-1]), m))
    lq = _log_q(values, n, m, top)
    q = np.exp(lq)
    c = values.astype(np.float64)
    mean = float(np.sum(groups * c * q))
    own_var = c * c * q * (1.0 - q)  # one category's
    var = float(np.sum(groups * own_var))
    # pairs of categories: cov = q(c + d) - q(c) q(d), written q(c) q(d) expm1(log q(c + d) - log q(c) - log q(d))
    # so that it keeps its digits when small; a pair's own group counts each category with every other
    for start in range(0, values.size, 512):
        rows = slice(start, start + 512)
        joint = _log_q(values[rows, None] + values[None, :], n, m, top)
        ratio = np.where(np.isfinite(joint), np.expm1(joint - lq[rows, None] - lq[None, :]), -1.0)
        pairs = groups[rows, None] * groups[None, :]
        own = np.arange(start, start + pairs.shape[0])
        pairs[own - start, own] = groups[own] * (groups[own] - 1.0)
        var += float(np.sum(pairs * (c[rows, None] * c[None, :]) * np.exp(lq[rows, None] + lq[None, :]) * ratio))
    var = max(var, 0.0)
    p = np.exp(c * math.log(m / total))
    independent = np.sum(groups * c * c * p * (1.0 - p))
    third = np.sum(groups * c**3 * p * (1.0 - p) * (1.0 - 2.0 * p))
    skew = float(third / independent**1.5) if independent > 1e-9 else 0.0
    lumpy = float(own_var.max() / var) if var > 0 else 0.0
    return _Moments(mean, var, skew, lumpy)


def _unseen_tail(pooled: np.ndarray, n: int, unseen: int, seed: int) -> float | None:
    """P(U >= unseen) by drawing the reference's split of the pooled counts (multivariate
    hypergeometric, exact per draw): for a U that a few categories of some size carry, whose tail
    no moment-matched curve follows (a gamma read it 5x too small). Categories seen once in all
    are drawn as one group (those of its rows not in the reference are unseen), and those that
    could never all fall on the current side as another. (1 + draws at least as large) / (1 +
    draws); None when more than ``_TAIL_CATEGORIES`` categories remain to draw one by one."""
    m = int(pooled.sum()) - n
    at = _log_q(pooled, n, m, int(min(2 * int(pooled.max()), m)))
    may = at > math.log(1e-12)
    single = may & (pooled == 1)
    each = may & ~single
    if int(each.sum()) > _TAIL_CATEGORIES:
        return None
    singles = int(single.sum())
    colors = np.concatenate([pooled[each], [singles, int(pooled[~may].sum())]])
    weights = pooled[each].astype(np.float64)
    rng = np.random.default_rng(seed)
    draws = max(2_000, min(20_000, 20_000_000 // colors.size))
    chunk = max(1, min(1_000, 4_000_000 // colors.size))  # (draws x categories at a time: at most 32 MB)
    hits = 0
    for done in range(0, draws, chunk):
        in_ref = rng.multivariate_hypergeometric(colors, n, size=min(chunk, draws - done))
        drawn = (in_ref[:, :-2] == 0) @ weights + (singles - in_ref[:, -2])
        hits += int(np.count_nonzero(drawn >= unseen))
    return (1 + hits) / (1 + draws)


def numeric_chart(cmp: NumericComparison, bins: int = 40) -> dict[str, object]:
    """Both distributions on one equal-width axis between the pooled 0.5% and 99.5% quantiles."""
    lo = min(cmp.quantile("reference", 0.005), cmp.quantile("current", 0.005))
    hi = max(cmp.quantile("reference", 0.995), cmp.quantile("current", 0.995))
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    ref_cdf, cur_cdf = cmp.cdf_at(edges)
    below = cmp.cdf_at(np.array([np.nextafter(lo, -np.inf)]))  # the first bin includes its lower edge
    ref_cdf[0], cur_cdf[0] = below[0][0], below[1][0]
    return {"type": "numeric", "edges": edges.tolist(), "reference": np.diff(ref_cdf).clip(0).tolist(), "current": np.diff(cur_cdf).clip(0).tolist()}


def categorical_chart(cmp: CategoricalComparison, top: int = 20) -> dict[str, object]:
    ref, cur = cmp.probabilities()
    order = np.argsort(-(ref + cur), kind="stable")[:top]
    return {"type": "categorical", "categories": [cmp.categories[i] for i in order], "reference": ref[order].tolist(), "current": cur[order].tolist()}
