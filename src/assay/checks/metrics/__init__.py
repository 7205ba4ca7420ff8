"""Metrics by name. One file per metric; user metrics register through the ``assay.plugins``
entry-point group with names ``metric.<name>`` pointing at a :class:`Metric` subclass."""

from assay.checks.metrics import (  # noqa: F401 - importing registers the built-ins
    _accuracy,
    _brier,
    _ece,
    _f1,
    _log_loss,
    _mae,
    _pairs,
    _pr_auc,
    _precision,
    _quantile_loss,
    _r2,
    _recall,
    _rmse,
    _roc_auc,
)
from assay.checks.metrics._base import (
    DecomposableMetric,
    Metric,
    Outputs,
    PairMetric,
    available,
    make_metric,
    register,
    scores_rows,
)

__all__ = ["DecomposableMetric", "Metric", "Outputs", "PairMetric", "available", "make_metric", "register", "scores_rows"]
