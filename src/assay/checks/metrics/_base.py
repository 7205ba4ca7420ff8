"""What a metric is, how it is evaluated under bootstrap weights, and the registry of names.

Every metric evaluates a batch of weightings at once: ``batch(outputs, W)`` with ``W`` of
shape (resamples, rows) returns one value per resample. A bootstrap resample *is* a
weighting (the count of times each row was drawn), and a slice is a weighting restricted
to its rows, so one code path serves point estimates, intervals and slices.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from assay.errors import InputError

__all__ = ["DecomposableMetric", "Metric", "Outputs", "PairMetric", "available", "make_metric", "register"]


@dataclass
class Outputs:
    """One model's outputs on the evaluated rows, in a shared encoding.

    Classification: ``y`` and ``labels`` are class indices into ``classes``; ``proba`` has one
    column per class in that order (None if the model gives no probabilities).
    Regression: ``y`` and ``values`` are floats.
    """

    task: str
    y: np.ndarray
    labels: np.ndarray | None = None
    proba: np.ndarray | None = None
    values: np.ndarray | None = None
    classes: np.ndarray | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n_classes(self) -> int:
        return 0 if self.classes is None else len(self.classes)

    def take(self, mask: np.ndarray) -> Outputs:
        pick = (lambda a: None if a is None else a[mask])  # noqa: E731
        return Outputs(self.task, self.y[mask], pick(self.labels), pick(self.proba), pick(self.values), self.classes)


class Metric:
    """Base class. Subclasses set ``name``, ``tasks``, ``greater_is_better``, ``needs_proba``."""

    name: ClassVar[str] = ""
    tasks: ClassVar[tuple[str, ...]] = ("binary", "multiclass", "regression")
    greater_is_better: ClassVar[bool] = True
    needs_proba: ClassVar[bool] = False
    pair: ClassVar[bool] = False  # compares candidate with baseline (flip rate, ...)
    bounds: ClassVar[tuple[float, float] | None] = None

    def __init__(self, **params: Any) -> None:
        if params:
            raise InputError(f"metric {self.name!r} takes no parameters, got {', '.join(params)}")
        self.params: dict[str, Any] = {}

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        return self.name + "(" + ", ".join(f"{k}={v}" for k, v in sorted(self.params.items())) + ")"

    def check(self, out: Outputs) -> None:
        if out.task not in self.tasks:
            raise InputError(f"metric {self.name!r} does not apply to a {out.task} task", hint=f"it applies to: {', '.join(self.tasks)}")
        if self.needs_proba and out.proba is None:
            raise InputError(f"metric {self.name!r} needs class probabilities, and the model gives only labels")

    def batch(self, out: Outputs, W: np.ndarray) -> np.ndarray:
        """Metric value under each weighting row of ``W`` (shape (b, n)) → shape (b,)."""
        raise NotImplementedError

    def value(self, out: Outputs) -> float:
        return float(self.batch(out, np.ones((1, len(out.y))))[0])


_LAST = threading.local()


def row_totals(W: np.ndarray) -> np.ndarray:
    """Row sums of a weight matrix, remembered (per thread) for the matrix last asked about:
    every metric of a bootstrap chunk divides by the same totals."""
    last = getattr(_LAST, "totals", None)
    if last is not None and last[0] is W:
        return last[1]
    totals = W.sum(axis=1, keepdims=True, dtype=np.float64)
    _LAST.totals = (W, totals)  # holding W keeps its identity unique while remembered
    return totals


def _cached_stats(out: Outputs, key: str, dtype: np.dtype, compute: Any) -> np.ndarray:
    """Per-row statistics, computed once per Outputs and kept in the dtype of the weights
    (a float32 weight matrix times float64 statistics would be upcast, copying it)."""
    S = out._cache.get(key)
    if S is None:
        S = out._cache[key] = np.asarray(compute(), dtype=np.float64).reshape(len(out.y), -1)
    if S.dtype != dtype:
        typed = out._cache.get(f"{key}:{dtype}")
        if typed is None:
            typed = out._cache[f"{key}:{dtype}"] = S.astype(dtype)
        return typed
    return S


class DecomposableMetric(Metric):
    """A function of the means of per-row statistics: accuracy, log loss, RMSE, precision, ..."""

    def stats(self, out: Outputs) -> np.ndarray:
        """Per-row statistics, shape (n, k)."""
        raise NotImplementedError

    def finalize(self, means: np.ndarray) -> np.ndarray:
        """Metric from the weighted means of the statistics, shape (b, k) → (b,)."""
        return means[:, 0]

    def batch(self, out: Outputs, W: np.ndarray) -> np.ndarray:
        S = _cached_stats(out, f"stats:{self.label}", W.dtype, lambda: self.stats(out))
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.finalize((W @ S).astype(np.float64) / row_totals(W))


def scores_rows(metric: Metric) -> bool:
    """Whether the metric is the mean of one statistic per row (accuracy, Brier, log loss, MAE),
    so that each row has a score of its own, as slice discovery needs. Not a ratio of means
    (precision, F1), a function of one (RMSE), a ranking (ROC AUC), nor a pair metric."""
    return isinstance(metric, DecomposableMetric) and not metric.pair and type(metric).finalize is DecomposableMetric.finalize


class PairMetric(DecomposableMetric):
    """A decomposable metric of (candidate, baseline) outputs on the same rows."""

    pair = True
    greater_is_better = False

    def pair_stats(self, cand: Outputs, base: Outputs) -> np.ndarray:
        raise NotImplementedError

    def pair_batch(self, cand: Outputs, base: Outputs, W: np.ndarray) -> np.ndarray:
        S = _cached_stats(cand, f"pair:{self.label}:{id(base)}", W.dtype, lambda: self.pair_stats(cand, base))
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.finalize((W @ S).astype(np.float64) / row_totals(W))


_REGISTRY: dict[str, type[Metric]] = {}
_PLUGINS_LOADED = False


def register(cls: type[Metric]) -> type[Metric]:
    """Class decorator: make a metric available by its ``name`` (user metrics too, via entry points)."""
    _REGISTRY[cls.name] = cls
    return cls


def _load_plugins() -> None:
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="assay.plugins"):
        if not ep.name.startswith("metric."):
            continue
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must say which one
            raise InputError(f"the metric plugin {ep.name} ({ep.value}) failed to load: {exc}") from None
        if isinstance(obj, type) and issubclass(obj, Metric):
            _REGISTRY.setdefault(obj.name or ep.name[len("metric."):], obj)


def available() -> list[str]:
    _load_plugins()
    return sorted(_REGISTRY)


def make_metric(name: str, **params: Any) -> Metric:
    """The metric registered as ``name``, configured with ``params``."""
    if name not in _REGISTRY:
        _load_plugins()
    cls = _REGISTRY.get(name)
    if cls is None:
        raise InputError(f"unknown metric {name!r}", hint=f"known metrics: {', '.join(available())}")
    return cls(**params)
