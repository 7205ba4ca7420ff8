"""Every metric against scikit-learn, unweighted and under bootstrap-count weights."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from assay.checks.metrics import Outputs, available, make_metric
from assay.errors import InputError


def _binary(n: int = 400, seed: int = 0) -> tuple[Outputs, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    p = np.round(p, 2)  # ties, on purpose
    proba = np.column_stack([1 - p, p])
    return Outputs("binary", y, (p > 0.5).astype(int), proba, None, np.array([0, 1])), p


def _multiclass(n: int = 500, k: int = 4, seed: int = 1) -> Outputs:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Outputs("multiclass", y, proba.argmax(axis=1), proba, None, np.arange(k))


def _regression(n: int = 300, seed: int = 2) -> Outputs:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n) * 3
    return Outputs("regression", y, values=y + rng.normal(size=n))


def _pinball(y, yhat, alpha, sample_weight=None):  # noqa: ANN001, ANN202
    return skm.mean_pinball_loss(y, yhat, alpha=alpha, sample_weight=sample_weight)


def _ece_reference(y, proba, bins=15):  # noqa: ANN001, ANN202
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        m = (conf >= lo) & ((conf < hi) if b < bins - 1 else (conf <= hi))
        if m.any():
            total += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return total


BINARY = {
    "accuracy": lambda o, p, w: skm.accuracy_score(o.y, o.labels, sample_weight=w),
    "precision": lambda o, p, w: skm.precision_score(o.y, o.labels, sample_weight=w),
    "recall": lambda o, p, w: skm.recall_score(o.y, o.labels, sample_weight=w),
    "f1": lambda o, p, w: skm.f1_score(o.y, o.labels, sample_weight=w),
    "roc_auc": lambda o, p, w: skm.roc_auc_score(o.y, p, sample_weight=w),
    "pr_auc": lambda o, p, w: skm.average_precision_score(o.y, p, sample_weight=w),
    "log_loss": lambda o, p, w: skm.log_loss(o.y, o.proba, sample_weight=w),
    "brier": lambda o, p, w: skm.brier_score_loss(o.y, p, sample_weight=w),
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_metrics_match_sklearn_plain_and_weighted(name: str) -> None:
    out, p = _binary()
    metric = make_metric(name)
    assert metric.value(out) == pytest.approx(BINARY[name](out, p, None), abs=1e-12)
    rng = np.random.default_rng(5)
    W = np.stack([np.bincount(rng.integers(0, len(p), len(p)), minlength=len(p)) for _ in range(3)]).astype(float)
    got = metric.batch(out, W)
    for row, value in zip(W, got, strict=True):
        assert value == pytest.approx(BINARY[name](out, p, row), abs=1e-10)


@pytest.mark.parametrize("name,ref", [
    ("accuracy", lambda o: skm.accuracy_score(o.y, o.labels)),
    ("precision", lambda o: skm.precision_score(o.y, o.labels, average="macro", zero_division=0)),
    ("recall", lambda o: skm.recall_score(o.y, o.labels, average="macro", zero_division=0)),
    ("f1", lambda o: skm.f1_score(o.y, o.labels, average="macro", zero_division=0)),
    ("roc_auc", lambda o: skm.roc_auc_score(o.y, o.proba, multi_class="ovr", average="macro")),
    ("pr_auc", lambda o: np.mean([skm.average_precision_score(o.y == c, o.proba[:, c]) for c in range(4)])),
    ("log_loss", lambda o: skm.log_loss(o.y, o.proba)),
    ("brier", lambda o: np.mean(((o.proba - np.eye(4)[o.y]) ** 2).sum(axis=1))),
    ("ece", lambda o: _ece_reference(o.y, o.proba)),
])
def test_multiclass_metrics(name: str, ref) -> None:  # noqa: ANN001
    out = _multiclass()
    assert make_metric(name).value(out) == pytest.approx(ref(out), abs=1e-12)


def test_macro_precision_when_a_class_is_never_predicted() -> None:
    y = np.array([0, 1, 2, 2, 1, 0])
    labels = np.array([0, 1, 1, 1, 1, 0])
    out = Outputs("multiclass", y, labels, None, None, np.arange(3))
    assert make_metric("precision").value(out) == pytest.approx(skm.precision_score(y, labels, average="macro", zero_division=0))
    assert make_metric("f1").value(out) == pytest.approx(skm.f1_score(y, labels, average="macro", zero_division=0))


@pytest.mark.parametrize("name,ref", [
    ("mae", lambda o: skm.mean_absolute_error(o.y, o.values)),
    ("rmse", lambda o: np.sqrt(skm.mean_squared_error(o.y, o.values))),
    ("r2", lambda o: skm.r2_score(o.y, o.values)),
    ("quantile_loss", lambda o: _pinball(o.y, o.values, 0.5)),
])
def test_regression_metrics(name: str, ref) -> None:  # noqa: ANN001
    out = _regression()
    assert make_metric(name).value(out) == pytest.approx(ref(out), rel=1e-10)


def test_quantile_loss_alpha_and_validation() -> None:
    out = _regression()
    assert make_metric("quantile_loss", alpha=0.9).value(out) == pytest.approx(_pinball(out.y, out.values, 0.9))
    with pytest.raises(InputError):
        make_metric("quantile_loss", alpha=1.5)
    with pytest.raises(InputError, match="unknown metric"):
        make_metric("no_such_metric")


def test_every_issue_metric_is_registered() -> None:
    wanted = {"accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier", "ece", "mae", "rmse",
              "r2", "quantile_loss", "flip_rate", "agreement", "prob_distance"}
    assert wanted <= set(available())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 5), st.integers(1, 4)), min_size=4, max_size=60))
def test_weighted_auc_equals_auc_of_repeated_rows(rows: list[tuple[int, int, int]]) -> None:
    """A weight of k is the same as the row appearing k times (that is what a bootstrap count means)."""
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows], dtype=float)
    w = np.array([r[2] for r in rows], dtype=float)
    if len(set(y)) < 2:
        return
    out = Outputs("binary", y, (s > 2).astype(int), np.column_stack([1 - s / 5, s / 5]), None, np.array([0, 1]))
    rep = np.repeat(np.arange(len(y)), w.astype(int))
    expected = skm.roc_auc_score(y[rep], s[rep])
    assert make_metric("roc_auc").batch(out, w[None, :])[0] == pytest.approx(expected, abs=1e-12)
    assert make_metric("pr_auc").batch(out, w[None, :])[0] == pytest.approx(skm.average_precision_score(y[rep], s[rep]), abs=1e-12)


def test_ranking_metrics_without_ties_take_the_fast_path_and_agree() -> None:
    rng = np.random.default_rng(9)
    n = 700
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(y + rng.normal(size=n))))  # continuous: no ties
    out = Outputs("binary", y, (p > 0.5).astype(int), np.column_stack([1 - p, p]), None, np.array([0, 1]))
    W = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(4)]).astype(float)
    for row, auc, ap in zip(W, make_metric("roc_auc").batch(out, W), make_metric("pr_auc").batch(out, W), strict=True):
        assert auc == pytest.approx(skm.roc_auc_score(y, p, sample_weight=row), abs=1e-12)
        assert ap == pytest.approx(skm.average_precision_score(y, p, sample_weight=row), abs=1e-12)


def test_user_metrics_register_by_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    from assay.checks.metrics import DecomposableMetric
    from assay.checks.metrics import _base

    class HalfAccuracy(DecomposableMetric):
        name = "half_accuracy"
        tasks = ("binary",)

        def stats(self, out: Outputs) -> np.ndarray:
            return 0.5 * (out.labels == out.y)

    class EP:
        name, value = "metric.half_accuracy", "pkg:HalfAccuracy"

        def load(self) -> type:
            return HalfAccuracy

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: [EP()] if group == "assay.plugins" else [])
    monkeypatch.setattr(_base, "_PLUGINS_LOADED", False)
    monkeypatch.setitem(_base._REGISTRY, "accuracy", _base._REGISTRY["accuracy"])  # restored after the test
    out, _ = _binary()
    try:
        assert make_metric("half_accuracy").value(out) == pytest.approx(0.5 * make_metric("accuracy").value(out))
    finally:
        _base._REGISTRY.pop("half_accuracy", None)


@pytest.mark.parametrize("name", sorted(BINARY) + ["ece"])
def test_float32_bootstrap_weights_agree_with_float64(name: str) -> None:
    """The bootstrap draws float32 counts (exact integers); metric values must not notice."""
    out, _ = _binary(n=3000, seed=4)
    rng = np.random.default_rng(8)
    W = np.stack([np.bincount(rng.integers(0, 3000, 3000), minlength=3000) for _ in range(5)])
    metric = make_metric(name)
    np.testing.assert_allclose(metric.batch(out, W.astype(np.float32)), metric.batch(out, W.astype(np.float64)), rtol=2e-6)
