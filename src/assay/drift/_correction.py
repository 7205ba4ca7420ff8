"""Multiple-testing control across the columns of one report."""

from __future__ import annotations

import numpy as np

__all__ = ["adjust_p_values"]


def adjust_p_values(p_values: np.ndarray | list[float], method: str) -> np.ndarray:
    """Adjusted p-values: ``holm`` (family-wise error), ``bh`` (false discovery rate) or ``none``.

    Rejecting where the adjusted value is below alpha is Holm's step-down procedure,
    or Benjamini–Hochberg's step-up one (the same as ``scipy.stats.false_discovery_control``).
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0 or method == "none":
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate(np.minimum((m - np.arange(m)) * ranked, 1.0))
    elif method == "bh":
        adjusted = np.minimum.accumulate((m / np.arange(m, 0, -1) * ranked[::-1]))[::-1]
        adjusted = np.minimum(adjusted, 1.0)
    else:
        raise ValueError(f"unknown correction {method!r}")
    out = np.empty(m)
    out[order] = adjusted
    return out
