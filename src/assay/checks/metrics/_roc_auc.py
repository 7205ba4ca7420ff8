from __future__ import annotations

import numpy as np

from assay.checks.metrics._base import Metric, Outputs, register
from assay.checks.metrics._ranking import class_labels as _labels
from assay.checks.metrics._ranking import score_column as _column
from assay.checks.metrics._ranking import weighted_auc


@register
class RocAuc(Metric):
    """Area under the ROC curve (binary: positive-class score; multiclass: macro one-vs-rest)."""

    name = "roc_auc"
    tasks = ("binary", "multiclass")
    needs_proba = True
    bounds = (0.0, 1.0)

    def batch(self, out: Outputs, W: np.ndarray) -> np.ndarray:
        assert out.proba is not None
        if out.task == "binary":
            return weighted_auc(out.y, _column(out, 1), W)
        per_class = [weighted_auc(_labels(out, c), _column(out, c), W) for c in range(out.n_classes)]
        return np.nanmean(np.column_stack(per_class), axis=1)
