"""Automatic slice discovery, honest by construction: candidate slices are *found* on one
random half of the rows and *confirmed* on the other half (with Holm across the confirmed
candidates), so a reported slice is not an artefact of searching many slices.

A slice is interesting when the candidate's change there is worse than on the rest of the
rows (a two-sample comparison with its complement): a model that is uniformly a little worse
is the overall gates' business, not a slice's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from assay._wording import noun_for
from assay.checks._multitest import adjust
from assay.checks._suite import DiscoverySpec
from assay.errors import InputError

__all__ = ["discover_slices"]


#: how many of the strongest single-feature regions are paired with each other
_PAIR_POOL = 12


def _regions(columns: Mapping[str, np.ndarray], features: list[str], bins: int) -> list[tuple[str, str, np.ndarray]]:
    """(feature, region name, mask) for every bin of every feature."""
    regions: list[tuple[str, str, np.ndarray]] = []
    for name in features:
        col = columns[name]
        if col.dtype.kind in "biuf" and len(np.unique(col[: 10_000])) > bins:
            values = col.astype(np.float64)
            finite = values[np.isfinite(values)]
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)))
            for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
                last = i == len(edges) - 2
                mask = (values >= lo) & ((values <= hi) if last else (values < hi))
                regions.append((name, f"{name} in [{lo:.4g}, {hi:.4g}{']' if last else ')'}", mask))
            regions.append((name, f"{name} is missing", ~np.isfinite(values)))
        else:
            keys = col.astype(str)
            uniq, counts = np.unique(keys, return_counts=True)
            for value in uniq[np.argsort(-counts)][:20]:
                regions.append((name, f"{name} = {value}", keys == value))
    return regions


def _contrast(score: np.ndarray, inside: np.ndarray, outside: np.ndarray) -> tuple[float, float]:
    """(z, difference) of the mean score inside the slice minus outside it (Welch)."""
    x, y = score[inside], score[outside]
    if len(x) < 2 or len(y) < 2:
        return float("nan"), float("nan")
    diff = float(x.mean() - y.mean())
    se = float(np.sqrt(x.var(ddof=1) / len(x) + y.var(ddof=1) / len(y)))
    if se == 0:
        return float("nan"), diff
    return diff / se, diff


def discover_slices(
    score: np.ndarray,
    columns: Mapping[str, np.ndarray],
    features: list[str],
    spec: DiscoverySpec,
    *,
    confidence: float,
    seed: int,
    metric: str,
    greater_is_better: bool = True,
) -> list[dict[str, Any]]:
    """``score`` is the per-row improvement of the candidate over the baseline (negative = worse).

    The search runs on improvements; the numbers reported (``delta``, ``delta_search``,
    ``delta_vs_rest`` and its interval) are in the metric's own direction, candidate − baseline,
    as the gates report theirs: a slice where MAE is worse has a positive delta, one where
    accuracy is worse a negative one."""
    n = len(score)
    rng = np.random.default_rng(seed + 7919)
    half = np.zeros(n, dtype=bool)
    half[rng.permutation(n)[: n // 2]] = True  # True: search half, False: confirmation half
    alpha = (1 - confidence) / 2
    sign = 1.0 if greater_is_better else -1.0  # improvement → candidate − baseline, for the report
    def searched(name: str, mask: np.ndarray) -> tuple[float, str, np.ndarray] | None:
        a = mask & half
        if int(a.sum()) < max(2, spec.min_rows // 2) or n - mask.sum() < spec.min_rows:
            return None
        z, diff = _contrast(score, a, ~mask & half)
        if diff >= 0 or not np.isfinite(z):
            return None
        return z, name, mask

    found: list[tuple[float, str, np.ndarray]] = []
    by_feature: list[tuple[float, str, str, np.ndarray]] = []
    unknown = [f for f in (spec.features or []) if f not in columns]
    if unknown:
        raise InputError(f"discover: no {noun_for(len(unknown), 'column')} {', '.join(map(repr, unknown))} in the data",
                         hint=f"columns: {', '.join(list(columns)[:20])}")
    for feature, name, mask in _regions(columns, spec.features or features, spec.bins):
        hit = searched(name, mask)
        if hit is not None:
            found.append(hit)
            by_feature.append((hit[0], feature, name, mask))
    if spec.depth >= 2:
        # pairs of the strongest single-feature regions: a regression that lives only where two
        # conditions meet. Still searched on the first half only, so the confirmation stays honest.
        by_feature.sort(key=lambda t: t[0])
        strongest = by_feature[:_PAIR_POOL]
        for i, (_, f1, n1, m1) in enumerate(strongest):
            for _, f2, n2, m2 in strongest[i + 1:]:
                if f1 != f2:
                    hit = searched(f"{n1} and {n2}", m1 & m2)
                    if hit is not None:
                        found.append(hit)
    found.sort(key=lambda t: t[0])
    picked = found[: spec.top]
    rows = []
    for z_search, name, mask in picked:
        b = mask & ~half
        k = int(b.sum())
        z, diff = _contrast(score, b, ~mask & ~half)
        se = diff / z if np.isfinite(z) and z != 0 else float("nan")
        p = float(stats.norm.cdf(z)) if np.isfinite(z) else 1.0  # one-sided: worse than elsewhere
        zq = stats.norm.ppf(1 - alpha)
        low, high = sorted((float(sign * (diff - zq * se)), float(sign * (diff + zq * se))))
        rows.append({"slice": name, "metric": metric, "greater_is_better": greater_is_better, "rows": int(mask.sum()),
                     "rows_confirm": k, "delta_search": sign * float(score[mask & half].mean()), "z_search": float(z_search),
                     "delta": sign * float(score[b].mean()) if k else float("nan"), "delta_vs_rest": sign * diff,
                     "ci_low": low, "ci_high": high, "p_value": p})
    if rows:
        adj = adjust([r["p_value"] for r in rows], "holm")
        for r, pa in zip(rows, adj, strict=True):
            r["p_adjusted"] = float(pa)
            r["confirmed"] = bool(pa < alpha)
    rows.sort(key=lambda r: (not r["confirmed"], r["p_value"]))
    return rows
