"""Two distributions of one column side by side, in the form the tests read.

Numeric columns become two CDFs on one sorted grid. In exact mode the grid is every
distinct value of both samples, so KS, Wasserstein-1 and energy distance are exactly
SciPy's; in binned mode the grid is the reference-quantile edges of a sketch, so the
same formulas run on counts and memory is bounded by the number of bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CategoricalComparison", "NumericComparison"]


@dataclass
class NumericComparison:
    """CDFs of reference and current on a shared sorted grid (P(X <= grid[i]))."""

    grid: np.ndarray
    ref_cdf: np.ndarray
    cur_cdf: np.ndarray
    n_ref: int
    n_cur: int
    ref_std: float
    exact: bool
    ref_values: np.ndarray | None = None  # kept in exact mode for SciPy's exact small-sample p-values
    cur_values: np.ndarray | None = None

    @classmethod
    def from_values(cls, ref: np.ndarray, cur: np.ndarray) -> NumericComparison:
        """Exact comparison of two arrays of finite values."""
        ref = np.sort(np.asarray(ref, dtype=np.float64))
        cur = np.sort(np.asarray(cur, dtype=np.float64))
        grid = np.unique(np.concatenate([ref, cur]))
        return cls(
            grid=grid,
            ref_cdf=np.searchsorted(ref, grid, side="right") / ref.size,
            cur_cdf=np.searchsorted(cur, grid, side="right") / cur.size,
            n_ref=int(ref.size),
            n_cur=int(cur.size),
            ref_std=float(np.std(ref)),
            exact=True,
            ref_values=ref,
            cur_values=cur,
        )

    @classmethod
    def from_counts(
        cls,
        edges: np.ndarray,
        ref_counts: np.ndarray,
        cur_counts: np.ndarray,
        *,
        low: float,
        high: float,
        ref_std: float,
    ) -> NumericComparison:
        """Binned comparison: ``counts[i]`` holds values in ``(edges[i-1], edges[i]]``, the last bin ``> edges[-1]``.

        ``low`` and ``high`` are the smallest and largest value seen on either side, so
        the grid spans the data and the tail bins have a width.
        """
        n_ref, n_cur = int(ref_counts.sum()), int(cur_counts.sum())
        ref_cdf = np.cumsum(ref_counts[:-1]) / max(n_ref, 1)
        cur_cdf = np.cumsum(cur_counts[:-1]) / max(n_cur, 1)
        # the grid ends at the largest value, where both CDFs are 1
        grid = np.append(edges, max(high, edges[-1]))
        ref_cdf = np.append(ref_cdf, 1.0)
        cur_cdf = np.append(cur_cdf, 1.0)
        if low < edges[0]:
            grid = np.insert(grid, 0, low)
            ref_cdf = np.insert(ref_cdf, 0, 0.0)
            cur_cdf = np.insert(cur_cdf, 0, 0.0)
        return cls(grid=grid, ref_cdf=ref_cdf, cur_cdf=cur_cdf, n_ref=n_ref, n_cur=n_cur, ref_std=ref_std, exact=False)

    def quantile_bins(self, bins: int) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities of both sides in ``bins`` bins cut at reference quantiles.

        Edges are grid points, so ties never split; fewer bins come back when the
        reference has fewer distinct values.
        """
        levels = np.arange(1, bins) / bins
        idx = np.unique(np.searchsorted(self.ref_cdf, levels - 1e-12, side="left"))
        idx = idx[idx < self.grid.size - 1]
        ref = np.diff(np.concatenate([[0.0], self.ref_cdf[idx], [1.0]]))
        cur = np.diff(np.concatenate([[0.0], self.cur_cdf[idx], [1.0]]))
        return np.clip(ref, 0.0, None), np.clip(cur, 0.0, None)

    def cdf_at(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both CDFs at arbitrary points (step functions, right-continuous)."""
        idx = np.searchsorted(self.grid, points, side="right") - 1
        ref = np.where(idx >= 0, self.ref_cdf[np.clip(idx, 0, None)], 0.0)
        cur = np.where(idx >= 0, self.cur_cdf[np.clip(idx, 0, None)], 0.0)
        return ref, cur


@dataclass
class CategoricalComparison:
    """Counts per category on both sides; categories absent on a side count 0."""

    categories: list[str]
    ref_counts: np.ndarray
    cur_counts: np.ndarray

    @property
    def n_ref(self) -> int:
        return int(self.ref_counts.sum())

    @property
    def n_cur(self) -> int:
        return int(self.cur_counts.sum())

    def probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        return self.ref_counts / max(self.n_ref, 1), self.cur_counts / max(self.n_cur, 1)
