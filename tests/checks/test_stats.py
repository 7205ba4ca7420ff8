"""The statistics against SciPy and reference formulas, and their calibration on known distributions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from assay.checks import PairedBootstrap, adjust, delong, mcnemar
from assay.checks._estimate import Estimate, minimum_detectable_difference


@pytest.mark.parametrize("n01,n10", [(0, 0), (3, 9), (10, 10), (25, 8), (0, 7), (130, 101)])
def test_mcnemar_is_the_exact_binomial_test(n01: int, n10: int) -> None:
    n_both = 40
    c = np.r_[np.ones(n01), np.zeros(n10), np.ones(n_both)].astype(bool)
    b = np.r_[np.zeros(n01), np.ones(n10), np.ones(n_both)].astype(bool)
    r = mcnemar(c, b)
    assert (r.candidate_only, r.baseline_only) == (n01, n10)
    if n01 + n10:
        assert r.p_value == pytest.approx(stats.binomtest(n01, n01 + n10, 0.5).pvalue, rel=1e-9)
        assert r.p_worse == pytest.approx(stats.binomtest(n01, n01 + n10, 0.5, alternative="less").pvalue, rel=1e-9)
    else:
        assert r.p_value == 1.0


def _delong_reference(y: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) by the O(m·n) definition of the structural components."""
    pos, neg = y == 1, y == 0
    aucs, v10s, v01s = [], [], []
    for s in (s1, s2):
        x, z = s[pos], s[neg]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        aucs.append(psi.mean())
        v10s.append(psi.mean(axis=1))
        v01s.append(psi.mean(axis=0))
    s10 = np.cov(np.vstack(v10s))
    s01 = np.cov(np.vstack(v01s))
    return np.array(aucs), s10 / pos.sum() + s01 / neg.sum()


def test_delong_matches_the_definition_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s1 = np.round(y * 0.8 + rng.normal(size=300), 1)
    s2 = np.round(y * 0.5 + rng.normal(size=300), 1)
    auc, cov = _delong_reference(y, s1, s2)
    r = delong(y, s1, s2)
    np.testing.assert_allclose(r.auc, auc, rtol=1e-12)
    np.testing.assert_allclose(r.cov, cov, rtol=1e-9)


def test_delong_standard_error_agrees_with_the_bootstrap() -> None:
    rng = np.random.default_rng(1)
    n = 1500
    y = rng.integers(0, 2, n)
    s1 = y * 1.0 + rng.normal(size=n)
    s2 = s1 + rng.normal(scale=0.7, size=n)
    from assay.checks.metrics import Outputs, make_metric

    auc = make_metric("roc_auc")
    o1 = Outputs("binary", y, None, np.column_stack([-s1, s1]), None, np.array([0, 1]))
    o2 = Outputs("binary", y, None, np.column_stack([-s2, s2]), None, np.array([0, 1]))
    reps = PairedBootstrap(n, n_resamples=2000, seed=3).run({"d": lambda W: auc.batch(o1, W) - auc.batch(o2, W)})
    assert delong(y, s1, s2).delta_se == pytest.approx(reps["d"].std(ddof=1), rel=0.1)


def test_holm_and_bh_match_their_definitions() -> None:
    rng = np.random.default_rng(2)
    p = np.r_[rng.uniform(0, 0.02, 5), rng.uniform(0, 1, 15)]
    np.testing.assert_allclose(adjust(p, "bh"), stats.false_discovery_control(p, method="bh"), rtol=1e-12)
    # Holm by its step-down definition
    m = len(p)
    order = np.argsort(p)
    expected = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        expected[i] = min(1.0, running)
    np.testing.assert_allclose(adjust(p, "holm"), expected)
    assert (adjust(p, "none") == p).all()


def test_bootstrap_interval_coverage_for_a_mean() -> None:
    """95% percentile intervals of a Bernoulli mean cover the truth in about 95% of datasets."""
    rng = np.random.default_rng(4)
    n, trials, true = 400, 300, 0.3
    covered = 0
    for t in range(trials):
        x = (rng.random(n) < true).astype(float)
        reps = PairedBootstrap(n, n_resamples=400, seed=t).run({"m": lambda W, x=x: W @ x / W.sum(axis=1)})
        est = Estimate.from_replicates(x.mean(), reps["m"], 0.95, "bootstrap")
        covered += est.low <= true <= est.high
    rate = covered / trials
    # binomial sd at 300 trials ≈ 1.3 points: accept 91%–98.5%
    assert 0.91 <= rate <= 0.985, rate


