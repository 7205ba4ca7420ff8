"""Multiple-testing adjustments: Holm (family-wise error) and Benjamini–Hochberg (false discoveries)."""

from __future__ import annotations

import numpy as np

__all__ = ["CORRECTIONS", "adjust"]

CORRECTIONS = ("holm", "bh", "none")


def _holm(p: np.ndarray) -> np.ndarray:
    m = len(p)
    order = np.argsort(p, kind="mergesort")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def _bh(p: np.ndarray) -> np.ndarray:
    m = len(p)
    order = np.argsort(p, kind="mergesort")
    scaled = p[order] * m / np.arange(1, m + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def adjust(p_values: np.ndarray | list[float], method: str = "holm") -> np.ndarray:
    """Adjusted p-values; compare them with the unadjusted level α."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0 or method == "none":
        return p.copy()
    if method == "holm":
        return _holm(p)
    if method == "bh":
        return _bh(p)
    raise ValueError(f"unknown correction {method!r}; use one of {CORRECTIONS}")
