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


class NumericComparison:
    """CDFs of reference and current on a shared sorted grid (P(X <= grid[i])).

    In exact mode the grid (every distinct value of both samples) is built only when
    a test integrates over it (Wasserstein, energy); KS, the quantile-bin distances and
    the charts read the two sorted samples directly, which costs two binary searches
    per value instead of a sort of the pooled sample.
    """

    def __init__(self, grid: np.ndarray | None, ref_cdf: np.ndarray | None, cur_cdf: np.ndarray | None, n_ref: int, n_cur: int,
                 ref_std: float, exact: bool, ref_values: np.ndarray | None = None, cur_values: np.ndarray | None = None) -> None:  # fmt: skip
        self._grid, self._ref_cdf, self._cur_cdf = grid, ref_cdf, cur_cdf
        self.n_ref, self.n_cur, self.ref_std, self.exact = n_ref, n_cur, ref_std, exact
        self.ref_values, self.cur_values = ref_values, cur_values  # sorted; kept in exact mode

    @classmethod
    def from_values(cls, ref: np.ndarray, cur: np.ndarray) -> NumericComparison:
        """Exact comparison of two arrays of finite values."""
        ref = np.sort(np.asarray(ref, dtype=np.float64))
        cur = np.sort(np.asarray(cur, dtype=np.float64))
        return cls(None, None, None, int(ref.size), int(cur.size), float(np.std(ref)), True, ref, cur)

    def _build_grid(self) -> None:
        assert self.ref_values is not None and self.cur_values is not None
        grid = np.unique(np.concatenate([self.ref_values, self.cur_values]))
        self._grid = grid
        self._ref_cdf = np.searchsorted(self.ref_values, grid, side="right") / self.n_ref
        self._cur_cdf = np.searchsorted(self.cur_values, grid, side="right") / self.n_cur

    @property
    def grid(self) -> np.ndarray:
        if self._grid is None:
            self._build_grid()
        return self._grid  # type: ignore[return-value]

    @property
    def ref_cdf(self) -> np.ndarray:
        if self._ref_cdf is None:
            self._build_grid()
        return self._ref_cdf  # type: ignore[return-value]

    @property
    def cur_cdf(self) -> np.ndarray:
        if self._cur_cdf is None:
            self._build_grid()
        return self._cur_cdf  # type: ignore[return-value]

    def ks_statistic(self) -> float:
        """sup |F_ref - F_cur|; both are steps that move only at data points, so the points suffice."""
        if not self.exact or self._grid is not None:
            return float(np.max(np.abs(self.ref_cdf - self.cur_cdf))) if self.grid.size else 0.0
        d = 0.0
        for own, other, n_own, n_other in ((self.ref_values, self.cur_values, self.n_ref, self.n_cur), (self.cur_values, self.ref_values, self.n_cur, self.n_ref)):
            assert own is not None and other is not None
            if own.size == 0:
                continue
            last = np.flatnonzero(np.r_[own[1:] != own[:-1], True])  # last copy of each distinct value
            own_cdf = (last + 1) / n_own
            other_cdf = np.searchsorted(other, own[last], side="right") / n_other
            d = max(d, float(np.max(np.abs(own_cdf - other_cdf))))
        return d

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
        return cls(grid, ref_cdf, cur_cdf, n_ref, n_cur, ref_std, False)

    def quantile_bins(self, bins: int) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities of both sides in ``bins`` bins cut at reference quantiles.

        Edges are data values (the smallest with F_ref >= k / bins), so ties never split;
        fewer bins come back when the reference has fewer distinct values.
        """
        levels = np.arange(1, bins) / bins
        if self.exact and self._grid is None:
            ref, cur = self.ref_values, self.cur_values
            assert ref is not None and cur is not None
            last = np.flatnonzero(np.r_[ref[1:] != ref[:-1], True])
            distinct, cdf = ref[last], (last + 1) / self.n_ref
            idx = np.unique(np.searchsorted(cdf, levels - 1e-12, side="left"))
            edges = distinct[idx]
            edges = edges[edges < max(ref[-1], cur[-1])]  # an edge at the pooled maximum would leave an empty last bin
            ref_at, cur_at = self.cdf_at(edges)
        else:
            idx = np.unique(np.searchsorted(self.ref_cdf, levels - 1e-12, side="left"))
            idx = idx[idx < self.grid.size - 1]
            ref_at, cur_at = self.ref_cdf[idx], self.cur_cdf[idx]
        ref_p = np.diff(np.concatenate([[0.0], ref_at, [1.0]]))
        cur_p = np.diff(np.concatenate([[0.0], cur_at, [1.0]]))
        return np.clip(ref_p, 0.0, None), np.clip(cur_p, 0.0, None)

    def cdf_at(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both CDFs at arbitrary points (step functions, right-continuous)."""
        if self.exact and self._grid is None:
            assert self.ref_values is not None and self.cur_values is not None
            return (np.searchsorted(self.ref_values, points, side="right") / self.n_ref,
                    np.searchsorted(self.cur_values, points, side="right") / self.n_cur)  # fmt: skip
        idx = np.searchsorted(self.grid, points, side="right") - 1
        ref = np.where(idx >= 0, self.ref_cdf[np.clip(idx, 0, None)], 0.0)
        cur = np.where(idx >= 0, self.cur_cdf[np.clip(idx, 0, None)], 0.0)
        return ref, cur

    def quantile(self, side: str, q: float) -> float:
        """The smallest value whose CDF on ``side`` (``reference`` / ``current``) reaches ``q`` (0 < q <= 1)."""
        if self.exact and self._grid is None:
            values = self.ref_values if side == "reference" else self.cur_values
            assert values is not None
            # the same float arithmetic as the grid CDFs (count / n), so both paths agree exactly
            return float(values[min(np.searchsorted(np.arange(1, values.size + 1) / values.size, q, side="left"), values.size - 1)])
        cdf = self.ref_cdf if side == "reference" else self.cur_cdf
        return float(self.grid[min(np.searchsorted(cdf, q, side="left"), self.grid.size - 1)])


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
