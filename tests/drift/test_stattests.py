"""Every statistic against SciPy or its reference formula, exact and binned."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from assay.drift import get_stat_test
from assay.drift._comparison import CategoricalComparison, NumericComparison
from assay.drift._profile import NumericSketch, quantile_edges

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
samples = st.lists(finite, min_size=1, max_size=60)


def _cmp(a: list[float] | np.ndarray, b: list[float] | np.ndarray) -> NumericComparison:
    return NumericComparison.from_values(np.asarray(a, dtype=float), np.asarray(b, dtype=float))


@settings(max_examples=150, deadline=None)
@given(samples, samples)
def test_ks_matches_scipy_exact(a: list[float], b: list[float]) -> None:
    out = get_stat_test("ks").numeric(_cmp(a, b))
    ref = stats.ks_2samp(a, b)
    assert out.statistic == pytest.approx(ref.statistic, abs=1e-12)
    assert out.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-12)
    assert out.effect == out.statistic


def test_ks_matches_scipy_asymptotic_on_large_samples() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=30_000), rng.normal(0.02, 1, size=20_000)
    out = get_stat_test("ks").numeric(_cmp(a, b))
    ref = stats.ks_2samp(a, b, method="asymp")
    assert out.statistic == pytest.approx(ref.statistic, abs=1e-12)
    assert out.p_value == pytest.approx(ref.pvalue, rel=1e-9)


@settings(max_examples=150, deadline=None)
@given(samples, samples)
def test_wasserstein_and_energy_match_scipy(a: list[float], b: list[float]) -> None:
    cmp = _cmp(a, b)
    w = get_stat_test("wasserstein").numeric(cmp)
    e = get_stat_test("energy").numeric(cmp)
    assert w.statistic == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9, abs=1e-6)
    assert e.statistic == pytest.approx(stats.energy_distance(a, b), rel=1e-7, abs=1e-5)
    std = np.std(a)
    if std > 0:
        assert w.effect == pytest.approx(w.statistic / std, rel=1e-9)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=2, max_size=12).flatmap(lambda r: st.tuples(st.just(r), st.lists(st.integers(0, 1000), min_size=len(r), max_size=len(r)))))
def test_categorical_distances_match_reference_formulas(pair: tuple[list[int], list[int]]) -> None:
    ref, cur = (np.asarray(x, dtype=np.int64) for x in pair)
    if ref.sum() == 0 or cur.sum() == 0:
        return
    cmp = CategoricalComparison([str(i) for i in range(len(ref))], ref, cur)
    p, q = ref / ref.sum(), cur / cur.sum()
    assert get_stat_test("jensenshannon").categorical(cmp).statistic == pytest.approx(distance.jensenshannon(p, q, base=2), abs=1e-9)
    assert get_stat_test("tv").categorical(cmp).statistic == pytest.approx(0.5 * np.abs(p - q).sum(), abs=1e-12)
    assert get_stat_test("hellinger").categorical(cmp).statistic == pytest.approx(np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2)), abs=1e-7)
    pf, qf = np.clip(p, 1e-4, None), np.clip(q, 1e-4, None)
    assert get_stat_test("psi").categorical(cmp).statistic == pytest.approx(np.sum((qf - pf) * np.log(qf / pf)), abs=1e-9)


def test_chi2_matches_scipy_contingency() -> None:
    ref = np.array([120, 340, 55, 80])
    cur = np.array([100, 360, 70, 40])
    out = get_stat_test("chi2").categorical(CategoricalComparison(list("abcd"), ref, cur))
    expected = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert out.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert out.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert out.effect == pytest.approx(0.5 * np.abs(ref / ref.sum() - cur / cur.sum()).sum())


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500)), min_size=2, max_size=10))
def test_gtest_matches_scipy_log_likelihood(cells: list[tuple[int, int]]) -> None:
    ref = np.array([a for a, _ in cells])
    cur = np.array([b for _, b in cells])
    out = get_stat_test("gtest").categorical(CategoricalComparison([str(i) for i in range(len(cells))], ref, cur))
    table = np.vstack([ref, cur]).astype(float)
    rare = table.sum(axis=0) < 5
    pooled = np.hstack([table[:, ~rare], table[:, rare].sum(axis=1, keepdims=True)]) if rare.any() else table
    pooled = pooled[:, pooled.sum(axis=0) > 0]
    if pooled.shape[1] < 2 or ref.sum() == 0 or cur.sum() == 0:
        assert out.p_value == 1.0
        return
    expected = stats.chi2_contingency(pooled, correction=False, lambda_="log-likelihood")
    assert out.statistic == pytest.approx(expected.statistic, rel=1e-9, abs=1e-9)
    assert out.p_value == pytest.approx(expected.pvalue, rel=1e-7, abs=1e-12)


def test_chi2_pools_rare_categories_and_handles_one_category() -> None:
    ref = np.array([500, 400, 1, 2, 0])
    cur = np.array([480, 410, 0, 1, 3])
    out = get_stat_test("chi2").categorical(CategoricalComparison(list("abcde"), ref, cur))
    pooled = np.array([[500, 400, 3], [480, 410, 4]])
    assert out.statistic == pytest.approx(stats.chi2_contingency(pooled, correction=False).statistic)
    single = get_stat_test("chi2").categorical(CategoricalComparison(["a"], np.array([5]), np.array([9])))
    assert single.p_value == 1.0 and single.effect == 0.0


def test_numeric_psi_uses_reference_deciles() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=5000), rng.normal(0.3, 1, size=4000)
    out = get_stat_test("psi").numeric(_cmp(a, b))
    edges = np.quantile(np.sort(a), np.arange(1, 10) / 10, method="inverted_cdf")
    p = np.bincount(np.searchsorted(edges, a, side="left"), minlength=10) / a.size
    q = np.bincount(np.searchsorted(edges, b, side="left"), minlength=10) / b.size
    assert out.statistic == pytest.approx(np.sum((q - p) * np.log(q / p)), rel=1e-9)
    js = get_stat_test("jensenshannon").numeric(_cmp(a, b)).statistic
    assert 0 < js < 1


def test_binned_ks_is_within_one_bin_of_exact() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=200_000), rng.normal(0.05, 1.1, size=150_000)
    edges = quantile_edges(a, 1000)
    ref, cur = NumericSketch.empty(edges), NumericSketch.empty(edges)
    import pyarrow as pa

    ref.add(pa.array(a))
    cur.add(pa.array(b))
    binned = NumericComparison.from_counts(edges, ref.counts, cur.counts, low=min(a.min(), b.min()), high=max(a.max(), b.max()), ref_std=ref.std)
    exact = _cmp(a, b)
    d_binned = get_stat_test("ks").numeric(binned).statistic
    d_exact = get_stat_test("ks").numeric(exact).statistic
    max_bin_mass = max(ref.counts.max() / a.size, cur.counts.max() / b.size)
    assert d_binned <= d_exact + 1e-12
    assert d_exact - d_binned <= max_bin_mass
    assert d_exact - d_binned < 2e-3
    w_b = get_stat_test("wasserstein").numeric(binned).statistic
    assert w_b == pytest.approx(stats.wasserstein_distance(a, b), rel=0.02)
    assert ref.std == pytest.approx(np.std(a), rel=1e-9)


def test_binned_ks_is_exact_on_discrete_data() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.integers(0, 50, 10_000).astype(float), rng.integers(0, 52, 8_000).astype(float)
    edges = quantile_edges(a, 1000)
    import pyarrow as pa

    ref, cur = NumericSketch.empty(edges), NumericSketch.empty(edges)
    ref.add(pa.array(a))
    cur.add(pa.array(b))
    binned = NumericComparison.from_counts(edges, ref.counts, cur.counts, low=0, high=51, ref_std=ref.std)
    assert get_stat_test("ks").numeric(binned).statistic == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-20, 20), min_size=1, max_size=80), st.lists(st.integers(-20, 20), min_size=1, max_size=80), st.sampled_from([4, 10, 20]))
def test_exact_shortcuts_equal_the_pooled_grid(a: list[int], b: list[int], bins: int) -> None:
    """KS, quantile bins, CDFs and quantiles read from the samples equal those on the pooled grid (ties included)."""
    lazy = _cmp(a, b)
    full = _cmp(a, b)
    full._build_grid()
    assert lazy.ks_statistic() == pytest.approx(full.ks_statistic(), abs=1e-12)
    for x, y in zip(lazy.quantile_bins(bins), full.quantile_bins(bins)):
        assert np.allclose(x, y)
    points = np.linspace(-25, 25, 41)
    for x, y in zip(lazy.cdf_at(points), full.cdf_at(points)):
        assert np.allclose(x, y)
    for q in (0.005, 0.25, 0.5, 0.995, 1.0):
        assert lazy.quantile("reference", q) == full.quantile("reference", q)
        assert lazy.quantile("current", q) == full.quantile("current", q)
