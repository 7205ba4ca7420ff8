"""Robustness generators and shrinking to a minimal counterexample.

Each generator perturbs rows drawn from the evaluation data, in batches. A generated input
*fails* when the model raises on it or returns a non-finite value (every generator), or when
its predicted class flips (gaussian_noise and category_swap; on a regression task, when its
prediction moves by more than the test's ``tolerance``, which such a test must give: a float
prediction moves under any noise). A failing input is shrunk:
perturbed columns are reverted one by one while it still fails, then each remaining numeric
change is bisected toward the original value — what the report shows is the smallest change
found that still breaks the model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from assay._wording import noun_for
from assay.checks._rates import clopper_pearson
from assay.checks._result import GateResult
from assay.checks._suite import GENERATORS, RobustnessSpec
from assay.errors import InputError, UsageError
from assay.models import Features, ModelAdapter, ModelError, ModelExitError, call_with_timeout

if TYPE_CHECKING:
    from collections.abc import Callable

    from assay.checks._context import Context

__all__ = ["run_robustness"]

_FLIPS = ("gaussian_noise", "category_swap")
#: rows probed one by one when a whole batch raises, to estimate the failure rate
_PROBES = 32


def _numeric_columns(feats: Features, wanted: list[str] | None) -> list[int]:
    idx = [j for j, a in enumerate(feats.arrays) if a.dtype.kind in "biuf"]
    return [j for j in idx if wanted is None or feats.columns[j] in wanted]


def _categorical_columns(feats: Features, wanted: list[str] | None) -> list[int]:
    out = []
    for j, a in enumerate(feats.arrays):
        if wanted is not None and feats.columns[j] not in wanted:
            continue
        if a.dtype == object or (a.dtype.kind in "biu" and len(np.unique(a[:5000])) <= 20):
            out.append(j)
    return out


class _Generator:
    def __init__(self, spec: RobustnessSpec, base: Features) -> None:
        self.spec = spec
        self.wanted = spec.params.get("columns")
        if self.wanted is not None:
            missing = [c for c in self.wanted if c not in base.columns]
            if missing:
                raise InputError(f"robustness {spec.generator}: no feature {noun_for(len(missing), 'column')} {', '.join(missing)}")
        self.num = _numeric_columns(base, self.wanted)
        self.cat = _categorical_columns(base, self.wanted)
        self.all = [j for j in range(base.n_features) if self.wanted is None or base.columns[j] in self.wanted]
        self.std = {j: float(np.nanstd(base.arrays[j].astype(np.float64))) or 1.0 for j in self.num}
        self.lo = {j: float(np.nanmin(base.arrays[j].astype(np.float64))) for j in self.num}
        self.hi = {j: float(np.nanmax(base.arrays[j].astype(np.float64))) for j in self.num}
        self.levels = {j: np.unique(base.arrays[j].astype(str) if base.arrays[j].dtype == object else base.arrays[j]) for j in self.cat}
        gen = spec.generator
        pool = {"gaussian_noise": self.num, "out_of_range": self.num, "category_swap": [j for j in self.cat if len(self.levels[j]) > 1],
                "missing_values": self.all, "wrong_types": self.all}[gen]
        if not pool:
            raise InputError(f"robustness {gen}: the data has no column it can perturb",
                             hint="category_swap needs text or low-cardinality integer columns; noise needs numbers")
        self.pool = pool

    def make(self, feats: Features, rng: np.random.Generator) -> tuple[Features, np.ndarray]:
        """Perturbed copy, and which column of each row was perturbed (-1: all numeric)."""
        self.rng = rng
        n = len(feats)
        gen = self.spec.generator
        arrays = [a.copy() for a in feats.arrays]
        if gen == "gaussian_noise":
            scale = float(self.spec.params.get("scale", 0.05))
            for j in self.pool:
                arrays[j] = arrays[j].astype(np.float64) + self.rng.normal(0, scale * self.std[j], n)
            return Features(list(feats.columns), arrays), np.full(n, -1)
        which = np.asarray(self.pool)[self.rng.integers(0, len(self.pool), n)]
        for j in np.unique(which):
            rows = which == j
            k = int(rows.sum())
            if gen == "missing_values":
                if arrays[j].dtype.kind in "biuf":
                    arrays[j] = arrays[j].astype(np.float64)
                    arrays[j][rows] = np.nan
                else:
                    arrays[j] = arrays[j].astype(object)
                    arrays[j][rows] = None
            elif gen == "out_of_range":
                factor = float(self.spec.params.get("factor", 1.0))
                span = (self.hi[j] - self.lo[j]) or 1.0
                side = self.rng.random(k) < 0.5
                arrays[j] = arrays[j].astype(np.float64)
                arrays[j][rows] = np.where(side, self.lo[j] - factor * span, self.hi[j] + factor * span)
            elif gen == "category_swap":
                levels = self.levels[j]  # sorted, distinct
                current = arrays[j][rows]
                at = np.searchsorted(levels, current.astype(levels.dtype))
                # another level, never the same one: shift by 1..L-1 places
                pick = levels[(at + self.rng.integers(1, len(levels), k)) % len(levels)]
                arrays[j][rows] = pick if arrays[j].dtype == object else pick.astype(arrays[j].dtype)
            elif gen == "wrong_types":
                arrays[j] = arrays[j].astype(object)
                arrays[j][rows] = "not-a-number"
        return Features(list(feats.columns), arrays), which


def _row_status(model: ModelAdapter, feats: Features, reference: np.ndarray | None, timeout: float | None,
                on_error_fails: bool, tolerance: float | None = None) -> tuple[np.ndarray | None, str | None]:
    """Per-row failure flags for one batch, or (None, error) when the whole batch raised."""
    try:
        pred = call_with_timeout(model, feats, timeout)
    except ModelExitError:
        raise  # a model that ends the process is no failing input: the check stops (exit 2)
    except Exception as exc:  # noqa: BLE001 - an exception on generated input is the thing measured
        return None, f"{type(exc).__name__}: {str(exc)[:200]}"
    labels = np.asarray(pred.labels)
    bad = np.zeros(len(feats), dtype=bool)
    if labels.shape[0] != len(feats):
        return None, f"returned {labels.shape[0]} predictions for {len(feats)} rows"
    if labels.dtype.kind == "f":
        bad |= ~np.isfinite(labels)
    if pred.proba is not None:
        bad |= ~np.all(np.isfinite(pred.proba), axis=1)
    if reference is not None:
        if tolerance is None:
            bad |= labels != reference
        else:  # a regression's prediction fails when it moves further than the tolerance (or stops being a number)
            with np.errstate(invalid="ignore"):
                bad |= ~(np.abs(labels.astype(np.float64) - reference.astype(np.float64)) <= tolerance)
    return bad, None


def _fails_one(model: ModelAdapter, row: Features, reference: Any, timeout: float | None, on_error_fails: bool,
               tolerance: float | None = None) -> tuple[bool, str]:
    bad, err = _row_status(model, row, None if reference is None else np.asarray([reference]), timeout, on_error_fails, tolerance)
    if bad is None:
        return on_error_fails, f"raised {err}"
    if bad[0]:
        if reference is None:
            return True, "non-finite output"
        return True, "prediction changed" if tolerance is None else f"prediction moved by more than {tolerance:g}"
    return False, ""


def shrink(model: ModelAdapter, original: Features, perturbed: Features, reference: Any, timeout: float | None,
           on_error_fails: bool, tolerance: float | None = None) -> dict[str, Any]:
    """Smallest change from ``original`` (one row) toward ``perturbed`` that still fails."""
    current = perturbed
    changed = [j for j in range(original.n_features)
               if not _same(original.arrays[j][0], perturbed.arrays[j][0])]
    for j in list(changed):
        trial = current.replace(current.columns[j], original.arrays[j].copy())
        if _fails_one(model, trial, reference, timeout, on_error_fails, tolerance)[0]:
            current = trial
            changed.remove(j)
    for j in changed:
        a, b = original.arrays[j][0], current.arrays[j][0]
        if not (_is_number(a) and _is_number(b)) or not np.isfinite(float(b)):
            continue
        lo, hi = 0.0, 1.0  # fraction of the change; hi always fails
        for _ in range(12):
            mid = (lo + hi) / 2
            trial = current.replace(current.columns[j], np.asarray([float(a) + mid * (float(b) - float(a))]))
            if _fails_one(model, trial, reference, timeout, on_error_fails, tolerance)[0]:
                hi = mid
            else:
                lo = mid
        current = current.replace(current.columns[j], np.asarray([float(a) + hi * (float(b) - float(a))]))
    _, why = _fails_one(model, current, reference, timeout, on_error_fails, tolerance)
    return {
        "changed": {current.columns[j]: {"from": _show(original.arrays[j][0]), "to": _show(current.arrays[j][0])} for j in changed},
        "failure": why or "fails",
        "input": {c: _show(a[0]) for c, a in zip(current.columns, current.arrays, strict=True)},
    }


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _same(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(float(a) == float(b) or (np.isnan(float(a)) and np.isnan(float(b))))
    return a is b or (type(a) is type(b) and a == b)


def _show(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        return None if np.isnan(v) else float(v)
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass
class _Job:
    """One generator run: inherited by forked processes, or pickled into each Ray task."""

    spec: RobustnessSpec
    model: ModelAdapter
    features: Features
    generator: _Generator
    reference: np.ndarray
    flips: bool
    on_error_fails: bool
    timeout: float | None
    seed: int
    batch: int
    tolerance: float | None = None  # a regression's: how far a prediction may move (see _row_status)




def _batch(i: int, job: _Job) -> tuple[int, float, str | None, list[tuple[int, Features, Features]]]:
    """Generate and judge batch ``i``: (rows, failures, error if the whole batch raised, examples).

    Every batch has its own generator seeded by (seed, batch number), so the result does not
    depend on how batches are spread over processes."""
    rng = np.random.default_rng([job.seed, i])
    n_rows = len(job.reference)
    k = min(job.batch, job.spec.n - i * job.batch)
    rows = rng.integers(0, n_rows, k)
    original = job.features.take(rows)
    perturbed, _ = job.generator.make(original, rng)
    reference = job.reference[rows] if job.flips else None
    bad, err = _row_status(job.model, perturbed, reference, job.timeout, job.on_error_fails, job.tolerance)
    examples: list[tuple[int, Features, Features]] = []
    if bad is None:
        probe = rng.choice(k, size=min(_PROBES, k), replace=False)
        hits = []
        for j in probe:
            fails, _ = _fails_one(job.model, perturbed.take(slice(j, j + 1)), None if reference is None else reference[j],
                                  job.timeout, job.on_error_fails, job.tolerance)
            hits.append(fails)
            if fails and len(examples) < 3:
                examples.append((int(rows[j]), original.take(slice(j, j + 1)), perturbed.take(slice(j, j + 1))))
        return k, k * float(np.mean(hits)), err or "error", examples
    for j in np.flatnonzero(bad)[:3]:
        examples.append((int(rows[j]), original.take(slice(j, j + 1)), perturbed.take(slice(j, j + 1))))
    return k, float(bad.sum()), None, examples


def _batch_task(task: tuple[_Job, int]) -> tuple[int, float, str | None, list[tuple[int, Features, Features]]]:
    """One Ray task: the job (spec, seed, data, model) and a batch number; the same work as in-process."""
    job, i = task
    return _batch(i, job)


def _run_on_ray(job: _Job, batches: range, workers: int | None) -> list[tuple[int, float, str | None, list[tuple[int, Features, Features]]]]:
    from assay.compute import get_executor

    # the cluster at RAY_ADDRESS when set (or one already joined), else a local instance of `workers` CPUs
    executor = get_executor("ray", workers=workers)
    try:
        return executor.map(_batch_task, [(job, i) for i in batches])
    except ModelExitError as exc:
        # Ray raises a RayTaskError that is also the task's error class; its message is Ray's
        # traceback: the task's own error (rebuilt from its pickle, hint included) is the cause
        cause = getattr(exc, "cause", exc)
        raise ModelExitError(cause.message, hint=cause.hint) from None
    except TypeError as exc:
        # Ray reports an argument it cannot serialize (a lock, a C handle) as a TypeError whose
        # cause names the culprit; its own message repeats the whole argument
        if "serialize" not in str(exc):
            raise
        why = str(exc.__cause__ or "").splitlines()[0][:200] if exc.__cause__ else "not picklable"
        raise UsageError(f"robustness {job.spec.generator}: the model {job.model.name!r} ({job.model.flavor}) cannot be "
                         f"sent to Ray workers: {why}",
                         hint="run this robustness test without `executor: ray` (in-process, or `workers: N`)") from None


def _run_forked(job: _Job, batches: range, workers: int) -> list[tuple[int, float, str | None, list[tuple[int, Features, Features]]]] | None:
    """The batches in ``workers`` forked processes, which inherit the job (nothing is pickled but
    the results); None where this process should not fork: no ``os.fork``, or another Python thread
    running, whose locks (logging's, an import's) the children would find held for ever. Native
    threads of a BLAS or OpenMP library do not count (they are in almost every process with NumPy).

    Each process takes every ``workers``-th batch and reports through a pipe of its own. A batch
    that raises (a model that calls sys.exit) ends the others at once; a process that dies (a model
    that calls os._exit, crashes, or is killed for memory) is said, not waited for. (A
    ``multiprocessing.Pool`` did neither: it replaced a dead worker and waited for ever on the
    result it would never send, and its ``terminate()`` on busy workers hung about one run in
    thirty, killing a worker mid-way through sending its result.)
    """
    import threading

    from assay.data._fork import fork_map, raise_first_failure
    from assay.errors import AssayError

    if not hasattr(os, "fork") or threading.active_count() != 1:
        return None
    shares = [batches[k::workers] for k in range(min(workers, len(batches)))]  # ranges: nothing built per batch

    def work(share: range, report: Callable[[int], None]) -> list[tuple[int, float, str | None, list[tuple[int, Features, Features]]]]:
        import gc

        gc.enable()  # (fork_map's children start without it, being short-lived; these call a model for as long as the test runs)
        done, out = 0, []
        for i in share:
            out.append(_batch(i, job))
            done += out[-1][0]
            report(done)
        return out

    outcomes = fork_map(shares, work, total=job.spec.n, desc=f"robustness {job.spec.generator}", unit="inputs")
    try:
        found = raise_first_failure(outcomes)  # a batch's own error (sys.exit) before a process that died
    except AssayError as exc:
        if not getattr(exc, "_assay_worker_died", False):
            raise
        why = exc.message.removeprefix("a worker process died without a result ")
        raise ModelError(f"robustness {job.spec.generator}: a process running the model {job.model.name!r} on generated inputs "
                         f"died without a result {why}: the model ended it (os._exit), crashed, or it was killed for memory",
                         hint="run this robustness test with workers: 1 to see the model fail in assay's own process, and fix "
                              "the model (or lower batch_size if memory ran out)") from None
    results: dict[int, tuple[int, float, str | None, list[tuple[int, Features, Features]]]] = {}
    for share, done in zip(shares, found, strict=True):
        results.update(zip(share, done, strict=True))
    return [results[i] for i in batches]  # in batch order: the examples kept are the same as in one process


def run_robustness(spec: RobustnessSpec, ctx: Context) -> tuple[GateResult, list[dict[str, Any]]]:
    """Run one generator on the candidate; return its gate and up to three shrunk counterexamples.

    Batches run in this process, or with ``workers: N`` in N forked processes (the model and
    data are inherited, not pickled; POSIX, from a process with no other Python thread, else in
    this process), or with ``executor: ray`` as Ray
    tasks (each gets the job pickled: data, model adapter, seed, and its batch number). Each
    batch is seeded by (seed, batch number), so the three give the same result.
    """
    model = ctx.models["candidate"]
    flips = spec.generator in _FLIPS
    job = _Job(
        spec=spec, model=model, features=ctx.features, generator=_Generator(spec, ctx.features),
        reference=np.asarray(ctx.predictions["candidate"].labels), flips=flips,
        on_error_fails=bool(spec.params.get("on_error_fails", spec.generator != "wrong_types")),
        timeout=ctx.suite.timeout_s,
        # a stable number per generator (str hash() changes between processes)
        seed=ctx.seed * 1000 + 11 + GENERATORS.index(spec.generator),
        batch=int(spec.params.get("batch_size", 100_000)),
        tolerance=float(spec.params["tolerance"]) if flips and "tolerance" in spec.params else None,
    )
    limit = float(spec.params.get("max_failure_rate", 0.0 if not flips else 0.05))
    workers = int(spec.params.get("workers", 1))
    executor = ctx.executor or spec.params.get("executor", "local")
    batches = range((spec.n + job.batch - 1) // job.batch)
    failures = 0.0
    probed_batches = 0
    examples: list[tuple[int, Features, Features]] = []
    errors: list[str] = []
    from assay.progress import bar

    # forked processes show their own bar (from shared counters), as the data pillar's do
    results = _run_forked(job, batches, workers) if executor != "ray" and workers > 1 and len(batches) > 1 else None
    if results is None:
        with bar(total=spec.n, desc=f"robustness {spec.generator}", unit="inputs") as progress:
            if executor == "ray":
                results = _run_on_ray(job, batches, int(spec.params["workers"]) if "workers" in spec.params else None)
                progress.update(spec.n)
            else:
                results = []
                for i in batches:
                    results.append(_batch(i, job))
                    progress.update(results[-1][0])
    for k, failed, err, found in results:
        failures += failed
        if err is not None:
            probed_batches += 1
            errors.append(err)
        examples += found[: 3 - len(examples)]
    shrunk = []
    for row, orig, pert in examples:
        ref = job.reference[row] if flips else None
        ce = shrink(model, orig, pert, ref, ctx.suite.timeout_s, job.on_error_fails, job.tolerance)
        shrunk.append({"test": f"robustness {spec.generator}", "row": row, **ce})
    k_fail = int(round(failures))
    low, high = clopper_pearson(k_fail, spec.n, ctx.suite.confidence)
    rate = failures / spec.n
    status = "pass" if rate <= limit else "fail"
    reason = (f"{'about ' if probed_batches else ''}{k_fail} of {spec.n} generated inputs failed ({rate:.4%}); the limit is {limit:.4%}"
              + (f"; {probed_batches} batch(es) raised, their failure rate estimated from {_PROBES} probes each" if probed_batches else ""))
    gate = GateResult(
        name=f"robustness: {spec.generator}", metric="failure_rate", kind="robustness", threshold=limit, slice=None,
        candidate_value=rate, baseline_value=None, delta=None, ci_low=low, ci_high=high, p_value=None, status=status,
        n=spec.n, method="generated inputs", reason=reason,
        details={"generator": spec.generator, "params": spec.params, "errors": sorted(set(errors))[:3]}, group="robustness",
    )
    return gate, shrunk
