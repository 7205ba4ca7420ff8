"""Budgets: latency percentiles per batch size, throughput, peak memory during predict, model size."""

from __future__ import annotations

import time
import tracemalloc
from typing import TYPE_CHECKING

import numpy as np

from assay.checks._result import GateResult
from assay.checks._suite import BudgetSpec

if TYPE_CHECKING:
    from assay.checks._context import Context

__all__ = ["run_budgets"]

#: wall time spent timing one batch size (at least 5 calls, at most 200)
_TIME_PER_SIZE_S = 1.0


def _gate(name: str, metric: str, value: float | None, limit: float, *, at_most: bool, details: dict[str, object]) -> GateResult:
    bound = f"{'limit' if at_most else 'minimum'} {limit:g}"
    if value is None:  # e.g. the size of a module:function or http model, which has no file
        status, reason = "inconclusive", f"{metric} cannot be measured for this model ({bound})"
    else:
        status = "pass" if (value <= limit if at_most else value >= limit) else "fail"
        reason = f"{metric} = {round(value, 4)}, {bound}"
    return GateResult(
        name=name, metric=metric, kind="budget", threshold=limit, slice=None, candidate_value=value, baseline_value=None,
        delta=None, ci_low=None, ci_high=None, p_value=None, status=status, method="measured", reason=reason,
        details=details, group="budget",
    )


def measure(ctx: Context, spec: BudgetSpec) -> dict[str, object]:
    model = ctx.models["candidate"]
    rng = np.random.default_rng(ctx.seed + 5)
    out: dict[str, object] = {"latency_ms": {}}
    for size in spec.batch_sizes:
        rows = rng.integers(0, ctx.n, size)
        batch = ctx.features.take(rows)
        model.predict(batch)  # warm-up: first calls pay for lazy initialisation
        times = []
        deadline = time.perf_counter() + _TIME_PER_SIZE_S
        while len(times) < 5 or (len(times) < 200 and time.perf_counter() < deadline):
            t0 = time.perf_counter()
            model.predict(batch)
            times.append(time.perf_counter() - t0)
        ms = np.asarray(times) * 1000
        out["latency_ms"][str(size)] = {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)), "calls": len(times)}  # type: ignore[index]
    largest = max(spec.batch_sizes)
    p50 = out["latency_ms"][str(largest)]["p50"]  # type: ignore[index]
    out["throughput_rows_per_s"] = largest / (p50 / 1000) if p50 > 0 else float("inf")
    batch = ctx.features.take(rng.integers(0, ctx.n, largest))
    tracemalloc.start()
    try:
        model.predict(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out["peak_memory_mb"] = peak / 2**20
    out["model_size_mb"] = None if model.size_bytes is None else model.size_bytes / 2**20
    return out


def run_budgets(spec: BudgetSpec, ctx: Context) -> tuple[list[GateResult], dict[str, object]]:
    m = measure(ctx, spec)
    lat = m["latency_ms"]
    first = str(spec.batch_sizes[0])
    gates = []
    if spec.latency_p50_ms is not None:
        gates.append(_gate(f"latency p50 at batch {first}", "latency_p50_ms", lat[first]["p50"], spec.latency_p50_ms, at_most=True, details=m))  # type: ignore[index]
    if spec.latency_p99_ms is not None:
        gates.append(_gate(f"latency p99 at batch {first}", "latency_p99_ms", lat[first]["p99"], spec.latency_p99_ms, at_most=True, details=m))  # type: ignore[index]
    if spec.throughput_min is not None:
        gates.append(_gate("throughput", "throughput_rows_per_s", m["throughput_rows_per_s"], spec.throughput_min, at_most=False, details=m))  # type: ignore[arg-type]
    if spec.peak_memory_mb is not None:
        gates.append(_gate("peak memory during predict", "peak_memory_mb", m["peak_memory_mb"], spec.peak_memory_mb, at_most=True, details=m))  # type: ignore[arg-type]
    if spec.model_size_mb is not None:
        gates.append(_gate("model size", "model_size_mb", m["model_size_mb"], spec.model_size_mb, at_most=True, details=m))  # type: ignore[arg-type]
    return gates, m
