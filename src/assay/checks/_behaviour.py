"""Behavioural tests: invariance, directional expectation, minimum functionality, fairness gaps."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from assay._wording import noun_for
from assay.checks._estimate import Estimate, minimum_detectable_difference
from assay.checks._expr import evaluate, parse_expression
from assay.checks._rates import clopper_pearson, rate_p_values
from assay.checks._result import GateResult
from assay.checks._suite import BehaviourSpec
from assay.errors import InputError

if TYPE_CHECKING:
    from assay.checks._context import Context

__all__ = ["run_behaviour", "validate_behaviour"]

_KEYS = {
    "invariance": {"column", "noise", "swap", "set", "max_flip_rate", "where", "name"},
    "directional": {"column", "delta", "expect", "max_violation_rate", "class", "where", "name"},
    "minimum_functionality": {"where", "expect", "min_accuracy", "name"},
    "fairness": {"group", "metric", "max_gap", "name"},
}


def validate_behaviour(kind: str, params: Any, task: str) -> str | None:
    """The reason ``params`` is invalid for ``kind``, or None."""
    if not isinstance(params, dict):
        return "takes a mapping of parameters"
    unknown = set(params) - _KEYS[kind]
    if unknown:
        return f"unknown {noun_for(len(unknown), 'key')} {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(_KEYS[kind]))})"
    if "where" in params:
        try:
            parse_expression(str(params["where"]))
        except InputError as exc:
            return exc.message
    for key in ("max_flip_rate", "max_violation_rate", "min_accuracy"):
        v = params.get(key)
        if key in params and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1):
            return f"{key} is a rate, between 0 and 1; got {v!r}"
    if kind == "invariance":
        if "column" not in params:
            return "invariance needs `column`"
        if sum(k in params for k in ("noise", "swap", "set")) != 1:
            return "invariance needs exactly one perturbation: noise (fraction of the column's spread), swap {a: b} or set VALUE"
        if task == "regression":
            return "invariance compares predicted classes; it applies to classification tasks"
    elif kind == "directional":
        if "column" not in params or not isinstance(params.get("delta"), (int, float)):
            return "directional needs `column` and a numeric `delta`"
        if params.get("expect") not in ("increase", "decrease"):
            return "directional needs expect: increase | decrease"
    elif kind == "minimum_functionality":
        if "where" not in params:
            return "minimum_functionality needs `where` (the rows it is about)"
        if task == "regression":
            return "minimum_functionality applies to classification tasks"
    elif kind == "fairness":
        if "group" not in params:
            return "fairness needs `group` (the column that defines the groups)"
        if params.get("metric", "selection_rate") not in ("selection_rate", "tpr", "fpr"):
            return "fairness metric is selection_rate, tpr or fpr"
        if task != "binary":
            return "fairness gaps are defined for binary tasks"
    return None


def _rate_gate(name: str, metric: str, kind: str, k: int, n: int, limit: float, *, at_most: bool, ctx: Context,
               baseline_rate: float | None, details: dict[str, Any]) -> GateResult:
    conf = ctx.suite.confidence
    low, high = clopper_pearson(k, n, conf)
    p_pass, p_fail = rate_p_values(k, n, limit, at_most=at_most)
    rate = k / n if n else float("nan")
    # the power to settle the question is set by the spread at the limit, not at the observed rate:
    # 0 flips in 228 rows has no spread, yet does not resolve differences of a millionth
    spread = limit * (1 - limit) if 0 < limit < 1 else rate * (1 - rate)
    se = float(np.sqrt(max(spread, 1e-12) / n)) if n else float("nan")
    # a rate cannot be shown below 0 (above 1) by any number of rows: no difference is resolvable
    mdd = float("inf") if (limit <= 0 if at_most else limit >= 1) else minimum_detectable_difference(se, conf)
    details = {**details, "side": "at_most" if at_most else "at_least", "bound": limit}
    if 0 < limit < 1 and n:
        # the best outcome (no flip, every row right) passes only with enough rows: (1 − limit)^n < α
        alpha = (1 - conf) / 2
        needed = int(np.ceil(np.log(alpha) / np.log(1 - limit if at_most else limit)))
        if n < needed:
            details["rows_to_pass"] = needed
    if n == 0:  # nothing to count: said as such, not as an interval of [nan, nan] that "does not settle"
        where = details.get("where")
        return GateResult(
            name=name, metric=metric, kind=kind, threshold=limit, slice=details.pop("slice", None), candidate_value=None,
            baseline_value=None, delta=None, ci_low=None, ci_high=None, p_value=None, p_fail=None, status="inconclusive",
            n=0, mdd=None, method="exact binomial (Clopper–Pearson)", details=details, group="behaviour",
            reason=f"no row matches `{where}`" if where else "no rows to test")
    return GateResult(
        name=name, metric=metric, kind=kind, threshold=limit, slice=details.pop("slice", None), candidate_value=rate,
        baseline_value=baseline_rate, delta=None if baseline_rate is None else rate - baseline_rate, ci_low=low,
        ci_high=high, p_value=p_pass, p_fail=p_fail, status="inconclusive", n=n,
        mdd=mdd, method="exact binomial (Clopper–Pearson)", details=details,
        group="behaviour",
    )


def _subset(spec: BehaviourSpec, ctx: Context) -> np.ndarray:
    where = spec.params.get("where")
    return evaluate(str(where), ctx.table.columns, ctx.n) if where else np.ones(ctx.n, dtype=bool)


def _perturb(spec: BehaviourSpec, ctx: Context, rows: np.ndarray) -> Any:
    col = spec.params["column"]
    if col not in ctx.features.columns:
        raise InputError(f"behaviour {spec.kind}: {col!r} is not a feature column")
    feats = ctx.features.take(rows)
    values = feats.arrays[feats.columns.index(col)]
    if "noise" in spec.params:
        spread = float(np.nanstd(values.astype(np.float64))) or 1.0
        rng = np.random.default_rng(ctx.seed + 101)
        new = values.astype(np.float64) + rng.normal(0, float(spec.params["noise"]) * spread, len(values))
    elif "swap" in spec.params:
        if not _swapped(spec.params["swap"], values).any():
            # else the test perturbs nothing and passes: 0 flips of an unchanged input
            raise InputError(f"behaviour {spec.kind}: swap {dict(spec.params['swap'])} changes no value of {col!r}",
                             hint=f"its values include {', '.join(map(str, np.unique(values.astype(str))[:5].tolist()))}")
        new = _swap(spec, col, values)
    elif "set" in spec.params:
        try:
            new = np.full(len(values), spec.params["set"], dtype=values.dtype if values.dtype.kind in "biuf" else object)
        except (TypeError, ValueError):
            raise InputError(f"behaviour {spec.kind}: set {spec.params['set']!r} does not fit column {col!r} "
                             f"({values.dtype} values)") from None
    else:
        new = values.astype(np.float64) + float(spec.params["delta"])
    return feats.replace(col, new)


def _swap_keys(swap: Any, values: np.ndarray) -> dict[Any, Any]:
    """The swap's mapping keyed as ``values`` are matched: by number in a number column (``{7: 8}``
    swaps a float column's 7.0, and so does ``{"7": 8}``; an integer column's keys are ints, so a
    value past 2**53 is told from its neighbours), by text in any other."""
    if values.dtype.kind in "iuf":
        keyed = {}
        for key, new in dict(swap).items():
            number = _number(key)
            if number is None:
                continue  # a text key names no number: it swaps nothing here
            if values.dtype.kind in "iu" and isinstance(number, float) and number.is_integer():
                number = int(number)
            keyed[number] = new
        return keyed
    return {str(key): new for key, new in dict(swap).items()}


def _number(key: Any) -> int | float | None:
    """A swap key as the number it names (``7``, ``7.5``, ``"7"``), or None."""
    if isinstance(key, (bool, int, np.bool_, np.integer)):
        return int(key)
    if isinstance(key, (float, np.floating)):
        return float(key)
    if isinstance(key, str):
        for parse in (int, float):
            try:
                return parse(key.strip())
            except ValueError:
                continue
    return None


def _swapped(swap: Any, values: np.ndarray) -> np.ndarray:
    """Which of ``values`` the swap changes."""
    keyed = _swap_keys(swap, values)
    if values.dtype.kind in "iuf":
        # compared as they are: a Python int against an int column exactly (a float64 copy
        # would make 2**53 + 1 equal 2**53); one out of the column's range equals none
        hit = np.zeros(values.shape, dtype=bool)
        for key in keyed:
            hit |= values == key
        return hit
    return np.fromiter((str(v) in keyed for v in values), dtype=bool, count=len(values))


def _swap(spec: BehaviourSpec, col: str, values: np.ndarray) -> np.ndarray:
    keyed = _swap_keys(spec.params["swap"], values)
    misfit = InputError(f"behaviour {spec.kind}: swap {dict(spec.params['swap'])} does not fit column {col!r} ({values.dtype} values)")
    if values.dtype.kind in "iuf":
        keyed = {key: math.nan if value is None else value for key, value in keyed.items()}  # None: missing
        if any(_number(t) is None or isinstance(t, str) for t in keyed.values()):
            raise misfit
        # the column keeps its type (a float32 column stays float32, an int32 one int32), so the
        # rows not swapped keep their values; an int column swapped to 8.5, None (or past its
        # range) holds floats: 8.5, not a silently truncated 8
        fits = values.dtype.kind == "f" or all(_fits_integers(t, values.dtype) for t in keyed.values())
        new = values.astype(values.dtype if fits else np.float64)
        for key, value in keyed.items():
            new[values == key] = value
        return new
    try:
        return np.array([keyed.get(str(v), v) for v in values], dtype=values.dtype if values.dtype != object else object)
    except (TypeError, ValueError):
        raise misfit from None


def _fits_integers(value: Any, dtype: np.dtype) -> bool:
    """Whether ``value`` is a whole number within the range of integer type ``dtype``."""
    if isinstance(value, (bool, int, np.bool_, np.integer)):
        whole = int(value)
    elif float(value).is_integer():
        whole = int(value)
    else:
        return False  # 8.5, NaN or inf
    info = np.iinfo(dtype)
    return info.min <= whole <= info.max


def run_behaviour(spec: BehaviourSpec, ctx: Context) -> GateResult:
    p = spec.params
    kind = spec.kind
    rows = np.flatnonzero(_subset(spec, ctx))
    title = p.get("name")
    if kind == "invariance":
        col = p["column"]
        limit = float(p.get("max_flip_rate", 0.01))
        if "swap" in p and col in ctx.features.columns:
            # the flip rate is over the inputs the swap changes: a swap of a value 2 rows hold was
            # counted over every row, so 0 flips "proved" a rate below 0.0002 with 20,000 rows
            held = ctx.features.arrays[ctx.features.columns.index(col)][rows]
            changed = rows[_swapped(p["swap"], held)]
            if len(rows) and not len(changed):  # said here: the perturbation would see no row, nor its values
                among = f" on the rows `{p['where']}` selects" if p.get("where") else ""
                raise InputError(f"behaviour invariance: swap {dict(p['swap'])} changes no value of {col!r}{among}",
                                 hint=f"its values include {', '.join(np.unique(held.astype(str))[:5].tolist())}")
            rows = changed
        variant = f"invariance:{sorted(p.items())}"
        flips = {}
        for role in ctx.roles:
            perturbed = _perturb(spec, ctx, rows)
            out = ctx.outputs_for(role, perturbed, variant)
            flips[role] = int(np.count_nonzero(out.labels != ctx.outputs[role].labels[rows]))
        base = flips.get("baseline")
        return _rate_gate(title or f"invariance of {col}", f"flip_rate({col})", "invariance", flips["candidate"], len(rows),
                          limit, at_most=True, ctx=ctx, baseline_rate=None if base is None else base / max(len(rows), 1),
                          details={"perturbation": {k: v for k, v in p.items() if k in ("noise", "swap", "set")},
                                   **({"where": p["where"]} if p.get("where") else {})})
    if kind == "directional":
        col = p["column"]
        limit = float(p.get("max_violation_rate", 0.05))
        variant = f"directional:{sorted(p.items())}"
        sign = 1.0 if p["expect"] == "increase" else -1.0
        counts = {}
        for role in ctx.roles:
            out = ctx.outputs_for(role, _perturb(spec, ctx, rows), variant)
            before = ctx.score(role, ctx.outputs[role], rows, p.get("class"))
            after = ctx.score(role, out, None, p.get("class"))
            counts[role] = int(np.count_nonzero(sign * (after - before) < -1e-9))
        base = counts.get("baseline")
        return _rate_gate(title or f"{col} +{p['delta']} → {p['expect']}", f"violation_rate({col})", "directional",
                          counts["candidate"], len(rows), limit, at_most=True, ctx=ctx,
                          baseline_rate=None if base is None else base / max(len(rows), 1),
                          details={"delta": p["delta"], **({"where": p["where"]} if p.get("where") else {})})
    if kind == "minimum_functionality":
        limit = float(p.get("min_accuracy", 0.9))
        if "expect" in p:
            want = ctx.encode_label(p["expect"])
            expected = np.full(len(rows), want)
        else:
            expected = ctx.outputs["candidate"].y[rows]
        hits = {role: int(np.count_nonzero(ctx.outputs[role].labels[rows] == expected)) for role in ctx.roles}
        base = hits.get("baseline")
        return _rate_gate(title or f"minimum functionality: {p['where']}", "accuracy(where)", "minimum_functionality",
                          hits["candidate"], len(rows), limit, at_most=False, ctx=ctx,
                          baseline_rate=None if base is None else base / max(len(rows), 1),
                          details={"where": p["where"], "expect": p.get("expect")})
    return _fairness(spec, ctx)


def _fairness(spec: BehaviourSpec, ctx: Context) -> GateResult:
    from assay.checks._bootstrap import PairedBootstrap

    p = spec.params
    col, which, limit = p["group"], p.get("metric", "selection_rate"), float(p.get("max_gap", 0.1))
    if col not in ctx.table.columns:
        raise InputError(f"fairness: no column {col!r} in the data")
    keys = ctx.table.columns[col].astype(str)
    groups = [g for g in np.unique(keys) if np.count_nonzero(keys == g) >= 2]
    if len(groups) < 2:
        raise InputError(f"fairness: {col!r} has {len(groups)} {noun_for(len(groups), 'group')} of two rows or more; "
                         "a gap needs at least two", hint="group by a column with a few values, each on several rows")
    y = ctx.outputs["candidate"].y
    base_rows = {"selection_rate": np.ones(ctx.n, bool), "tpr": y == 1, "fpr": y == 0}[which]
    masks = [(keys == g) & base_rows for g in groups]

    def gap_fn(labels: np.ndarray):  # type: ignore[no-untyped-def]
        hit = (labels == 1).astype(np.float64)

        def fn(W: np.ndarray) -> np.ndarray:
            rates = np.column_stack([(W[:, m] @ hit[m]) / np.maximum(W[:, m].sum(axis=1), 1e-12) for m in masks])
            return rates.max(axis=1) - rates.min(axis=1)

        return fn

    values = {role: float(gap_fn(ctx.outputs[role].labels)(np.ones((1, ctx.n)))[0]) for role in ctx.roles}
    reps = PairedBootstrap(ctx.n, n_resamples=ctx.suite.bootstrap, seed=ctx.seed + 3).run({"gap": gap_fn(ctx.outputs["candidate"].labels)})
    est = Estimate.from_replicates(values["candidate"], reps["gap"], ctx.suite.confidence, "paired bootstrap")
    per_group = {str(g): float(np.mean(ctx.outputs["candidate"].labels[m] == 1)) if m.any() else None for g, m in zip(groups, masks, strict=True)}
    base = values.get("baseline")
    return GateResult(
        name=p.get("name") or f"fairness: {which} gap across {col}", metric=f"{which}_gap({col})", kind="fairness",
        threshold=limit, slice=None, candidate_value=values["candidate"], baseline_value=base,
        delta=None if base is None else values["candidate"] - base, ci_low=est.low, ci_high=est.high,
        p_value=est.p_below(limit), p_fail=est.p_above(limit), status="inconclusive", n=ctx.n,
        mdd=minimum_detectable_difference(est.se, ctx.suite.confidence), method=est.method,
        details={"groups": per_group}, group="behaviour",
    )
