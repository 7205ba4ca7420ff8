"""Weighted ROC AUC and average precision for many weightings at once.

Bootstrap weights never change the order of the scores, so rows are sorted once, and per
resample only two cumulative sums are needed: of the negatives' weights and of the positives'
weights, each in score order. Ties are handled through precomputed counts ("how many positives /
negatives sort at or before the end of this row's tied group"), so a batch of b resamples costs
O(b·n) with no re-sorting and no per-group loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["class_labels", "score_column", "weighted_auc", "weighted_average_precision"]


def score_column(out: Any, c: int) -> np.ndarray:
    """``out.proba[:, c]`` as one array object per Outputs, so the sort below is cached across resamples."""
    return out._cache.setdefault(f"score:{c}", np.ascontiguousarray(out.proba[:, c]))


def class_labels(out: Any, c: int) -> np.ndarray:
    return out._cache.setdefault(f"is:{c}", (out.y == c).astype(np.int8))


@dataclass
class _Ranked:
    pos_cols: np.ndarray  # original row index of each positive, in score order
    neg_cols: np.ndarray  # original row index of each negative, in score order
    neg_before: np.ndarray  # per positive: negatives in groups strictly before its tied group
    neg_through: np.ndarray  # per positive: negatives up to the end of its tied group
    pos_through: np.ndarray  # per positive: positives up to the end of its tied group


_CACHE: dict[tuple[int, int, bool], tuple[np.ndarray, np.ndarray, _Ranked]] = {}


def _rank(y: np.ndarray, score: np.ndarray, descending: bool) -> _Ranked:
    key = (id(score), id(y), descending)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is score and hit[1] is y:
        return hit[2]
    order = np.argsort(-score if descending else score, kind="mergesort")
    s = score[order]
    pos = y[order] == 1
    new_group = np.r_[True, s[1:] != s[:-1]]
    group = np.cumsum(new_group) - 1
    n_groups = int(group[-1]) + 1 if len(group) else 0
    neg_in = np.bincount(group, weights=~pos, minlength=n_groups)
    pos_in = np.bincount(group, weights=pos, minlength=n_groups)
    neg_end = np.cumsum(neg_in).astype(np.int64)
    pos_end = np.cumsum(pos_in).astype(np.int64)
    g = group[pos]
    ranked = _Ranked(order[pos], order[~pos], neg_end[g] - neg_in[g].astype(np.int64), neg_end[g], pos_end[g])
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[key] = (score, y, ranked)  # both arrays are held so their ids stay unique
    return ranked


def _cumulative(Wc: np.ndarray) -> np.ndarray:
    """Cumulative sums along rows with a leading zero column: out[:, k] = weight of the first k columns."""
    out = np.zeros((Wc.shape[0], Wc.shape[1] + 1), dtype=Wc.dtype)  # integer counts: exact in float32 below 2**24
    np.cumsum(Wc, axis=1, out=out[:, 1:])
    return out


def weighted_auc(y: np.ndarray, score: np.ndarray, W: np.ndarray) -> np.ndarray:
    """P(score of a positive > score of a negative) + ½ P(tie), under each weighting row."""
    r = _rank(y, score, descending=False)
    cneg = _cumulative(W[:, r.neg_cols])
    wpos = W[:, r.pos_cols]
    below = 0.5 * (cneg[:, r.neg_before] + cneg[:, r.neg_through])  # ties count half
    den = wpos.sum(axis=1) * cneg[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        num = (wpos * below).sum(axis=1, dtype=np.float64)
        den = den.astype(np.float64)
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def weighted_average_precision(y: np.ndarray, score: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Average precision, Σ (R_k − R_{k−1}) P_k over descending score thresholds (as scikit-learn):
    each positive contributes its weight times the precision at the end of its tied group."""
    r = _rank(y, score, descending=True)
    wpos = W[:, r.pos_cols]
    cpos = _cumulative(wpos)
    cneg = _cumulative(W[:, r.neg_cols])
    tp = cpos[:, r.pos_through]
    total = cpos[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + cneg[:, r.neg_through])
        ap = (wpos * np.where(np.isfinite(precision), precision, 0.0)).sum(axis=1, dtype=np.float64) / total
        return np.where(total > 0, ap, np.nan)
