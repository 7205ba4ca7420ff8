"""Metric values with their uncertainty, for every (metric, slice) a check needs, from one
shared paired bootstrap (plus score intervals and DeLong where those are the better tool)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay.checks._bootstrap import PairedBootstrap
from assay.checks._context import Context
from assay.checks._delong import delong
from assay.checks._estimate import Estimate
from assay.checks._mcnemar import mcnemar
from assay.checks._slices import Slice
from assay.checks.metrics import Metric, Outputs
from assay.errors import InputError

__all__ = ["Cell", "estimate_cells"]


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
class Cell:
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


def estimate_cells(ctx: Context, wanted: list[tuple[Metric, Slice | None]]) -> dict[tuple[str, str | None], Cell]:
    suite = ctx.suite
    conf = suite.confidence
    oc, ob = ctx.outputs["candidate"], ctx.outputs.get("baseline")
    cells: dict[tuple[str, str | None], Cell] = {}
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
        if sl is not None and sl.n == 0:
            plan.append((metric, sl, "empty"))  # no rows to resample: nothing to estimate
            continue
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
        if how == "empty":
            nan = float("nan")
            est = Estimate(nan, nan, nan, nan, "no rows in this slice")
            paired = b_out is not None and not metric.pair
            cells[(metric.label, key)] = Cell(metric, sl, nan, nan if paired else None, est, est if paired else None)
            continue
        if how == "pair":
            v = float(metric.pair_batch(c_out, b_out, np.ones((1, len(c_out.y))))[0])  # type: ignore[attr-defined,arg-type]
            est = Estimate.from_replicates(v, reps[tag + "|c"], conf, boot)
            if metric.name in ("flip_rate", "agreement"):  # proportions: a score interval (see accuracy)
                est = Estimate.wilson(int(round(v * len(c_out.y))), len(c_out.y), conf)
            cells[(metric.label, key)] = Cell(metric, sl, v, None, est, None)
            continue
        if how == "delong":
            scores = [c_out.proba[:, 1]] + ([b_out.proba[:, 1]] if b_out is not None else [])  # type: ignore[index,union-attr]
            try:
                d = delong(c_out.y, *scores)
            except ValueError:
                nan = float("nan")
                est = Estimate(nan, nan, nan, nan, "DeLong (undefined: fewer than two rows of a class)")
                cells[(metric.label, key)] = Cell(metric, sl, nan, nan if b_out is not None else None, est, est if b_out is not None else None)
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
            cells[(metric.label, key)] = Cell(metric, sl, cand, base, est, dest, extra)
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
        cells[(metric.label, key)] = Cell(metric, sl, cand, base, est, dest, extra)
    return cells
