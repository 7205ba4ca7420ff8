"""Calibration: on data without drift false alarms stay at the stated rate; injected shifts are found.

A share over S seeds is judged with a one-sided binomial test: it fails only when
that many alarms would be improbable (p < 0.001) if the true rate were alpha, so
the tests are strict about the rate yet do not flake on Monte Carlo noise.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from assay.drift import DriftSpec, compare, get_stat_test
from assay.drift._comparison import CategoricalComparison, NumericComparison
from assay.drift._multivariate import domain_classifier, mmd_permutation_test

ALPHA = 0.05


def assert_rate_at_most(alarms: int, trials: int, rate: float = ALPHA) -> None:
    assert stats.binom.sf(alarms - 1, trials, rate) > 1e-3, f"{alarms}/{trials} false alarms is above the stated rate {rate}"


def test_ks_p_values_are_calibrated() -> None:
    rng = np.random.default_rng(10)
    test = get_stat_test("ks")
    alarms = sum(test.numeric(NumericComparison.from_values(rng.normal(size=120), rng.normal(size=90))).p_value < ALPHA for _ in range(400))
    assert_rate_at_most(alarms, 400)
    # large samples use the asymptotic distribution: still calibrated
    big = sum(test.numeric(NumericComparison.from_values(rng.normal(size=12_000), rng.normal(size=11_000))).p_value < ALPHA for _ in range(60))
    assert_rate_at_most(big, 60)


@pytest.mark.parametrize("name", ["chi2", "gtest"])
def test_categorical_p_values_are_calibrated_with_rare_categories(name: str) -> None:
    rng = np.random.default_rng(11)
    probs = np.array([0.5, 0.3, 0.15, 0.03, 0.01, 0.005, 0.005])
    test = get_stat_test(name)
    alarms = 0
    for _ in range(400):
        ref, cur = rng.multinomial(300, probs), rng.multinomial(200, probs)
        alarms += test.categorical(CategoricalComparison(list("abcdefg"), ref, cur)).p_value < ALPHA
    assert_rate_at_most(alarms, 400)
    shifted = test.categorical(CategoricalComparison(list("abcdefg"), rng.multinomial(3000, probs), rng.multinomial(3000, probs[::-1])))
    assert shifted.p_value < 1e-6


def _table(rng: np.random.Generator, n: int, shift: float = 0.0, cat_shift: float = 0.0) -> pa.Table:
    cols = {f"x{i}": rng.normal(shift if i == 0 else 0.0, 1.0, n) for i in range(5)}
    p = np.array([0.5, 0.3, 0.2]) + np.array([-cat_shift, 0.0, cat_shift])
    for i in range(3):
        cols[f"c{i}"] = rng.choice(["a", "b", "c"], n, p=p if i == 0 else [0.5, 0.3, 0.2])
    return pa.table(cols)


def test_whole_report_keeps_the_family_wise_rate_under_no_drift() -> None:
    """Holm over 8 columns: the share of reports with any drifted column stays <= alpha."""
    rng = np.random.default_rng(12)
    # threshold 0 isolates the statistical part of the rule (the effect part only removes alarms)
    spec = DriftSpec(multivariate=False, numeric={"test": "ks", "threshold": 0.0}, categorical={"test": "chi2", "threshold": 0.0})
    runs = 150
    alarms = sum(compare(_table(rng, 150), _table(rng, 120), spec).drift for _ in range(runs))
    assert_rate_at_most(alarms, runs)


def test_binned_mode_is_calibrated_too() -> None:
    rng = np.random.default_rng(13)
    spec = DriftSpec(multivariate=False, method="binned", bins=200, numeric={"test": "ks", "threshold": 0.0}, categorical={"test": "chi2", "threshold": 0.0})
    runs = 60
    alarms = sum(compare(_table(rng, 3000), _table(rng, 2000), spec).drift for _ in range(runs))
    assert_rate_at_most(alarms, runs)


def test_injected_shifts_are_found_and_nothing_else() -> None:
    rng = np.random.default_rng(14)
    found, false = 0, 0
    for _ in range(20):
        report = compare(_table(rng, 3000), _table(rng, 3000, shift=0.5, cat_shift=0.15), DriftSpec(multivariate=False))
        found += set(report.drifted_columns) == {"x0", "c0"}
        false += len(set(report.drifted_columns) - {"x0", "c0"})
    assert found == 20
    assert false == 0


def test_large_n_trivial_shift_is_not_practical_drift() -> None:
    """At 400k rows a 0.02 sd shift is significant but far below the effect threshold."""
    rng = np.random.default_rng(15)
    ref = pa.table({"x": rng.normal(0, 1, 400_000)})
    cur = pa.table({"x": rng.normal(0.02, 1, 400_000)})
    report = compare(ref, cur, DriftSpec(multivariate=False))
    col = report.column("x")
    assert col.p_adjusted is not None and col.p_adjusted < 1e-6
    assert not col.drifted and not report.drift


def test_missing_rate_change_is_found_and_calibrated() -> None:
    rng = np.random.default_rng(16)

    def with_missing(n: int, rate: float) -> pa.Table:
        values = rng.normal(size=n)
        return pa.table({"x": pa.array(values, mask=rng.random(n) < rate)})

    spec = DriftSpec(multivariate=False)
    alarms = sum(compare(with_missing(400, 0.1), with_missing(300, 0.1), spec).drift for _ in range(150))
    assert_rate_at_most(alarms, 150)
    report = compare(with_missing(5000, 0.02), with_missing(5000, 0.15), spec)
    col = report.column("x")
    assert col.drifted and col.missing_rate["drifted"] and not col.reasons[0].startswith("KS")
    assert any(f.type == "missing_rate" for f in col.findings)


def test_mmd_permutations_in_blocks_give_the_same_p_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """The label matrix of every permutation was held at once: 10^8 permutations asked for 447 GiB
    (a MemoryError, exit 3). In blocks, the draws and the statistics are the same."""
    from assay.drift import _multivariate

    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 0.3
    whole = mmd_permutation_test(x, y, 500, 3)
    monkeypatch.setattr(_multivariate, "MMD_BLOCK", 7)
    assert mmd_permutation_test(x, y, 500, 3) == whole


def test_mmd_permutation_test_is_calibrated_and_has_power() -> None:
    rng = np.random.default_rng(17)
    alarms = sum(mmd_permutation_test(rng.normal(size=(25, 3)), rng.normal(size=(25, 3)), 99, seed)["p_value"] < ALPHA for seed in range(200))
    assert_rate_at_most(alarms, 200)
    shifted = mmd_permutation_test(rng.normal(size=(60, 3)), rng.normal(0.8, 1, size=(60, 3)), 199, 0)
    assert shifted["p_value"] < 0.01


def test_domain_classifier_does_not_alarm_on_no_drift_and_finds_a_joint_shift() -> None:
    rng = np.random.default_rng(18)
    spec = DriftSpec()
    alarms = 0
    for seed in range(25):
        spec.seed = seed
        alarms += domain_classifier(rng.normal(size=(300, 4)), rng.normal(size=(300, 4)), list("abcd"), spec)["drifted"]
    assert_rate_at_most(alarms, 25)
    # same marginals, flipped correlation: only a joint test can see it
    a = rng.normal(size=2000)
    b = rng.normal(size=2000)
    ref = np.column_stack([a, a + 0.3 * rng.normal(size=2000)])
    cur = np.column_stack([b, -b + 0.3 * rng.normal(size=2000)])
    out = domain_classifier(ref, cur, ["a", "b"], spec)
    assert out["drifted"] and out["auc"] > 0.8
    assert out["drivers"][0]["auc_drop"] > 0.1


def test_delong_auc_equals_mann_whitney() -> None:
    from assay.drift._multivariate import auc_delong

    rng = np.random.default_rng(19)
    scores = np.round(rng.normal(size=500), 1)  # ties on purpose
    labels = rng.integers(0, 2, 500)
    auc, se = auc_delong(scores, labels)
    u = stats.mannwhitneyu(scores[labels == 1], scores[labels == 0]).statistic
    assert auc == np.float64(u / ((labels == 1).sum() * (labels == 0).sum())) or abs(auc - u / ((labels == 1).sum() * (labels == 0).sum())) < 1e-12
    # DeLong's SE is close to the bootstrap SE
    boots = []
    for _ in range(300):
        idx = rng.integers(0, 500, 500)
        boots.append(auc_delong(scores[idx], labels[idx])[0])
    assert abs(se - np.std(boots)) < 0.25 * se


def _with_rare_categories(rng: np.random.Generator, n: int) -> pa.Table:
    return pa.table({
        "x": rng.normal(size=n),
        "user_id": [f"u{v}" for v in rng.integers(0, 10**6, n)],  # an identifier: almost every value new
        "zip": [f"z{v}" for v in rng.zipf(1.3, n) % 5000],  # a long tail of rare categories
    })  # fmt: skip


def test_multivariate_tests_do_not_alarm_on_identifiers_and_rare_categories() -> None:
    """Categories are encoded by their frequency in both samples, not the reference's alone,
    which let the classifier tell reference rows (seen, so frequency > 0) from current ones
    (unseen, 0): every report with an id column was drift, at AUC near 1."""
    rng = np.random.default_rng(21)
    classifier = mmd = 0
    for seed in range(8):
        out = compare(_with_rare_categories(rng, 1000), _with_rare_categories(rng, 1000), DriftSpec(seed=seed, mmd_permutations=99)).multivariate
        assert out is not None and abs(out["classifier"]["auc"] - 0.5) < 0.1
        classifier += out["classifier"]["drifted"]
        mmd += out["mmd"]["significant"]
    assert_rate_at_most(classifier, 8)
    assert_rate_at_most(mmd, 8)
    # a category that is new in the current data is still told apart
    ref, cur = _with_rare_categories(rng, 2000), _with_rare_categories(rng, 2000)
    zips = cur.column("zip").to_pylist()
    cur = cur.set_column(2, "zip", pa.array(["z-new" if i % 4 == 0 else z for i, z in enumerate(zips)]))
    out = compare(ref, cur, DriftSpec(mmd_permutations=99)).multivariate
    assert out is not None and out["classifier"]["drifted"] and out["classifier"]["drivers"][0]["feature"] == "zip"


def test_an_all_null_column_gives_no_numpy_warning() -> None:
    import warnings

    rng = np.random.default_rng(22)
    ref = pa.table({"x": rng.normal(size=200), "empty": pa.nulls(200)})
    cur = pa.table({"x": rng.normal(size=200), "empty": pa.nulls(200)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = compare(ref, cur, DriftSpec(mmd_permutations=99))
    assert report.multivariate is not None and "mmd" in report.multivariate


def _mixed(rng: np.random.Generator, n: int, shift: float = 0.0) -> pa.Table:
    return pa.table({
        "x": rng.normal(shift, 1.0, n),
        "skewed": rng.lognormal(size=n),
        "count": rng.integers(0, 5, n).astype(float),  # few values: many ties in the kernel
        "colour": rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]),
        "zip": [f"z{v}" for v in rng.zipf(1.3, n) % 500],
        "user_id": [f"u{v}" for v in rng.integers(0, 10**6, n)],
    })  # fmt: skip


MIXED_KINDS = {"x": "numeric", "skewed": "numeric", "count": "numeric", "colour": "categorical", "zip": "categorical", "user_id": "categorical"}


@pytest.mark.parametrize("rows", [60, 1000])
def test_mmd_on_mixed_columns_is_calibrated_at_the_default_sample_and_permutations(rows: int) -> None:
    """The whole MMD path (encoding, scaling, sampling, p-value) at the defaults: on 80 fixed
    seeds without drift the alarm rate stays at alpha and the p-values are about uniform."""
    from assay.drift._multivariate import mmd_drift

    rng = np.random.default_rng(23)
    p_values = np.array([mmd_drift(_mixed(rng, rows), _mixed(rng, rows), MIXED_KINDS, DriftSpec(seed=seed))["p_value"] for seed in range(80)])
    assert_rate_at_most(int((p_values < ALPHA).sum()), 80)
    assert stats.kstest(p_values, "uniform").pvalue > 1e-3
    shifted = [mmd_drift(_mixed(rng, rows), _mixed(rng, rows, shift=0.8), MIXED_KINDS, DriftSpec(seed=seed))["significant"] for seed in range(5)]
    assert all(shifted)


def _with_colour(rng: np.random.Generator, n: int, p: list[float], names: list[str]) -> pa.Table:
    return pa.table({
        "x": rng.normal(size=n), "y": rng.normal(size=n), "z": rng.normal(size=n),
        "colour": rng.choice(names, n, p=p),
        "user_id": [f"u{v}" for v in rng.integers(0, 10**6, n)],
    })  # fmt: skip


COLOUR_KINDS = {"x": "numeric", "y": "numeric", "z": "numeric", "colour": "categorical", "user_id": "categorical"}


def test_mmd_finds_a_renamed_category_and_swapped_shares_but_not_an_id_column() -> None:
    """Encoded by its pooled frequency, a category renamed at the same share (c -> d: both 0.1)
    or two categories that swap shares (a, c: both 0.35) look the same on both sides, and MMD
    found them in 1 of 5 seeds; one-hot of the common categories finds them every time, while
    an id column (every value rare, so all in the "other" bucket) still raises no alarm."""
    from assay.drift._multivariate import mmd_drift

    rng = np.random.default_rng(24)
    shares, same = [0.5, 0.3, 0.2], list("abc")
    for seed in range(5):
        ref = _with_colour(rng, 1000, shares, same)
        renamed = mmd_drift(ref, _with_colour(rng, 1000, shares, list("abd")), COLOUR_KINDS, DriftSpec(seed=seed))
        swapped = mmd_drift(ref, _with_colour(rng, 1000, shares[::-1], same), COLOUR_KINDS, DriftSpec(seed=seed))
        assert renamed["significant"] and swapped["significant"], (seed, renamed["p_value"], swapped["p_value"])
    p_values = np.array([mmd_drift(_with_colour(rng, 1000, shares, same), _with_colour(rng, 1000, shares, same), COLOUR_KINDS, DriftSpec(seed=seed))["p_value"] for seed in range(40)])
    assert_rate_at_most(int((p_values < ALPHA).sum()), 40)


def test_domain_classifier_finds_a_renamed_category_and_swapped_shares_but_not_an_id_column() -> None:
    """Encoded by its pooled share, a category renamed at the same count (b -> z: 300 each) or two
    categories that swap counts (a, c: 700 each over both sides) read the same on both sides: the
    classifier saw them only when sampling made the counts differ, and with exact counts in
    0 of 50 seeds each (AUC 0.50). A code per common category finds them every time; an id column
    (every value rare, so still its pooled share) raises no alarm."""
    from assay.drift._multivariate import encode_features

    def table(rng: np.random.Generator, counts: list[int], names: list[str]) -> pa.Table:
        t = _with_colour(rng, sum(counts), [1.0], ["-"])
        return t.set_column(3, "colour", pa.array(rng.permutation(np.repeat(names, counts))))

    def drifted(ref: pa.Table, cur: pa.Table, seed: int) -> bool:
        x_ref, x_cur, names = encode_features(ref, cur, COLOUR_KINDS)
        return domain_classifier(x_ref, x_cur, names, DriftSpec(seed=seed))["drifted"]

    rng = np.random.default_rng(25)
    counts, abc = [500, 300, 200], list("abc")
    for seed in range(4):
        ref = table(rng, counts, abc)
        assert drifted(ref, table(rng, counts, list("azc")), seed), seed
        assert drifted(ref, table(rng, counts[::-1], abc), seed), seed
    alarms = sum(drifted(table(rng, counts, abc), table(rng, counts, abc), seed) for seed in range(20))
    assert_rate_at_most(alarms, 20)
