"""Distance tests (PSI, Jensen-Shannon, Hellinger, Wasserstein, energy, TV) have permutation p-values.

Judged on the threshold alone they alarmed on identical normals at n=200 (JS 100 of 100
seeds, Hellinger 98, Wasserstein 66); with the p-value in the rule the false alarm rate
stays at alpha, and injected shifts are still found.
"""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from assay.drift import DriftSpec, compare, get_stat_test, profile_source
from assay.drift._comparison import CategoricalComparison
from assay.drift._stattests._permutation import coarsen, permutation_p_value
from assay.drift._stattests._psi import psi_rows
from assay.drift._stattests._total_variation import total_variation_rows

from .test_calibration import ALPHA, assert_rate_at_most

NUMERIC = ["psi", "jensenshannon", "hellinger", "wasserstein", "energy"]
CATEGORICAL = ["psi", "jensenshannon", "hellinger", "tv"]


@pytest.mark.parametrize("name", NUMERIC)
def test_numeric_distances_do_not_alarm_on_identical_distributions_at_small_n(name: str) -> None:
    spec = DriftSpec(multivariate=False, numeric={"test": name})
    for n, seeds in ((200, 100), (1000, 40)):
        alarms = 0
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            alarms += compare(pa.table({"x": rng.normal(size=n)}), pa.table({"x": rng.normal(size=n)}), spec).drift
        assert_rate_at_most(alarms, seeds)


@pytest.mark.parametrize("name", CATEGORICAL)
def test_categorical_distances_do_not_alarm_on_identical_distributions_at_small_n(name: str) -> None:
    spec = DriftSpec(multivariate=False, categorical={"test": name})
    probs = [0.4, 0.2, 0.15, 0.1, 0.05, 0.05, 0.03, 0.02]
    alarms = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        ref, cur = (pa.table({"c": rng.choice(list("abcdefgh"), 200, p=probs)}) for _ in range(2))
        alarms += compare(ref, cur, spec).drift
    assert_rate_at_most(alarms, 100)


def test_permutation_p_value_is_the_exact_permutation_test() -> None:
    """Against SciPy's exact permutation test of the row labels (every one of C(14, 6) splits)."""
    ref = np.array([4, 3, 1])
    cur = np.array([0, 2, 4])
    x = np.repeat(np.arange(3), ref)
    y = np.repeat(np.arange(3), cur)

    def tv(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        pa_ = np.stack([(a == k).mean(axis=axis) for k in range(3)], axis=-1)
        pb_ = np.stack([(b == k).mean(axis=axis) for k in range(3)], axis=-1)
        return 0.5 * np.abs(pa_ - pb_).sum(axis=-1)

    exact = stats.permutation_test((x, y), tv, permutation_type="independent", alternative="greater", n_resamples=np.inf, vectorized=True).pvalue
    assert len(list(itertools.combinations(range(14), 6))) == 3003  # small enough for SciPy to enumerate
    ours = permutation_p_value(ref, cur, total_variation_rows, permutations=20_000, seed=1)
    assert ours == pytest.approx(exact, abs=4 * np.sqrt(exact * (1 - exact) / 20_000) + 1e-4)


@pytest.mark.parametrize("target", [1e-4, 1e-6])
def test_tail_beyond_the_draws_follows_the_chi_squared_limit(target: float) -> None:
    """Under the null, PSI * n m / (n + m) tends to chi-squared(k - 1): p-values far below 1 / B are still estimated, not floored."""
    n, k = 50_000, 10
    ref = np.full(k, n // k)
    pattern = np.array([1.0, -1.0] * (k // 2))
    want = stats.chi2.isf(target, k - 1)
    lo, hi = 0.0, n / k
    for _ in range(60):
        mid = (lo + hi) / 2
        scaled = psi_rows(ref[None] / n, (ref + mid * pattern)[None] / n)[0] * n / 2
        lo, hi = (mid, hi) if scaled < want else (lo, mid)
    p = permutation_p_value(ref, np.rint(ref + lo * pattern), psi_rows)
    assert target / 2 < p < target * 5  # 1,000 draws could say no less than 1e-3


def test_p_values_are_reproducible_and_follow_the_seed() -> None:
    rng = np.random.default_rng(3)
    ref, cur = pa.table({"x": rng.normal(size=300)}), pa.table({"x": rng.normal(0.1, 1, 300)})
    runs = [compare(ref, cur, DriftSpec(multivariate=False, numeric={"test": "wasserstein"}, seed=s)).column("x").p_value for s in (0, 0, 1)]
    assert runs[0] == runs[1] and runs[0] != runs[2] and runs[0] == pytest.approx(runs[2], abs=0.05)


def test_many_categories_are_merged_to_a_hundred_cells_by_pooled_count() -> None:
    ref = np.arange(1000)[::-1].copy()
    cur = np.arange(1000).copy()
    r, c = coarsen(ref, cur)
    assert r.size == c.size == 100 and r.sum() == ref.sum() and c.sum() == cur.sum()
    out = get_stat_test("tv").categorical(CategoricalComparison([str(i) for i in range(1000)], ref, cur))
    assert out.p_value is not None and out.p_value < 1e-6


@pytest.mark.parametrize("name", NUMERIC)
def test_injected_shifts_are_still_found_at_n_1000(name: str) -> None:
    rng = np.random.default_rng(4)
    n = 2000
    ref = pa.table({"mean": rng.normal(size=n), "var": rng.normal(size=n), "same": rng.normal(size=n)})
    cur = pa.table({"mean": rng.normal(0.5, 1, n), "var": rng.normal(0, np.sqrt(2), n), "same": rng.normal(size=n)})
    report = compare(ref, cur, DriftSpec(multivariate=False, numeric={"test": name}))
    assert set(report.drifted_columns) == {"mean", "var"}
    assert all(c.p_value is not None for c in report.columns)


@pytest.mark.parametrize("name", CATEGORICAL)
def test_a_category_share_change_is_still_found(name: str) -> None:
    rng = np.random.default_rng(5)
    ref = pa.table({"c": rng.choice(list("abc"), 1000, p=[0.5, 0.3, 0.2])})
    cur = pa.table({"c": rng.choice(list("abc"), 1000, p=[0.35, 0.3, 0.35])})
    report = compare(ref, cur, DriftSpec(multivariate=False, categorical={"test": name}))
    assert report.drifted_columns == ["c"] and report.column("c").p_adjusted < ALPHA


def test_profiles_and_binned_mode_carry_the_p_value(tmp_path) -> None:
    rng = np.random.default_rng(6)
    ref = pa.table({"x": rng.normal(size=5000), "c": rng.choice(list("abc"), 5000)})
    same = pa.table({"x": rng.normal(size=300), "c": rng.choice(list("abc"), 300)})
    moved = pa.table({"x": rng.normal(0.5, 1, 3000), "c": rng.choice(list("abc"), 3000, p=[0.6, 0.2, 0.2])})
    spec = DriftSpec(multivariate=False, numeric={"test": "energy"}, categorical={"test": "jensenshannon"})
    profile, _ = profile_source(ref)
    quiet = compare(profile, same, spec)
    assert not quiet.drift and all(c.p_value is not None for c in quiet.columns)
    loud = compare(profile, moved, spec)
    assert set(loud.drifted_columns) == {"x", "c"}
    assert "p-value" in loud.method["rule"] and loud.method["tests"]["energy"]["p_value"] is True
