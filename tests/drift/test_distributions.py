"""The tail probabilities, KS statistic and classifier drift computes without SciPy's stats module,
checked against SciPy across every branch they take."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from assay.drift._boosting import MAX_BINS, BinnedFeatures, BoostedTrees, NodeHistograms
from assay.drift._comparison import ks_sorted
from assay.drift._distributions import chi2_sf, kstwo_sf, norm_ppf, norm_sf, rankdata, smirnov_sf
from assay.drift._multivariate import auc_delong

# n: SciPy's Pomeranz / Durbin / Pelz-Good / Smirnov-sum / closed-form regimes; z = sqrt(n) * d
SIZES = [141, 500, 5_000, 20_000, 100_000, 100_001, 250_000, 500_000, 1_000_000, 1_000_001, 5_000_000]
Z = [0.3, 0.6, 0.9, 1.2, 1.48, 1.49, 2.0, 3.0, 5.0, 8.0, 12.0, 19.0, 19.3, 25.0]


@pytest.mark.parametrize("n", SIZES)
def test_kstwo_sf_matches_scipy_on_every_branch(n: int) -> None:
    for z in Z:
        d = z / math.sqrt(n)
        expected = float(stats.kstwo.sf(d, n))
        assert kstwo_sf(d, n) == pytest.approx(expected, rel=1e-10, abs=1e-300), (n, d)
    assert kstwo_sf(0.0, n) == 1.0 and kstwo_sf(1.0, n) == 0.0
    assert kstwo_sf(0.4 / n, n) == 1.0  # below 1/(2n) no sample can have a smaller D


@pytest.mark.parametrize("n", [150, 1_000, 20_000, 500_000, 1_000_000])
def test_smirnov_sum_matches_scipy(n: int) -> None:
    for x in [1.5 / n, 3 / math.sqrt(n), 0.01, 0.05, 0.2, 0.5, 0.7, 0.95, 1 - 1.5 / n]:
        expected = float(special.smirnov(n, x))
        if expected > 1e-300:
            assert smirnov_sf(n, x) == pytest.approx(expected, rel=1e-10), (n, x)


@pytest.mark.parametrize("dof", [1, 2, 3, 7, 50, 333, 4_999, 20_000])
def test_chi2_sf_matches_scipy(dof: int) -> None:
    for x in np.r_[np.linspace(0.01, 3 * dof + 60, 50), dof - 1, dof, dof + 1]:
        expected = float(stats.chi2.sf(x, dof))
        if expected > 1e-290:
            assert chi2_sf(float(x), dof) == pytest.approx(expected, rel=1e-9), (dof, x)
    assert chi2_sf(0.0, dof) == 1.0


def test_normal_and_ranks_match_scipy() -> None:
    for z in [-3.0, -0.5, 0.0, 1.0, 2.3, 8.0, 30.0]:
        assert norm_sf(z) == pytest.approx(float(stats.norm.sf(z)), rel=1e-12, abs=1e-300)
    for q in [0.001, 0.025, 0.5, 0.975, 0.999]:
        assert norm_ppf(q) == pytest.approx(float(stats.norm.ppf(q)), rel=1e-12, abs=1e-15)
    values = np.round(np.random.default_rng(3).normal(size=2_000), 1)  # many ties
    assert np.array_equal(rankdata(values), stats.rankdata(values))


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(finite, min_size=1, max_size=40), st.lists(finite, min_size=1, max_size=40))
def test_ks_sorted_equals_scipy_on_small_samples(a: list[float], b: list[float]) -> None:
    # method="asymp": the exact method rounds D to a multiple of 1/lcm(n, m)
    assert ks_sorted(np.sort(a), np.sort(b)) == stats.ks_2samp(a, b, method="asymp").statistic


@pytest.mark.parametrize("kind", ["normal", "shifted", "integers", "rounded", "one_side_tiny"])
def test_ks_sorted_equals_scipy_on_large_samples_with_ties(kind: str) -> None:
    """Above the grid size the statistic comes from a bound and exact looks inside a few cells."""
    rng = np.random.default_rng(["normal", "shifted", "integers", "rounded", "one_side_tiny"].index(kind))
    n, m = 200_003, 150_001
    a, b = {
        "normal": (rng.normal(size=n), rng.normal(size=m)),
        "shifted": (rng.normal(size=n), rng.normal(0.05, 1.1, size=m)),
        "integers": (rng.integers(0, 7, n).astype(float), rng.integers(0, 8, m).astype(float)),
        "rounded": (np.round(rng.normal(size=n), 2), np.round(rng.normal(0.01, 1, size=m), 2)),
        "one_side_tiny": (rng.normal(size=n), rng.normal(size=20_000)),
    }[kind]
    assert ks_sorted(np.sort(a), np.sort(b)) == stats.ks_2samp(a, b, method="asymp").statistic


def test_binned_features_keep_missing_values_apart() -> None:
    x = np.column_stack([np.r_[np.arange(100.0), [np.nan] * 5], np.zeros(105)])
    codes = BinnedFeatures.from_values(x).codes
    assert (codes[100:, 0] == MAX_BINS).all() and codes[:100, 0].max() < MAX_BINS
    assert np.all(np.diff(codes[:100, 0].astype(int)) >= 0)  # bins follow the order of the values
    assert (codes[:, 1] == codes[0, 1]).all()


def test_boosted_trees_learn_a_threshold_and_an_interaction() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4_000, 3))
    y = ((x[:, 0] > 0.3) ^ (x[:, 1] > 0)).astype(float)  # XOR: no single feature predicts it
    codes = BinnedFeatures.from_values(x).codes
    model = BoostedTrees().fit(codes[:2_000], y[:2_000])
    auc, _ = auc_delong(model.decision(codes[2_000:]), y[2_000:])
    assert auc > 0.95
    assert all(2 not in used for used in model.features_used_[:3])  # the noise feature is not what it splits on first
    scores = model.tree_scores(codes[2_000:])
    assert np.allclose(model.base_ + scores.sum(axis=0), model.decision(codes[2_000:]))
    assert np.allclose(model.tree_scores(codes[2_000:], [0, 5]), scores[[0, 5]])


@pytest.mark.parametrize(("rows", "features"), [(1, 1), (37, 5), (500, 3), (300, 40)])
def test_node_histograms_equal_the_plain_bincounts(rows: int, features: int) -> None:
    """The feature-by-feature keys and reused buffers sum each slot's rows in the same order as a bincount over the rows."""
    rng = np.random.default_rng(rows + features)
    codes = rng.integers(0, MAX_BINS + 1, size=(rows, features)).astype(np.uint8)
    grad, hess = rng.normal(size=rows), rng.random(rows)
    bins = MAX_BINS + 1
    width = features * bins
    slots = ((np.arange(features) * bins)[None, :] + codes).ravel()

    def plain(keys: np.ndarray, g: np.ndarray, h: np.ndarray, nodes: int) -> list[np.ndarray]:
        sums = [np.bincount(keys, weights=np.repeat(v, features), minlength=nodes * width) for v in (g, h)]
        return [a.reshape(nodes, width) for a in (*sums, np.bincount(keys, minlength=nodes * width).astype(float))]

    histograms = NodeHistograms(codes)
    for _ in range(2):  # the second round reuses the buffers and the cached root counts
        for got, want in zip(histograms.root(grad, hess), plain(slots, grad, hess, 1)):
            assert np.array_equal(got, want)
        for nodes in (1, 2, 4):
            node = rng.integers(0, nodes, size=rows)
            rows_in = np.flatnonzero(rng.random(rows) < 0.6)
            keys = (slots.reshape(rows, features)[rows_in] + (node[rows_in] * width)[:, None]).ravel()
            got = histograms.nodes(rows_in, node[rows_in], nodes, grad, hess)
            for a, b in zip(got, plain(keys, grad[rows_in], hess[rows_in], nodes)):
                assert a.shape == (nodes, width) and np.array_equal(a, b)
        grad, hess = rng.normal(size=rows), rng.random(rows)


def test_default_run_imports_neither_scikit_learn_nor_scipy_stats_nor_pandas(tmp_path: Path) -> None:
    """Start-up is most of a run at a million rows: the default path stays off the heavy imports."""
    rng = np.random.default_rng(5)
    for name, shift in (("ref", 0.0), ("cur", 0.3)):
        pq.write_table(pa.table({"x": rng.normal(shift, 1, 30_000), "y": rng.normal(size=30_000), "c": rng.choice(["a", "b"], 30_000)}), tmp_path / f"{name}.parquet")
    code = (
        "import sys; from assay.drift import compare; "
        f"r = compare({str(tmp_path / 'ref.parquet')!r}, {str(tmp_path / 'cur.parquet')!r}); "
        "assert r.multivariate['classifier']['auc'] > 0.5; "
        "print(sorted(m for m in ('sklearn', 'scipy.stats', 'pandas', 'pyarrow.dataset') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
