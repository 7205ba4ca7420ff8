"""Bad models are reported per model with the error, never a crash or a silent pass."""

from __future__ import annotations

import time

import numpy as np
import pytest

from assay.models import Features, ModelError, PredictionCache, from_estimator, from_function, guarded_predict

X = Features.from_numpy(np.random.default_rng(0).normal(size=(20, 3)))


def test_wrong_number_of_features(fitted: dict) -> None:
    m = from_estimator(fitted["model"], name="iris")
    with pytest.raises(ModelError, match="expects 4 features but the data has 3"):
        guarded_predict(m, X)


def test_exception_inside_predict() -> None:
    def boom(X: np.ndarray) -> np.ndarray:
        raise ZeroDivisionError("oops")

    with pytest.raises(ModelError, match="boom: predict raised ZeroDivisionError: oops"):
        guarded_predict(from_function(boom, name="boom"), X)

    def hungry(X: np.ndarray) -> np.ndarray:
        raise MemoryError  # no message of its own: said so, not "MemoryError: " and nothing

    with pytest.raises(ModelError, match=r"hungry: predict raised MemoryError: \(no message\)$"):
        guarded_predict(from_function(hungry, name="hungry"), X)


@pytest.mark.parametrize("output,match", [
    (lambda X: np.full(len(X), np.nan), "NaN"),
    (lambda X: np.column_stack([np.full(len(X), np.nan), np.ones(len(X))]), "NaN or infinite probabilities"),
    (lambda X: np.zeros(len(X) - 1), r"shape \(19,\) for 20 rows; expected one value per row, shape \(20,\)"),
    (lambda X: np.column_stack([np.full(len(X), 2.0), -np.ones(len(X))]), "outside"),
])
def test_unusable_outputs(output, match: str) -> None:  # noqa: ANN001
    with pytest.raises(ModelError, match=match):
        guarded_predict(from_function(output, name="bad"), X)


def test_a_row_of_probabilities_off_one_is_named_by_its_row_in_the_whole_table_not_the_batch() -> None:
    def f(X: np.ndarray) -> np.ndarray:
        p = np.full((len(X), 2), 0.5)
        p[X[:, 1] == 13.0] = [0.5, 0.6]
        return p

    big = Features.from_numpy(np.column_stack([np.zeros(20), np.arange(20.0)]))
    with pytest.raises(ModelError, match=r"row 13 \(counting from 0\), the first such row, sums to 1.1\n"):
        guarded_predict(from_function(f, name="f", classes=[0, 1]), big, batch_size=8)  # row 13 is the 6th of the 2nd batch


def test_a_model_that_hangs_is_cut_off() -> None:
    def hang(X: np.ndarray) -> np.ndarray:
        time.sleep(30)
        return np.zeros(len(X))

    t0 = time.perf_counter()
    with pytest.raises(ModelError, match="did not return within 0.3 s"):
        guarded_predict(from_function(hang, name="hang"), X, timeout_s=0.3)
    assert time.perf_counter() - t0 < 5


def test_cache_predicts_each_row_once() -> None:
    calls = []

    def f(X: np.ndarray) -> np.ndarray:
        calls.append(len(X))
        return (X[:, 0] > 0).astype(int)

    m = from_function(f, name="f")
    cache = PredictionCache()
    for _ in range(5):
        cache.get(m, X, "datahash")
    assert calls == [20] and cache.rows_predicted == 20
    cache.get(m, X, "datahash", variant="noise")
    assert calls == [20, 20]
