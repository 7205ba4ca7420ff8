"""Running a suite: load, predict once per model, bootstrap once, judge every gate."""


from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.checks._cells import Cell, estimate_cells
from assay.checks._context import Context, classes_of, features_of, load_models
from assay.checks._data import load_table
from assay.checks._judge import finish_gates, gate_result
from assay.checks._multitest import adjust
from assay.checks._result import CheckResult
from assay.checks._slices import Slice, expand_slices
from assay.checks._suite import GateSpec, Suite
from assay.checks.metrics import Metric, make_metric
from assay.errors import InputError
from assay.models import ModelError

if TYPE_CHECKING:
    from assay.workspace import Workspace

__all__ = ["run_suite"]


def _per_row_score(ctx: Context, name: str | None) -> tuple[np.ndarray, str, bool]:
    """Per-row improvement of the candidate over the baseline, for slice discovery; the metric's
    name and whether greater is better (to report deltas as candidate − baseline, as gates do)."""
    from assay.checks.metrics import scores_rows

    oc, ob = ctx.outputs["candidate"], ctx.outputs["baseline"]
    if name is None:  # the first gate against the baseline whose metric scores rows, else accuracy / MAE
        relative = [g.metric for g in ctx.suite.gates if g.kind in ("non_inferiority", "superiority", "equivalence")]
        name = next((m for m in relative if scores_rows(make_metric(m))), "mae" if ctx.suite.task == "regression" else "accuracy")
    # a named one scores rows (the suite's parser refuses others), with the parameters the suite gives it
    metric = make_metric(name, **next((m.params for m in ctx.suite.metrics if m.name == name), {}))
    sc = np.asarray(metric.stats(oc), dtype=np.float64).reshape(ctx.n, -1)
    sb = np.asarray(metric.stats(ob), dtype=np.float64).reshape(ctx.n, -1)
    assert sc.shape[1] == 1, f"{metric.name} scores rows but gave {sc.shape[1]} statistics per row"
    sign = 1.0 if metric.greater_is_better else -1.0
    return sign * (sc[:, 0] - sb[:, 0]), metric.name, metric.greater_is_better


def _validate(suite: Suite) -> None:
    """Check a suite built in Python (``Suite(...)``) as a suite file is checked: its canonical form
    goes through the same parser, so a confidence of 1.5 or a metric listed twice is refused here too,
    not half-way through the run. A suite read from a file passes again: the canonical form of a valid
    suite is valid."""
    from assay.checks._suite_parse import parse_suite

    parse_suite(suite.to_dict(), {}, "the suite")


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
    executor: str | None = None,
) -> CheckResult:
    """Run ``suite`` on ``candidate`` (and ``baseline``): model references, paths or adapters.

    ``data`` overrides the suite's data: a file, ``NAME@REF``, or in-memory columns (a dict
    of arrays, a pyarrow Table or a DataFrame).

    ``executor`` (``local`` or ``ray``) decides where robustness batches run, overriding
    each robustness test's ``executor`` parameter; results are the same either way.

    Returns a :class:`CheckResult`; when ``ws`` is given and ``record`` is set, it is stored
    in the ledger and linked to the model and data versions it judged.
    """
    if executor not in (None, "local", "ray"):
        raise InputError(f"unknown executor {executor!r}", hint="use local or ray")
    _validate(suite)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    seed = suite.seed if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:  # numpy's generators take no negative seed
        raise InputError(f"the seed must be an integer ≥ 0, got {seed!r}")
    if data is None and suite.data is None:
        raise InputError("the suite names no data and none was given",
                         hint="add `data: FILE` or `data: NAME@REF` to the suite, or pass --data (data= in Python)")
    table = load_table(data if data is not None else suite.data, ws=ws, base_dir=suite.base_dir)
    features, y = features_of(suite, table)
    models = load_models(candidate, baseline, ws, trust)
    needs_base = any(g.kind in ("non_inferiority", "superiority", "equivalence") or make_metric(g.metric).pair for g in suite.gates)
    if needs_base and "baseline" not in models:
        raise InputError("the suite has gates relative to a baseline", hint="pass --baseline MODEL")
    ctx = Context(suite=suite, table=table, features=features, y_raw=y, classes=classes_of(suite, y, models), models=models, seed=seed,
                  executor=executor)
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
    slices: list[Slice] = []
    for i, spec in enumerate(suite.slices):
        try:
            slices += expand_slices([spec], table.columns, ctx.n)
        except InputError as exc:
            raise suite.located(f"slices[{i}]", exc) from None
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
    cells = estimate_cells(ctx, unique)
    timings["statistics_s"] = time.perf_counter() - t2

    gates = [gate_result(g, cells[(metrics[g.metric].label, s.name if s else None)], ctx) for g, s in gate_cells]

    t3 = time.perf_counter()
    from assay.checks._behaviour import run_behaviour

    for i, b in enumerate(suite.behaviour):
        try:
            gates.append(run_behaviour(b, ctx))
        except InputError as exc:
            raise suite.located(f"behaviour[{i}]", exc) from None
    timings["behaviour_s"] = time.perf_counter() - t3
    finish_gates(gates, suite)

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

            score, used, greater_is_better = _per_row_score(ctx, suite.discover.metric)
            try:
                discovered = discover_slices(score, table.columns, features.columns, suite.discover,
                                             confidence=suite.confidence, seed=seed, metric=used,
                                             greater_is_better=greater_is_better)
            except InputError as exc:
                raise suite.located("discover", exc) from None
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


def _slice_report(ctx: Context, slices: list[Slice], metrics: list[Metric], cells: dict[tuple[str, str | None], Cell]) -> list[dict[str, Any]]:
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