def test_bootstrap_resamples_are_multinomial_counts() -> None:
    from assay.checks._bootstrap import resample_weights

    W = np.vstack(list(resample_weights(50, 1000, np.random.default_rng(0), chunk=300)))
    assert W.shape == (1000, 50)
    assert (W.sum(axis=1) == 50).all()
    assert W.mean() == pytest.approx(1.0)
    assert W.var() == pytest.approx(1 - 1 / 50, rel=0.05)  # multinomial(n, 1/n) count variance


def test_minimum_detectable_difference_formula() -> None:
    se = 0.01
    expected = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * se
    assert minimum_detectable_difference(se, 0.95) == pytest.approx(expected)


def test_bootstrap_p_values_reach_below_the_resample_resolution() -> None:
    """With 40 gates under Holm, a p-value floored at 1/(B+1) could never be declared failed."""
    rng = np.random.default_rng(0)
    reps = rng.normal(0.10, 0.01, 1000)  # every resample far above the threshold 0
    est = Estimate.from_replicates(0.10, reps, 0.95, "bootstrap")
    p = est.p_above(0.0)  # the claim "the true value is above 0": no resample is at or below 0
    assert p < 1 / 1001 and p == pytest.approx(stats.norm.cdf((0.0 - 0.10) / est.se), rel=1e-6)
    assert 40 * p < 0.025
    # inside the resolution the empirical tail is used, consistent with the percentile interval
    assert est.p_below(0.1) == pytest.approx((1 + np.count_nonzero(reps >= 0.1)) / 1001)
    assert est.p_below(0.0) == 1.0


def test_proportion_intervals_stay_within_their_range() -> None:
    # one row, discordant: the Agresti–Min Wald interval would reach -1.18
    one = Estimate.paired_proportions(0, 1, 1, 0.95)
    assert one.low == -1.0 and one.high <= 1.0
    assert Estimate.paired_proportions(1, 0, 1, 0.95).high == 1.0
    # no successes: the Wilson lower bound is 0, not a rounding residue such as 1.7e-18
    for n in (22, 137, 228, 1000):
        assert Estimate.wilson(0, n, 0.95).low == 0.0 and Estimate.wilson(n, n, 0.95).high == 1.0


@pytest.mark.parametrize("k, n", [(0, 12), (1, 12), (6, 12), (12, 12), (0, 228), (3, 228), (228, 228), (517, 1000)])
def test_wilson_interval_is_the_closed_form_score_interval(k: int, n: int) -> None:
    # Wilson (1927): the roots in p of (p̂ − p)² = z² p (1 − p) / n, solved by hand here
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.975)
    a, b, c = 1 + z * z / n, -(2 * k / n + z * z / n), (k / n) ** 2
    root = (b * b - 4 * a * c) ** 0.5
    est = Estimate.wilson(k, n, 0.95)
    assert est.low == pytest.approx((-b - root) / (2 * a), abs=1e-12)
    assert est.high == pytest.approx((-b + root) / (2 * a), abs=1e-12)
    assert (est.low == 0.0) == (k == 0) and (est.high == 1.0) == (k == n)  # exact at the ends, only there


@pytest.mark.parametrize("c_only, b_only, n", [(3, 1, 20), (0, 0, 50), (40, 12, 400), (0, 1, 1), (2, 0, 2)])
def test_agresti_min_interval_is_the_reference_formula_clipped_to_the_possible_range(c_only: int, b_only: int, n: int) -> None:
    # Agresti & Min (2005): add ½ to each cell of the paired 2×2 table, then the Wald interval of the difference
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.975)
    n12, n21, m = c_only + 0.5, b_only + 0.5, n + 2
    d = (n12 - n21) / m
    se = ((n12 + n21) - (n12 - n21) ** 2 / m) ** 0.5 / m
    est = Estimate.paired_proportions(c_only, b_only, n, 0.95)
    assert est.centre == pytest.approx(d) and est.se == pytest.approx(se)
    assert est.low == pytest.approx(max(d - z * se, -1.0)) and est.high == pytest.approx(min(d + z * se, 1.0))
    assert est.value == pytest.approx((c_only - b_only) / n)
