"""What the parts of a running check share: the data, the models, their encoded outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from assay._wording import noun_for
from assay.checks._data import Table
from assay.checks._suite import Suite
from assay.checks.metrics import Outputs
from assay.errors import InputError
from assay.models import Features, ModelAdapter, ModelError, Prediction, PredictionCache

if TYPE_CHECKING:
    from assay.workspace import Workspace

__all__ = ["Context", "classes_of", "features_of", "load_models"]


@dataclass
class Context:
    """Everything the parts of a check share while it runs."""

    suite: Suite
    table: Table
    features: Features
    y_raw: np.ndarray
    classes: np.ndarray | None
    models: dict[str, ModelAdapter]
    seed: int
    executor: str | None = None  # overrides each robustness test's own `executor` when set
    cache: PredictionCache = field(default_factory=PredictionCache)
    predictions: dict[str, Prediction] = field(default_factory=dict)
    outputs: dict[str, Outputs] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.y_raw)

    @property
    def roles(self) -> list[str]:
        return [r for r in ("candidate", "baseline") if r in self.models]

    # -- encoding ---------------------------------------------------------------------------
    def encode_label(self, value: Any) -> int:
        assert self.classes is not None
        hits = [i for i, c in enumerate(self.classes.tolist()) if _label_key(c) == _label_key(value)]
        if not hits:
            raise InputError(f"{value!r} is not one of the classes {self.classes.tolist()}")
        return int(hits[0])

    def _encode_labels(self, labels: np.ndarray) -> np.ndarray:
        assert self.classes is not None
        lookup = {_label_key(c): i for i, c in enumerate(self.classes.tolist())}
        uniq, inverse = np.unique(labels.astype(str) if labels.dtype == object else labels, return_inverse=True)
        codes = np.array([lookup.get(_label_key(u), -1) for u in uniq.tolist()], dtype=np.int64)
        return codes[inverse.reshape(-1)]

    def encode(self, role: str, pred: Prediction) -> Outputs:
        task = self.suite.task
        y = self.y_encoded
        name = self.models[role].name
        if task == "regression":
            if pred.proba is not None:  # a 2-D answer, read as class probabilities: its argmax is no regression value
                raise ModelError(f"{name}: predict returned an array of shape {pred.proba.shape}; the regression target "
                                 f"{self.suite.target!r} needs one value per row, shape ({len(pred.proba)},)")
            try:
                values = np.asarray(pred.labels, dtype=np.float64)
            except (TypeError, ValueError):
                shown = ", ".join(repr(v) for v in list(dict.fromkeys(np.asarray(pred.labels).ravel().tolist()))[:3])
                raise ModelError(f"{self.models[role].name}: predicts values that are not numbers ({shown}) for the "
                                 f"regression target {self.suite.target!r}") from None
            return Outputs(task, y, values=values)
        labels = self._encode_labels(np.asarray(pred.labels))
        proba = None
        if pred.proba is not None:
            cols = pred.classes if pred.classes is not None else self.models[role].classes
            proba = np.zeros((len(labels), len(self.classes)))  # type: ignore[arg-type]
            if cols is None or len(cols) != pred.proba.shape[1]:
                raise ModelError(f"{self.models[role].name}: probabilities have {pred.proba.shape[1]} columns but the model names no classes")
            idx = self._encode_labels(np.asarray(cols))
            k = len(self.classes)  # type: ignore[arg-type]
            unnamed = self.models[role].classes is None and [_label_key(c) for c in cols] == [str(j) for j in range(len(cols))]
            if pred.proba.shape[1] != k and ((idx < 0).any() or unnamed):
                # columns the model did not name are read as classes 0..m-1: with the wrong count, that is a shape error
                raise ModelError(f"{name}: predict returned probabilities of shape {pred.proba.shape}; the {task} target "
                                 f"{self.suite.target!r} needs one row per input and one column per class, shape "
                                 f"({len(pred.proba)}, {k}) for the classes {_shown(self.classes.tolist())}")  # type: ignore[union-attr]
            if (idx < 0).any():
                unknown = [c for c, i in zip(cols, idx, strict=True) if i < 0]
                raise ModelError(f"{name}: predicts classes {_shown(list(unknown))} that the target column {self.suite.target!r} never has; "
                                 f"its classes are {_shown(self.classes.tolist())}")  # type: ignore[union-attr]
            proba[:, idx] = pred.proba
        if (labels < 0).any():
            bad = list(dict.fromkeys(np.asarray(pred.labels)[labels < 0].tolist()))  # distinct, as plain values
            shown = ", ".join(repr(b) for b in bad[:5]) + (", …" if len(bad) > 5 else "")
            raise ModelError(f"{self.models[role].name}: predicts {noun_for(len(bad), 'label')} {shown} that "
                             f"{'is not a class' if len(bad) == 1 else 'are not classes'} of {self.suite.target!r}",
                             hint=f"classes in the data: {self.classes.tolist()[:10]}")  # type: ignore[arg-type]
        return Outputs(task, y, labels=labels, proba=proba, classes=self.classes)

    @property
    def y_encoded(self) -> np.ndarray:
        if self.suite.task == "regression":
            return self.y_raw.astype(np.float64)
        return self._encode_labels(self.y_raw)

    def outputs_for(self, role: str, features: Features, variant: str) -> Outputs:
        model = self.models[role]
        pred = self.cache.get(model, features, self.table.hash, variant=variant, timeout_s=self.suite.timeout_s)
        out = self.encode(role, pred)
        return out

    def score(self, role: str, out: Outputs, rows: np.ndarray | None, cls: Any) -> np.ndarray:
        """The number a directional test watches: P(class) or the regression value."""
        if self.suite.task == "regression":
            v = out.values
        else:
            if out.proba is None:
                raise InputError("a directional test on a classifier needs class probabilities")
            c = self.encode_label(cls) if cls is not None else (1 if self.suite.task == "binary" else 0)
            v = out.proba[:, c]
        assert v is not None
        return v if rows is None else v[rows]


def _label_key(value: Any) -> str:
    """How labels are matched across data and models: 1, 1.0 and True are the same class."""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


# -- loading ------------------------------------------------------------------------------------
def features_of(suite: Suite, table: Table) -> tuple[Features, np.ndarray]:
    cols = table.columns
    if suite.target not in cols:
        raise InputError(f"the data has no target column {suite.target!r}", hint=f"columns: {', '.join(list(cols)[:20])}")
    names = suite.features or [c for c in cols if c != suite.target]
    missing = [c for c in names if c not in cols]
    if missing:
        raise InputError(f"the data lacks feature {noun_for(len(missing), 'column')} {', '.join(missing)}")
    y = cols[suite.target]
    if len(y) == 0:  # else each model's own complaint about 0 samples stands in for this
        raise InputError("the data has no rows", hint="check the file, or the dataset version, that the suite or --data names")
    # for every task: a regression target with NaN made every metric NaN, reported as "undefined", exit 1
    if y.dtype.kind == "f":
        gaps = np.flatnonzero(np.isnan(y))
    elif y.dtype == object:
        gaps = np.flatnonzero([v is None or (isinstance(v, float) and v != v) for v in y.tolist()])
    else:
        gaps = np.zeros(0, dtype=np.int64)
    if len(gaps):
        shown = ", ".join(str(i) for i in gaps[:5]) + (", …" if len(gaps) > 5 else "")
        raise InputError(f"the target column {suite.target!r} has missing values in {len(gaps)} of {len(y)} rows "
                         f"({noun_for(len(gaps), 'row')} {shown}, counting from 0)", hint="a row without its true value cannot be scored: drop or fill those rows")
    if suite.task == "regression" and y.dtype.kind not in "biuf":
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            bad = [v for v in y.tolist() if not _is_number(v)]
            raise InputError(f"the regression target {suite.target!r} holds values that are not numbers "
                             f"({', '.join(repr(v) for v in list(dict.fromkeys(bad))[:3])})",
                             hint="a regression task needs a numeric target; for labels, use task: binary or multiclass") from None
    # ±inf (or text such as "inf" read as a number) made a regression metric inf, "undefined", exit 1,
    # and a binary inf label a third class: refused like a missing value, by row
    if y.dtype.kind == "f":
        odd = np.flatnonzero(~np.isfinite(y))
    elif y.dtype == object:
        odd = np.flatnonzero([isinstance(v, (float, np.floating)) and not np.isfinite(v) for v in y.tolist()])
    else:
        odd = np.zeros(0, dtype=np.int64)
    if len(odd):
        shown = ", ".join(f"{i} = {float(y[i])}" for i in odd[:5]) + (", …" if len(odd) > 5 else "")
        raise InputError(f"the target column {suite.target!r} has {noun_for(len(odd), 'a non-finite target value', 'non-finite target values')} in {len(odd)} of {len(y)} rows "
                         f"({noun_for(len(odd), 'row')} {shown}, counting from 0)",
                         hint="a true value of inf or -inf cannot be scored: drop those rows or replace the values")
    return Features(list(names), [cols[c] for c in names]), y


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def classes_of(suite: Suite, y: np.ndarray, models: dict[str, ModelAdapter]) -> np.ndarray | None:
    if suite.task == "regression":
        return None
    seen = {_label_key(v): v for v in np.unique(y.astype(str) if y.dtype == object else y).tolist()}
    for role, m in models.items():
        if m.classes is not None and not any(_label_key(c) in seen for c in np.asarray(m.classes).tolist()):
            # a model trained on other labels (0/1/2 for a/b/c) would be scored as wrong everywhere
            # and, merged with the target's, could make a multiclass task of six classes that passes
            raise ModelError(f"{role} model: {m.name}: predicts classes {_shown(np.asarray(m.classes).tolist())} "
                             f"that the target column {suite.target!r} never has; its classes are {_shown(list(seen.values()))}",
                             hint="score the model on data labelled as it was trained, or map the target to the model's classes")
    for m in models.values():
        if m.classes is not None:
            for c in np.asarray(m.classes).tolist():
                seen.setdefault(_label_key(c), c)
    values = list(seen.values())
    try:
        values.sort()
    except TypeError:
        values.sort(key=str)
    classes = np.asarray(values, dtype=object if any(isinstance(v, str) for v in values) else None)
    if suite.task == "binary":
        if len(classes) != 2:
            raise InputError(f"a binary task needs exactly two classes; {suite.target!r} and the models have {len(classes)}: {values[:10]}")
        if suite.positive is not None:
            pos = [i for i, c in enumerate(classes) if str(c) == str(suite.positive)]
            if not pos:
                raise InputError(f"positive class {suite.positive!r} is not one of {values}")
            if pos[0] == 0:
                classes = classes[::-1].copy()
    return classes


def _shown(values: list[Any], limit: int = 10) -> str:
    """Class labels as plain values ([0, 1, 2], ['a', 'b']), not numpy reprs; at most ``limit``."""
    plain = [v.item() if isinstance(v, np.generic) else v for v in values]
    return repr(plain[:limit])[:-1] + (", …]" if len(plain) > limit else "]")


def load_models(candidate: Any, baseline: Any, ws: Workspace | None, trust: bool) -> dict[str, ModelAdapter]:
    from assay.models import load_model

    models: dict[str, ModelAdapter] = {}
    errors: list[str] = []
    hints: list[str] = []
    for role, ref in (("candidate", candidate), ("baseline", baseline)):
        if ref is None:
            continue
        if isinstance(ref, ModelAdapter):
            models[role] = ref
            continue
        try:
            models[role] = load_model(ref, ws=ws, trust=trust)
        except InputError as exc:
            # the hint stays a hint (`--json` has it under "hint", not inside "message")
            errors.append(f"{role}: {exc.message}")
            if exc.hint and exc.hint not in hints:
                hints.append(exc.hint)
    if errors:
        raise ModelError("; ".join(errors), hint="; ".join(hints) or None)
    return models
