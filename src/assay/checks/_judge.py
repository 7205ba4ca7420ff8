"""Turning an estimate into a gate status: pass, fail (after multiple-testing correction) or inconclusive."""

from __future__ import annotations

import numpy as np
from scipy import stats

from assay._wording import counted
from assay.checks._cells import Cell
from assay.checks._context import Context
from assay.checks._estimate import Estimate, minimum_detectable_difference
from assay.checks._multitest import adjust
from assay.checks._result import GateResult
from assay.checks._suite import GateSpec, Suite
from assay.errors import InputError

__all__ = ["finish_gates", "gate_result"]


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


def gate_result(gate: GateSpec, cell: Cell, ctx: Context) -> GateResult:
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
        why = f"only {counted(n, 'row')} (min_slice_rows is {ctx.suite.min_slice_rows})" if n < ctx.suite.min_slice_rows else "the metric is undefined on these rows"
        return GateResult(**base, ci_low=est.low, ci_high=est.high, p_value=None, status="inconclusive", p_fail=None,
                          mdd=None, method=est.method, reason=why)
    p_pass, p_fail = _p_values(est, side, t)
    details = base.pop("details")
    # a score interval's spread at the threshold sets the power (a proportion of 1.0 has no spread of its own)
    mdd_se = est.null_se(t) if est.null_se is not None and side != "within" else est.se
    mdd = minimum_detectable_difference(mdd_se, conf)
    details = {**details, "side": side, "bound": t, "se": est.se}
    if est.null_se is not None and (side == "at_least" and t >= 1 or side == "at_most" and t <= 0):
        mdd = float("inf")  # a proportion cannot be shown above 1 (below 0) by any number of rows
    elif est.null_se is not None and side != "within" and 0 < t < 1:
        # the best outcome (every row right, or none) passes the score test only when n > z² t / (1 − t)
        z2 = stats.norm.ppf(1 - (1 - conf) / 2) ** 2
        needed = int(np.floor(z2 * (t / (1 - t) if side == "at_least" else (1 - t) / t))) + 1
        if n < needed:
            details["rows_to_pass"] = needed
    return GateResult(**base, ci_low=est.low, ci_high=est.high, p_value=p_pass, status="pending", p_fail=p_fail,
                      mdd=mdd, method=est.method,
                      details=details)


def finish_gates(gates: list[GateResult], suite: Suite) -> None:
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
            if "rows_to_pass" in g.details:
                g.reason += (f"; with {g.n} rows not even the best outcome could pass: that takes at least "
                             f"{g.details['rows_to_pass']} rows")
            elif g.mdd == 0 and g.ci_low == g.ci_high:
                # no spread at all (two models that agree on every row): no number of rows moves the interval
                g.reason += f"; the {what} is {lo} on every resample, so it cannot be shown {_side_words(side, bound, True)}"
            elif g.mdd is not None and np.isfinite(g.mdd):
                g.reason += f"; with {g.n} rows the smallest difference this gate resolves (80% power) is about {g.mdd:.4g}"
            elif g.mdd == float("inf"):
                # the bound is the end of the scale: passing needs a value beyond it, so no data settles it
                g.reason += f"; {bound:g} is the end of the scale: no number of rows can show the value {_side_words(side, bound, True)}"
            if g.p_fail is not None and g.p_fail < alpha:
                g.reason += f"; it would fail alone, but not after {suite.correction} correction over {len(stat)} tests"
        if g.mdd == float("inf"):
            g.mdd = None  # no difference is resolvable; the reason says why


def _side_words(side: str, t: float, passing: bool) -> str:
    t = t + 0.0  # (a superiority margin of 0 on a lower-is-better metric is -0.0: said as 0)
    if side == "at_least":
        return f"above {t:g}" if passing else f"below {t:g}"
    if side == "at_most":
        return f"below {t:g}" if passing else f"above {t:g}"
    return f"within ±{t:g}" if passing else f"outside ±{t:g}"


def _fmt(v: float | None) -> str:
    return "nan" if v is None or not np.isfinite(v) else f"{v:.4g}"
