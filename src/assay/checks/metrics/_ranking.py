"""Weighted ROC AUC and average precision for many weightings at once.

Bootstrap weights never change the order of the scores, so rows are sorted once and each
resample is a weighted cumulative sum, read off at the ends of tied-score groups: O(b·n) per
batch, no re-sorting. (Cumulative sums along contiguous rows, then a column gather, are much
faster than ``reduceat`` over groups when most scores are distinct.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["weighted_auc", "weighted_average_precision"]

_ORDER_CACHE: dict[tuple[int, int, bool], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}


def _sorted(y: np.ndarray, score: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, index of the last row of each tied group, positive flags in order), cached per score array."""
    key = (id(score), len(score), descending)
    hit = _ORDER_CACHE.get(key)
    if hit is not None and hit[0] is score:
        return hit[1], hit[2], hit[3]
    order = np.argsort(-score if descending else score, kind="mergesort")
    s = score[order]
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    pos = (y[order] == 1).astype(np.float64)
    if len(_ORDER_CACHE) > 64:
        _ORDER_CACHE.clear()
    _ORDER_CACHE[key] = (score, order, ends, pos)  # the score array is held so its id stays unique
    return order, ends, pos


def _cumulative(W: np.ndarray, order: np.ndarray, ends: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    Ws = W[:, order]
    cp = np.cumsum(Ws * pos, axis=1)[:, ends]
    cn = np.cumsum(Ws, axis=1)[:, ends] - cp
    return cp, cn


def weighted_auc(y: np.ndarray, score: np.ndarray, W: np.ndarray) -> np.ndarray:
    """P(score of a positive > score of a negative) + ½ P(tie), under each weighting row."""
    order, ends, pos = _sorted(y, score, descending=False)
    if len(ends) == len(order):  # no ties: one cumulative sum of negative weight, read at the positives
        Ws = W[:, order]
        at = np.flatnonzero(pos)
        below = np.cumsum(Ws * (1.0 - pos), axis=1)[:, at]
        wpos = Ws[:, at]
        den = wpos.sum(axis=1) * (Ws.sum(axis=1) - wpos.sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, (wpos * below).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)
    cp, cn = _cumulative(W, order, ends, pos)
    wp = np.diff(cp, axis=1, prepend=0.0)  # positive weight in each tied group
    wn = np.diff(cn, axis=1, prepend=0.0)
    below = cn - wn  # negative weight strictly below each group
    num = (wp * (below + 0.5 * wn)).sum(axis=1)
    den = cp[:, -1] * cn[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def weighted_average_precision(y: np.ndarray, score: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Average precision, Σ (R_k − R_{k−1}) P_k over descending score thresholds (as scikit-learn)."""
    order, ends, pos = _sorted(y, score, descending=True)
    if len(ends) == len(order):  # no ties: AP = Σ over positives of w · precision at that row / P
        Ws = W[:, order]
        at = np.flatnonzero(pos)
        cw = np.cumsum(Ws, axis=1)[:, at]
        wpos = Ws[:, at]
        cp = np.cumsum(wpos, axis=1)  # positives above and at each positive row
        total = cp[:, -1] if len(at) else np.zeros(len(W))
        with np.errstate(invalid="ignore", divide="ignore"):
            ap = (wpos * np.where(cw > 0, cp / np.where(cw > 0, cw, 1.0), 0.0)).sum(axis=1) / total
            return np.where(total > 0, ap, np.nan)
    tp, fp = _cumulative(W, order, ends, pos)
    total = tp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 1.0)
        d_recall = np.diff(tp, axis=1, prepend=0.0) / total
        return np.where(total[:, 0] > 0, (d_recall * precision).sum(axis=1), np.nan)
