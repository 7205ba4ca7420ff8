"""Multiclass and regression suites end to end, with ONNX and string class labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assay.checks import Suite, run_suite
from assay.models import from_estimator


def test_multiclass_with_string_labels_and_an_onnx_candidate(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    names = np.array(["barolo", "grignolino", "barbera"], dtype=object)[y]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X[::2], names[::2])
    onx = skl2onnx.convert_sklearn(model, initial_types=[("input", FloatTensorType([None, X.shape[1]]))],
                                   options={id(model): {"zipmap": False}})
    (tmp_path / "m.onnx").write_bytes(onx.SerializeToString())
    data = {f"c{j}": X[1::2, j] for j in range(X.shape[1])} | {"wine": names[1::2]}
    suite = Suite.from_yaml("data: x\ntarget: wine\ntask: multiclass\nmetrics: [accuracy, f1, roc_auc, pr_auc, log_loss, ece]\n"
                            "gates:\n  - {metric: accuracy, equivalence: 0.05}\n  - {metric: flip_rate, max: 0.05}\n"
                            "  - {metric: prob_distance, max: 0.01}\n", source="s.yaml")
    suite.bootstrap = 300
    r = run_suite(suite, candidate=str(tmp_path / "m.onnx"), baseline=from_estimator(model, name="sk"), data=data)
    by = {g.metric: g for g in r.gates}
    # float32 ONNX vs float64 scikit-learn: the same model, so equivalent and no flips
    assert by["accuracy"].delta == 0.0 and by["flip_rate"].candidate_value == 0.0
    assert by["prob_distance"].candidate_value < 1e-4
    assert by["flip_rate"].status == "pass" and by["prob_distance"].status == "pass"
    assert by["flip_rate"].ci_high > 0  # a score interval: zero flips in 89 rows does not prove a zero rate
    assert {m["metric"] for m in r.metrics} == {"accuracy", "f1", "roc_auc", "pr_auc", "log_loss", "ece",
                                             "flip_rate", "prob_distance"}


def test_regression_suite() -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True)
    good = Ridge(alpha=0.1).fit(X[:300], y[:300])
    worse = Ridge(alpha=50.0).fit(X[:300], y[:300])
    data = {f"x{j}": X[300:, j] for j in range(X.shape[1])} | {"target": y[300:]}
    suite = Suite.from_yaml("data: x\ntarget: target\ntask: regression\n"
                            "metrics: [mae, rmse, r2, {name: quantile_loss, alpha: 0.9}]\n"
                            "gates:\n  - {metric: mae, non_inferiority: 1.0}\n  - {metric: r2, min: 0.2}\n")
    r = run_suite(suite, candidate=from_estimator(worse, name="worse"), baseline=from_estimator(good, name="good"), data=data)
    mae = r.gates[0]
    assert mae.delta > 5 and mae.status == "fail"
    assert {m["metric"] for m in r.metrics} == {"mae", "rmse", "r2", "quantile_loss(alpha=0.9)"}


def test_float_labels_match_integer_classes_and_label_only_models_are_named() -> None:
    from assay.errors import InputError
    from assay.models import from_function

    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    data = {"x": x, "label": (x > 0).astype(float)}  # 0.0 / 1.0 in the data, 0 / 1 from the models
    proba = from_function(lambda X: np.column_stack([1 / (1 + np.exp(5 * X[:, 0])), 1 / (1 + np.exp(-5 * X[:, 0]))]),
                          name="p", classes=[0, 1])
    labels_only = from_function(lambda X: (X[:, 0] > 0.1).astype(int), name="labels-only")
    suite = Suite.from_yaml("data: x\ntarget: label\ntask: binary\nmetrics: [accuracy]\n"
                            "gates:\n  - {metric: accuracy, non_inferiority: 0.05}\n")
    r = run_suite(suite, candidate=labels_only, baseline=proba, data=data)
    assert r.gates[0].candidate_value > 0.9
    suite_auc = Suite.from_yaml("data: x\ntarget: label\ntask: binary\nmetrics: [roc_auc]\ngates: [{metric: roc_auc, min: 0}]\n")
    with pytest.raises(InputError, match="labels-only: metric 'roc_auc' needs class probabilities"):
        run_suite(suite_auc, candidate=labels_only, baseline=proba, data=data)


@pytest.mark.parametrize("task, target", [
    ("regression", np.array([1.5, np.nan, 2.0, 3.0] * 10)),
    ("binary", np.array([0.0, 1.0, np.nan, 1.0] * 10)),
    ("binary", np.array(["yes", "no", None, "no"] * 10, dtype=object)),
])
def test_a_target_with_missing_values_is_refused_for_every_task(task: str, target: np.ndarray) -> None:
    # a regression target with NaN used to make every metric NaN: "undefined", inconclusive, exit 1
    from assay.errors import InputError
    from assay.models import from_function

    metric = "mae" if task == "regression" else "accuracy"
    suite = Suite.from_yaml(f"target: y\ntask: {task}\nmetrics: [{metric}]\ngates:\n  - {{metric: {metric}, max: {100 if task == 'regression' else 1}}}\n")
    model = from_function(lambda X: np.zeros(len(X)) if task == "regression" else np.full(len(X), target[0]), name="m")
    with pytest.raises(InputError) as info:
        run_suite(suite, candidate=model, data={"x": np.arange(40.0), "y": target})
    first = ", ".join(str(i) for i in np.flatnonzero([v is None or v != v for v in target])[:5])
    assert info.value.message == f"the target column 'y' has missing values in 10 of 40 rows (rows {first}, …, counting from 0)"
    assert info.value.exit_code == 2


def test_labels_the_target_never_has_are_named_once_each() -> None:
    from assay.models import ModelError, from_function

    suite = Suite.from_yaml("target: y\ntask: binary\nmetrics: [accuracy]\ngates: [{metric: accuracy, min: 0}]\n")
    y = np.array(["benign", "malignant"] * 20, dtype=object)
    model = from_function(lambda X: np.full(len(X), "cancer"), name="m")
    with pytest.raises(ModelError) as info:
        run_suite(suite, candidate=model, data={"x": np.arange(40.0), "y": y})
    # not "[np.str_('cancer'), np.str_('cancer'), np.str_('cancer')]"
    assert info.value.message == "candidate model: m: predicts label 'cancer' that is not a class of 'y'"


def test_a_regression_model_that_returns_text_is_a_model_error() -> None:
    from assay.models import ModelError, from_function

    suite = Suite.from_yaml("target: y\ntask: regression\nmetrics: [mae]\ngates: [{metric: mae, max: 100}]\n")
    model = from_function(lambda X: np.array(["high"] * len(X)), name="m")
    with pytest.raises(ModelError) as info:  # was an internal error: could not convert string to float
        run_suite(suite, candidate=model, data={"x": np.arange(40.0), "y": np.arange(40.0)})
    assert info.value.message == "candidate model: m: predicts values that are not numbers ('high') for the regression target 'y'"


def test_a_regression_target_of_text_is_an_input_error() -> None:
    from assay.errors import InputError
    from assay.models import from_function

    suite = Suite.from_yaml("target: y\ntask: regression\nmetrics: [mae]\ngates: [{metric: mae, max: 100}]\n")
    model = from_function(lambda X: np.zeros(len(X)), name="m")
    y = np.array(["1.5", "abc", "2"] * 10, dtype=object)
    with pytest.raises(InputError) as info:  # was an internal error: could not convert string to float
        run_suite(suite, candidate=model, data={"x": np.arange(30.0), "y": y})
    assert info.value.message == "the regression target 'y' holds values that are not numbers ('abc')"
    numbers = np.array(["1.5", "0", "2"] * 10, dtype=object)  # text that reads as numbers is fine
    assert run_suite(suite, candidate=model, data={"x": np.arange(30.0), "y": numbers}).metrics[0]["candidate"] == pytest.approx(3.5 / 3)


def test_a_multiclass_model_trained_on_other_labels_is_refused_naming_both_sides(tmp_path: Path, cli) -> None:  # noqa: ANN001
    # wine classes as a/b/c in the data, 0/1/2 in the model: merged, they made a six-class task that
    # scored accuracy 0 and log_loss 36 and could pass (exit 0)
    import pyarrow as pa
    import pyarrow.parquet as pq
    import skops.io as sio
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression

    X, y = load_wine(return_X_y=True)
    sio.dump(LogisticRegression(max_iter=5000).fit(X, y), tmp_path / "m.skops")
    cols = {f"c{j}": X[:, j] for j in range(X.shape[1])} | {"wine": np.array(["a", "b", "c"], dtype=object)[y]}
    pq.write_table(pa.table(cols), tmp_path / "wine_str.parquet")
    (tmp_path / "s.yaml").write_text("target: wine\ntask: multiclass\nmetrics: [accuracy, log_loss]\n"
                                     "gates:\n  - {metric: log_loss, max: 100}\n")
    doc = json.loads(cli("check", "s.yaml", "--candidate", "m.skops", "--data", "wine_str.parquet", "--json", cwd=tmp_path, check=2).stdout)
    assert doc["message"] == ("candidate model: m.skops: predicts classes [0, 1, 2] that the target column 'wine' never has; "
                              "its classes are ['a', 'b', 'c']")


def test_a_model_that_knows_a_class_the_data_lacks_is_still_scored() -> None:
    # the refusal above is for labels with nothing in common, not for a class absent from a small test set
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression

    X, y = load_wine(return_X_y=True)
    model = from_estimator(LogisticRegression(max_iter=5000).fit(X, y), name="m")
    keep = y < 2
    data = {f"c{j}": X[keep, j] for j in range(X.shape[1])} | {"wine": y[keep]}
    suite = Suite.from_yaml("target: wine\ntask: multiclass\nmetrics: [accuracy]\ngates: [{metric: accuracy, min: 0}]\n")
    assert run_suite(suite, candidate=model, data=data).metrics[0]["candidate"] > 0.9


@pytest.mark.parametrize("rows, first, total", [([[0.7, 0.7]] * 40, 0, 1.4), ([[0.4, 0.6]] * 39 + [[0.2, 0.5]], 39, 0.7)])
def test_probabilities_that_do_not_sum_to_one_are_refused_naming_the_first_bad_row(rows: list, first: int, total: float) -> None:
    from assay.models import ModelError, from_function

    suite = Suite.from_yaml("target: y\ntask: binary\nmetrics: [accuracy, log_loss]\ngates: [{metric: accuracy, min: 0}]\n")
    model = from_function(lambda X: {"probabilities": rows[: len(X)]}, name="p", classes=[0, 1])
    with pytest.raises(ModelError) as info:  # was scored and recorded
        run_suite(suite, candidate=model, data={"x": np.arange(40.0), "y": np.arange(40) % 2})
    assert info.value.message == (f"candidate model: p: predict_proba returned rows of 2 probabilities that do not sum to 1: "
                                  f"row {first} (counting from 0), the first such row, sums to {total:g}")
    assert info.value.exit_code == 2


def test_probabilities_off_by_float32_rounding_are_accepted() -> None:
    from assay.models import from_function

    rng = np.random.default_rng(0)
    raw = rng.random((400, 5)).astype(np.float32)
    proba = raw / raw.sum(axis=1, keepdims=True)  # float32 sums: off from 1 by up to a few 1e-7
    suite = Suite.from_yaml("target: y\ntask: multiclass\nmetrics: [log_loss]\ngates: [{metric: log_loss, max: 100}]\n")
    model = from_function(lambda X: proba[X[:, 0].astype(int)], name="p", classes=[0, 1, 2, 3, 4])
    r = run_suite(suite, candidate=model, data={"x": np.arange(400.0), "y": np.arange(400) % 5})
    assert np.isfinite(r.metrics[0]["candidate"])


@pytest.mark.parametrize("task, target, shown", [
    ("regression", np.array([1.5, 2.0, 3.0, np.inf] * 10), "rows 3 = inf, 7 = inf, 11 = inf, 15 = inf, 19 = inf, …"),
    ("binary", np.array([0.0, 1.0, 1.0, 0.0] * 9 + [0.0, -np.inf, 1.0, 0.0]), "row 37 = -inf"),
    ("binary", np.array([0.0, 1.0, 1.0, 0.0] * 9 + [0.0, np.inf, 1.0, 0.0], dtype=object), "row 37 = inf"),
    ("regression", np.array(["1.5", "2", "inf", "3"] * 10, dtype=object), "rows 2 = inf, 6 = inf, 10 = inf, 14 = inf, 18 = inf, …"),
])
def test_an_infinite_target_is_refused_like_a_missing_one(task: str, target: np.ndarray, shown: str) -> None:
    # regression: every metric inf, "undefined", exit 1; binary: inf read as a third class
    from assay.errors import InputError
    from assay.models import from_function

    metric = "mae" if task == "regression" else "accuracy"
    gate = f"{{metric: {metric}, max: 100}}" if task == "regression" else f"{{metric: {metric}, min: 0}}"
    suite = Suite.from_yaml(f"target: y\ntask: {task}\nmetrics: [{metric}]\ngates:\n  - {gate}\n")
    model = from_function(lambda X: np.zeros(len(X)), name="m")
    with pytest.raises(InputError) as info:
        run_suite(suite, candidate=model, data={"x": np.arange(40.0), "y": target})
    k = shown.count("=") if "…" not in shown else 10
    what = "a non-finite target value" if k == 1 else "non-finite target values"
    assert info.value.message == f"the target column 'y' has {what} in {k} of 40 rows ({shown}, counting from 0)"
    assert info.value.exit_code == 2


@pytest.mark.parametrize("task, output, message", [
    ("binary", lambda X: np.full((len(X), 3), 1 / 3),
     "predict returned probabilities of shape (40, 3); the binary target 'y' needs one row per input and one column per class, "
     "shape (40, 2) for the classes [0, 1]"),
    ("multiclass", lambda X: np.full((len(X), 2), 0.5),
     "predict returned probabilities of shape (40, 2); the multiclass target 'y' needs one row per input and one column per class, "
     "shape (40, 3) for the classes [0, 1, 2]"),
    ("regression", lambda X: np.full((len(X), 3), 1 / 3),
     "predict returned an array of shape (40, 3); the regression target 'y' needs one value per row, shape (40,)"),
    ("binary", lambda X: np.zeros(len(X) - 1),
     "predict returned an array of shape (39,) for 40 rows; expected one value per row, shape (40,)"),
    ("binary", lambda X: {"proba": np.full((len(X) - 2, 2), 0.5)},
     "predict_proba returned an array of shape (38, 2) for 40 rows; expected one row per input and one column per class, shape (40, 2)"),
])
def test_a_prediction_of_the_wrong_shape_is_refused_naming_both_shapes(task: str, output: object, message: str) -> None:
    # (n, 3) for a binary task said "predicts classes ['2'] that the target column never has";
    # for a regression task its argmax was scored as the predicted value
    from assay.models import ModelError, from_function

    metric = "mae" if task == "regression" else "accuracy"
    gate = f"{{metric: {metric}, max: 100}}" if task == "regression" else f"{{metric: {metric}, min: 0}}"
    suite = Suite.from_yaml(f"target: y\ntask: {task}\nmetrics: [{metric}]\ngates:\n  - {gate}\n")
    y = np.arange(40) % (3 if task == "multiclass" else 2)
    with pytest.raises(ModelError) as info:
        run_suite(suite, candidate=from_function(output, name="w"), data={"x": np.arange(40.0), "y": y})  # type: ignore[arg-type]
    assert info.value.message == f"candidate model: w: {message}"
    assert info.value.exit_code == 2


def test_a_wrong_row_count_in_a_later_batch_names_the_batch_and_the_table() -> None:
    """Past one batch (65,536 rows) the message said "for 65536 rows" of a larger table."""
    from assay.models import Features, ModelError, from_function, guarded_predict

    def short_second_batch(X: np.ndarray) -> np.ndarray:
        return np.zeros(len(X) - (1 if X[0, 0] >= 50 else 0))

    with pytest.raises(ModelError) as info:
        guarded_predict(from_function(short_second_batch, name="w"), Features.from_numpy(np.arange(120.0).reshape(-1, 1)), batch_size=50)
    assert info.value.message == ("w: predict returned an array of shape (49,) for a batch of 50 rows (rows 50–99 of 120, "
                                  "counting from 0); expected one value per row, shape (50,)")
