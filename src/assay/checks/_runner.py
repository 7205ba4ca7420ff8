"""Running a suite: load, predict once per model, bootstrap once, judge every gate."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.checks._bootstrap import PairedBootstrap
from assay.checks._data import Table, load_table
from assay.checks._delong import delong
from assay.checks._estimate import Estimate, minimum_detectable_difference
from assay.checks._mcnemar import mcnemar
from assay.checks._multitest import adjust
from assay.checks._result import CheckResult, GateResult
from assay.checks._slices import Slice, expand_slices
from assay.checks._suite import GateSpec, Suite
from assay.checks.metrics import Metric, Outputs, make_metric
from assay.errors import InputError
from assay.models import Features, ModelAdapter, ModelError, Prediction, PredictionCache

if TYPE_CHECKING:
    from assay.workspace import Workspace

__all__ = ["Context", "run_suite"]


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
            raise InputError(f"{value!r} is not one of the classes {list(self.classes)}")
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
        if task == "regression":
            return Outputs(task, y, values=np.asarray(pred.labels, dtype=np.float64))
        labels = self._encode_labels(np.asarray(pred.labels))
        proba = None
        if pred.proba is not None:
            cols = pred.classes if pred.classes is not None else self.models[role].classes
            proba = np.zeros((len(labels), len(self.classes)))  # type: ignore[arg-type]
            if cols is None or len(cols) != pred.proba.shape[1]:
                raise ModelError(f"{self.models[role].name}: probabilities have {pred.proba.shape[1]} columns but the model names no classes")
            idx = self._encode_labels(np.asarray(cols))
            if (idx < 0).any():
                unknown = [str(c) for c, i in zip(cols, idx, strict=True) if i < 0]
                raise ModelError(f"{self.models[role].name}: predicts classes {unknown} that the target column never has")
            proba[:, idx] = pred.proba
        if (labels < 0).any():
            bad = np.asarray(pred.labels)[labels < 0][:3]
            raise ModelError(f"{self.models[role].name}: predicts labels {list(bad)} that are not classes of {self.suite.target!r}",
                             hint=f"classes in the data: {list(self.classes)[:10]}")  # type: ignore[arg-type]
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
def _features(suite: Suite, table: Table) -> tuple[Features, np.ndarray]:
    cols = table.columns
    if suite.target not in cols:
        raise InputError(f"the data has no target column {suite.target!r}", hint=f"columns: {', '.join(list(cols)[:20])}")
    names = suite.features or [c for c in cols if c != suite.target]
    missing = [c for c in names if c not in cols]
    if missing:
        raise InputError(f"the data lacks feature column(s) {', '.join(missing)}")
    y = cols[suite.target]
    if suite.task != "regression" and y.dtype.kind == "f" and np.isnan(y).any():
        raise InputError(f"the target column {suite.target!r} has missing values")
    return Features(list(names), [cols[c] for c in names]), y


def _classes(suite: Suite, y: np.ndarray, models: dict[str, ModelAdapter]) -> np.ndarray | None:
    if suite.task == "regression":
        return None
    seen = {_label_key(v): v for v in np.unique(y.astype(str) if y.dtype == object else y).tolist()}
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


def _load_models(candidate: Any, baseline: Any, ws: Workspace | None, trust: bool) -> dict[str, ModelAdapter]:
    from assay.models import load_model

    models: dict[str, ModelAdapter] = {}
    errors: list[str] = []
    for role, ref in (("candidate", candidate), ("baseline", baseline)):
        if ref is None:
            continue
        if isinstance(ref, ModelAdapter):
            models[role] = ref
            continue
        try:
            models[role] = load_model(ref, ws=ws, trust=trust)
        except InputError as exc:
            errors.append(f"{role}: {exc}")
    if errors:
        raise ModelError("; ".join(errors))
    return models


# -- judging -------------------------------------------------------------------------------------
def _side(kind: str, threshold: float, greater: bool) -> tuple[str, float]:
    """The quantity a gate tests and its threshold: ("at_least" | "at_most" | "within", t)."""
    if kind == "min":
        return "at_least", threshold
    if kind == "max":
        return "at_most", threshold
    if kind == "non_inferiority":
        return ("at_least", -threshold) if greater else ("at_most", threshold)
    if kind == "superiority":
        return ("at_least", threshold) if greater else ("at_most", -threshold)
    return "within", threshold


def _p_values(est: Estimate, side: str, t: float) -> tuple[float, float]:
    if side == "at_least":
        return est.p_above(t), est.p_below(t)
    if side == "at_most":
        return est.p_below(t), est.p_above(t)
    p_pass = max(est.p_above(-t), est.p_below(t))
    p_fail = min(est.p_below(-t), est.p_above(t))
    return p_pass, p_fail


class _Columns:
    """The columns of a weight matrix that belong to one slice, computed once per bootstrap chunk
    and shared by every metric evaluated on that slice."""

    def __init__(self, mask: np.ndarray | None) -> None:
        self.index = None if mask is None else np.flatnonzero(mask)
        self._local = threading.local()  # bootstrap chunks run on several threads

    def __call__(self, W: np.ndarray) -> np.ndarray:
        if self.index is None:
            return W
        last = getattr(self._local, "last", None)
        if last is not None and last[0] is W:
            return last[1]
        sub = W[:, self.index]
        self._local.last = (W, sub)
        return sub


@dataclass
class _Cell:
    """Metric values and bootstrap replicates for one metric on one slice."""

    metric: Metric
    slice: Slice | None
    cand: float
    base: float | None
    cand_est: Estimate
    delta_est: Estimate | None
    extra: dict[str, Any] = field(default_factory=dict)


def _check_metric(metric: Metric, out: Outputs, model: str) -> None:
    try:
        metric.check(out)
    except InputError as exc:
        raise InputError(f"{model}: {exc.message}", hint=exc.hint) from None


def _estimates(ctx: Context, wanted: list[tuple[Metric, Slice | None]]) -> dict[tuple[str, str | None], _Cell]:
    suite = ctx.suite
    conf = suite.confidence
    oc, ob = ctx.outputs["candidate"], ctx.outputs.get("baseline")
    cells: dict[tuple[str, str | None], _Cell] = {}
    statistics: dict[str, Any] = {}
    views: dict[str | None, tuple[Outputs, Outputs | None, np.ndarray | None]] = {None: (oc, ob, None)}
    for metric, sl in wanted:
        key = sl.name if sl else None
        if key not in views:
            views[key] = (oc.take(sl.mask), ob.take(sl.mask) if ob is not None else None, sl.mask)  # type: ignore[union-attr]
    plan: list[tuple[Metric, Slice | None, str]] = []
    selectors: dict[str | None, _Columns] = {}
    for metric, sl in wanted:
        key = sl.name if sl else None
        c_out, b_out, mask = views[key]
        sel = selectors.setdefault(key, _Columns(mask))
        tag = f"{metric.label}|{key}"
        if metric.pair:
            if b_out is None:
                raise InputError(f"{metric.name} compares the candidate with a baseline: pass --baseline")
            statistics[tag + "|c"] = (lambda W, m=metric, c=c_out, b=b_out, s=sel: m.pair_batch(c, b, s(W)))
            plan.append((metric, sl, "pair"))
            continue
        _check_metric(metric, c_out, ctx.models["candidate"].name)
        delong_ok = metric.name == "roc_auc" and suite.task == "binary"
        if delong_ok:
            plan.append((metric, sl, "delong"))
            continue
        statistics[tag + "|c"] = (lambda W, m=metric, o=c_out, s=sel: m.batch(o, s(W)))
        if b_out is not None:
            _check_metric(metric, b_out, ctx.models["baseline"].name)
            statistics[tag + "|b"] = (lambda W, m=metric, o=b_out, s=sel: m.batch(o, s(W)))
        plan.append((metric, sl, "bootstrap"))
    from assay.progress import bar

    with bar(total=suite.bootstrap, desc="bootstrap", unit="resamples") as progress:
        reps = PairedBootstrap(ctx.n, n_resamples=suite.bootstrap, seed=ctx.seed).run(statistics, progress) if statistics else {}
    boot = f"paired bootstrap ({suite.bootstrap} resamples, percentile)"
    for metric, sl, how in plan:
        key = sl.name if sl else None
        c_out, b_out, _ = views[key]
        tag = f"{metric.label}|{key}"
        if how == "pair":
            v = float(metric.pair_batch(c_out, b_out, np.ones((1, len(c_out.y))))[0])  # type: ignore[attr-defined,arg-type]
            est = Estimate.from_replicates(v, reps[tag + "|c"], conf, boot)
            if metric.name in ("flip_rate", "agreement"):  # proportions: a score interval (see accuracy)
                est = Estimate.wilson(int(round(v * len(c_out.y))), len(c_out.y), conf)
            cells[(metric.label, key)] = _Cell(metric, sl, v, None, est, None)
            continue
        if how == "delong":
            scores = [c_out.proba[:, 1]] + ([b_out.proba[:, 1]] if b_out is not None else [])  # type: ignore[index,union-attr]
            try:
                d = delong(c_out.y, *scores)
            except ValueError:
                nan = float("nan")
                est = Estimate(nan, nan, nan, nan, "DeLong (undefined: fewer than two rows of a class)")
                cells[(metric.label, key)] = _Cell(metric, sl, nan, nan if b_out is not None else None, est, est if b_out is not None else None)
                continue
            cand = float(d.auc[0])
            est = Estimate.normal(cand, float(np.sqrt(d.cov[0, 0])), conf, "DeLong")
            est.low, est.high = max(est.low, 0.0), min(est.high, 1.0)  # an AUC lives in [0, 1]
            dest = None
            base = None
            extra: dict[str, Any] = {}
            if b_out is not None:
                base = float(d.auc[1])
                dest = Estimate.normal(d.delta, d.delta_se, conf, "DeLong (paired)")
                extra["delong_p_value"] = d.p_value()
            cells[(metric.label, key)] = _Cell(metric, sl, cand, base, est, dest, extra)
            continue
        cand = metric.value(c_out)
        est = Estimate.from_replicates(cand, reps[tag + "|c"], conf, boot)
        base = dest = None
        extra = {}
        rate = metric.name == "accuracy"
        if rate:
            # proportions get score intervals: a percentile bootstrap collapses to a point when
            # every row agrees (accuracy 1.0, or no discordant pair), and would then pass anything
            right = c_out.labels == c_out.y
            extra["bootstrap_ci"] = [est.low, est.high]
            est = Estimate.wilson(int(right.sum()), len(right), conf)
        if b_out is not None:
            base = metric.value(b_out)
            dest = Estimate.from_replicates(cand - base, reps[tag + "|c"] - reps[tag + "|b"], conf, boot)
            if rate:
                test = mcnemar(c_out.labels == c_out.y, b_out.labels == b_out.y)
                extra["mcnemar"] = test.to_dict()
                extra["bootstrap_delta_ci"] = [dest.low, dest.high]
                dest = Estimate.paired_proportions(test.candidate_only, test.baseline_only, len(c_out.y), conf)
        cells[(metric.label, key)] = _Cell(metric, sl, cand, base, est, dest, extra)
    return cells


def _gate_result(gate: GateSpec, cell: _Cell, ctx: Context) -> GateResult:
    conf = ctx.suite.confidence
    metric = cell.metric
    relative = gate.kind in ("non_inferiority", "superiority", "equivalence")
    est = cell.delta_est if relative else cell.cand_est
    n = int(cell.slice.n) if cell.slice else ctx.n
    side, t = _side(gate.kind, gate.threshold, metric.greater_is_better)
    base = dict(name=gate.title, metric=metric.label, kind=gate.kind, threshold=gate.threshold,
                slice=cell.slice.name if cell.slice else None, candidate_value=cell.cand, baseline_value=cell.base,
                delta=None if cell.base is None else cell.cand - cell.base, n=n, details=dict(cell.extra))
    if relative and est is None:
        raise InputError(f"gate {gate.title!r} compares with the baseline: pass --baseline")
    assert est is not None
    if n < ctx.suite.min_slice_rows or not est.defined:
        why = f"only {n} rows (min_slice_rows is {ctx.suite.min_slice_rows})" if n < ctx.suite.min_slice_rows else "the metric is undefined on these rows"
        return GateResult(**base, ci_low=est.low, ci_high=est.high, p_value=None, status="inconclusive", p_fail=None,
                          mdd=None, method=est.method, reason=why)
    p_pass, p_fail = _p_values(est, side, t)
    details = base.pop("details")
    return GateResult(**base, ci_low=est.low, ci_high=est.high, p_value=p_pass, status="pending", p_fail=p_fail,
                      mdd=minimum_detectable_difference(est.se, conf), method=est.method,
                      details={**details, "side": side, "bound": t, "se": est.se})


def _finish(gates: list[GateResult], suite: Suite) -> None:
    """Apply the multiple-testing correction to the fail side and settle each status.

    Passing needs every gate to pass on its own (an intersection–union test, level α without
    adjustment); declaring a failure is what many gates and slices inflate, so the fail-side
    p-values are adjusted (Holm by default) across every statistical gate.
    """
    alpha = (1 - suite.confidence) / 2
    stat = [g for g in gates if g.p_fail is not None]
    adjusted = adjust([g.p_fail for g in stat], suite.correction)  # type: ignore[misc]
    for g, pa in zip(stat, adjusted, strict=True):
        g.p_fail_adjusted = float(pa)
    for g in gates:
        if g.status not in ("pending", "inconclusive") or g.p_value is None:
            continue
        lo, hi = _fmt(g.ci_low), _fmt(g.ci_high)
        what = "delta" if g.kind in ("non_inferiority", "superiority", "equivalence") else "value"
        bound = g.details.get("bound", g.threshold)
        side = g.details.get("side", "at_most")
        if g.p_value < alpha:
            g.status = "pass"
            g.reason = f"the {suite.confidence:.0%} interval of the {what}, [{lo}, {hi}], is {_side_words(side, bound, True)}"
        elif g.p_fail_adjusted is not None and g.p_fail_adjusted < alpha:
            g.status = "fail"
            g.reason = f"the {suite.confidence:.0%} interval of the {what}, [{lo}, {hi}], is {_side_words(side, bound, False)}"
            if suite.correction != "none" and len(stat) > 1:
                g.reason += f" (significant after {suite.correction} correction over {len(stat)} tests)"
        else:
            g.status = "inconclusive"
            g.reason = f"the {suite.confidence:.0%} interval of the {what}, [{lo}, {hi}], does not settle {_side_words(side, bound, True)}"
            if g.mdd is not None and np.isfinite(g.mdd):
                g.reason += f"; with {g.n} rows the smallest difference this gate resolves (80% power) is about {g.mdd:.4g}"
            if g.p_fail is not None and g.p_fail < alpha:
                g.reason += f"; it would fail alone, but not after {suite.correction} correction over {len(stat)} tests"


def _side_words(side: str, t: float, passing: bool) -> str:
    if side == "at_least":
        return f"above {t:g}" if passing else f"below {t:g}"
    if side == "at_most":
        return f"below {t:g}" if passing else f"above {t:g}"
    return f"within ±{t:g}" if passing else f"outside ±{t:g}"


def _fmt(v: float | None) -> str:
    return "nan" if v is None or not np.isfinite(v) else f"{v:.4g}"


def _per_row_score(ctx: Context, name: str | None) -> tuple[np.ndarray, str]:
    """Per-row improvement of the candidate over the baseline, for slice discovery."""
    from assay.checks.metrics import DecomposableMetric

    oc, ob = ctx.outputs["candidate"], ctx.outputs["baseline"]
    default = "mae" if ctx.suite.task == "regression" else "accuracy"
    metric = make_metric(name or default)
    if not isinstance(metric, DecomposableMetric) or metric.pair or type(metric).finalize is not DecomposableMetric.finalize:
        metric = make_metric(default)
    sc = np.asarray(metric.stats(oc), dtype=np.float64).reshape(ctx.n, -1)
    sb = np.asarray(metric.stats(ob), dtype=np.float64).reshape(ctx.n, -1)
    if sc.shape[1] != 1:
        metric = make_metric(default)
        sc, sb = metric.stats(oc).reshape(-1, 1), metric.stats(ob).reshape(-1, 1)
    sign = 1.0 if metric.greater_is_better else -1.0
    return sign * (sc[:, 0] - sb[:, 0]), metric.name


def run_suite(
    suite: Suite,
    *,
    candidate: Any,
    baseline: Any = None,
    data: Any = None,
    ws: Workspace | None = None,
    trust: bool = False,
    seed: int | None = None,
    allow_inconclusive: bool = False,
    record: bool = True,
) -> CheckResult:
    """Run ``suite`` on ``candidate`` (and ``baseline``): model references, paths or adapters.

    ``data`` overrides the suite's data: a file, ``NAME@REF``, or in-memory columns (a dict
    of arrays, a pyarrow Table or a DataFrame).

    Returns a :class:`CheckResult`; when ``ws`` is given and ``record`` is set, it is stored
    in the ledger and linked to the model and data versions it judged.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    seed = suite.seed if seed is None else seed
    table = load_table(data if data is not None else suite.data, ws=ws, base_dir=suite.base_dir)
    features, y = _features(suite, table)
    models = _load_models(candidate, baseline, ws, trust)
    needs_base = any(g.kind in ("non_inferiority", "superiority", "equivalence") or make_metric(g.metric).pair for g in suite.gates)
    if needs_base and "baseline" not in models:
        raise InputError("the suite has gates relative to a baseline", hint="pass --baseline MODEL")
    ctx = Context(suite=suite, table=table, features=features, y_raw=y, classes=_classes(suite, y, models), models=models, seed=seed)
    timings["load_s"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    errors, hints = [], []
    for role in ctx.roles:
        try:
            pred = ctx.cache.get(models[role], features, table.hash, timeout_s=suite.timeout_s)
            ctx.predictions[role] = pred
            ctx.outputs[role] = ctx.encode(role, pred)
        except ModelError as exc:
            errors.append(f"{role} model: {exc.message}")
            if exc.hint and exc.hint not in hints:
                hints.append(exc.hint)
    if errors:
        raise ModelError("; ".join(errors), hint="; ".join(hints) or "each model is called on the suite's feature columns, in order")
    timings["predict_s"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    slices = expand_slices(suite.slices, table.columns, ctx.n)
    by_spec: dict[str, list[Slice]] = {}
    for s in slices:
        by_spec.setdefault(s.spec, []).append(s)
    metrics = {m.name: make_metric(m.name, **m.params) for m in suite.metrics}
    for g in suite.gates:
        metrics.setdefault(g.metric, make_metric(g.metric))
    wanted: list[tuple[Metric, Slice | None]] = [(m, None) for m in metrics.values()]
    gate_cells: list[tuple[GateSpec, Slice | None]] = []
    for g in suite.gates:
        gate_cells.append((g, None))
        targets = slices if g.slices == "all" else [s for name in (g.slices or []) for s in by_spec.get(name, [])]
        gate_cells += [(g, s) for s in targets]
    relative_metrics = [metrics[g.metric] for g in suite.gates if g.kind in ("non_inferiority", "superiority", "equivalence")]
    slice_metrics = list({m.name: m for m in (relative_metrics or list(metrics.values())[:1]) if not m.pair}.values())
    for s in slices:
        for m in slice_metrics:
            wanted.append((m, s))
    for g, s in gate_cells:
        if s is not None:
            wanted.append((metrics[g.metric], s))
    seen = set()
    unique = []
    for m, s in wanted:
        key = (m.label, s.name if s else None)
        if key not in seen and not (m.pair and "baseline" not in ctx.outputs):
            seen.add(key)
            unique.append((m, s))
    cells = _estimates(ctx, unique)
    timings["statistics_s"] = time.perf_counter() - t2

    gates = [_gate_result(g, cells[(metrics[g.metric].label, s.name if s else None)], ctx) for g, s in gate_cells]

    t3 = time.perf_counter()
    from assay.checks._behaviour import run_behaviour

    gates += [run_behaviour(b, ctx) for b in suite.behaviour]
    timings["behaviour_s"] = time.perf_counter() - t3
    _finish(gates, suite)

    counterexamples: list[dict[str, Any]] = []
    t4 = time.perf_counter()
    if suite.robustness:
        from assay.checks._robustness import run_robustness

        for spec in suite.robustness:
            gate, examples = run_robustness(spec, ctx)
            gates.append(gate)
            counterexamples += examples
    timings["robustness_s"] = time.perf_counter() - t4
    if suite.budgets is not None:
        from assay.checks._budgets import run_budgets

        t5 = time.perf_counter()
        budget_gates, _ = run_budgets(suite.budgets, ctx)
        gates += budget_gates
        timings["budgets_s"] = time.perf_counter() - t5

    metric_rows = []
    for m in metrics.values():
        cell = cells.get((m.label, None))
        if cell is None:
            continue
        metric_rows.append({"metric": m.label, "greater_is_better": m.greater_is_better, "candidate": cell.cand,
                            "candidate_ci": [cell.cand_est.low, cell.cand_est.high], "baseline": cell.base,
                            "delta": None if cell.base is None else cell.cand - cell.base,
                            "delta_ci": None if cell.delta_est is None else [cell.delta_est.low, cell.delta_est.high],
                            "method": cell.cand_est.method, **cell.extra})
    slice_rows = _slice_report(ctx, slices, slice_metrics, cells)

    discovered: list[dict[str, Any]] = []
    notes: list[str] = []
    if suite.discover is not None:
        if "baseline" not in ctx.outputs:
            notes.append("slice discovery compares with the baseline and was skipped: no baseline given")
        else:
            t6 = time.perf_counter()
            from assay.checks._discovery import discover_slices

            score, used = _per_row_score(ctx, suite.discover.metric)
            discovered = discover_slices(score, table.columns, features.columns, suite.discover,
                                         confidence=suite.confidence, seed=seed, metric=used)
            timings["discovery_s"] = time.perf_counter() - t6
    notes.append(
        f"Gates pass when the {suite.confidence:.0%} interval lies on the passing side of the threshold "
        f"(one-sided α = {(1 - suite.confidence) / 2:g}); failures are declared after {suite.correction} correction "
        f"across {sum(1 for g in gates if g.p_fail is not None)} statistical tests."
    )
    counts = {s: sum(1 for g in gates if g.status == s) for s in ("pass", "fail", "inconclusive")}
    passed = counts["fail"] == 0 and (counts["inconclusive"] == 0 or allow_inconclusive)
    timings["total_s"] = time.perf_counter() - t0
    result = CheckResult(
        passed=passed,
        candidate=models["candidate"].describe(),
        baseline=models["baseline"].describe() if "baseline" in models else None,
        data=table.describe(),
        gates=gates,
        suite=suite.to_dict(),
        suite_hash=suite.digest(),
        seed=seed,
        confidence=suite.confidence,
        correction=suite.correction,
        allow_inconclusive=allow_inconclusive,
        metrics=metric_rows,
        slices=slice_rows,
        discovered_slices=discovered,
        counterexamples=counterexamples,
        notes=notes,
        timings=timings,
    )
    result.data["rows_predicted"] = ctx.cache.rows_predicted
    if ws is not None and record:
        from assay.checks._record import record_result

        record_result(ws, result, suite_name=suite.name)
    return result


def _slice_report(ctx: Context, slices: list[Slice], metrics: list[Metric], cells: dict[tuple[str, str | None], _Cell]) -> list[dict[str, Any]]:
    """Every user slice × the compared metrics, with the evidence that the candidate is worse there."""
    alpha = (1 - ctx.suite.confidence) / 2
    rows = []
    for s in slices:
        for m in metrics:
            cell = cells.get((m.label, s.name))
            if cell is None:
                continue
            row: dict[str, Any] = {"slice": s.name, "rows": s.n, "metric": m.label, "candidate": cell.cand, "baseline": cell.base}
            if cell.delta_est is not None and cell.delta_est.defined and s.n >= ctx.suite.min_slice_rows:
                est = cell.delta_est
                row.update(delta=cell.cand - (cell.base or 0.0), ci_low=est.low, ci_high=est.high,
                           p_worse=est.p_below(0.0) if m.greater_is_better else est.p_above(0.0))
            rows.append(row)
    tested = [r for r in rows if "p_worse" in r]
    for r, pa in zip(tested, adjust([r["p_worse"] for r in tested], ctx.suite.correction), strict=True):
        r["p_adjusted"] = float(pa)
        r["regression"] = bool(pa < alpha)
    return rows
