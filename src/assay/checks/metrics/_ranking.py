"""Weighted ROC AUC and average precision for many weightings at once.

Bootstrap weights never change the order of the scores, so rows are sorted once and each
resample is a weighted cumulative sum over tied-score groups: O(b·n) per batch, no re-sorting.
"""

from __future__ import annotations

import numpy as np

__all__ = ["weighted_auc", "weighted_average_precision"]


def _groups(score: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-score if descending else score, kind="mergesort")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    return order, starts


def weighted_auc(y: np.ndarray, score: np.ndarray, W: np.ndarray) -> np.ndarray:
    """P(score of a positive > score of a negative) + ½ P(tie), under each weighting row."""
    order, starts = _groups(score, descending=False)
    pos = (y[order] == 1).astype(np.float64)
    Ws = W[:, order]
    wp = np.add.reduceat(Ws * pos, starts, axis=1)
    wn = np.add.reduceat(Ws * (1.0 - pos), starts, axis=1)
    below = np.cumsum(wn, axis=1) - wn  # weight of negatives strictly below each group
    num = (wp * (below + 0.5 * wn)).sum(axis=1)
    den = wp.sum(axis=1) * wn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def weighted_average_precision(y: np.ndarray, score: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Average precision, Σ (R_k − R_{k−1}) P_k over descending score thresholds (as scikit-learn)."""
    order, starts = _groups(score, descending=True)
    pos = (y[order] == 1).astype(np.float64)
    Ws = W[:, order]
    tp = np.cumsum(np.add.reduceat(Ws * pos, starts, axis=1), axis=1)
    fp = np.cumsum(np.add.reduceat(Ws * (1.0 - pos), starts, axis=1), axis=1)
    total = tp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 1.0)
        d_recall = np.diff(np.concatenate([np.zeros_like(total), tp], axis=1), axis=1) / total
        return np.where(total[:, 0] > 0, (d_recall * precision).sum(axis=1), np.nan)
