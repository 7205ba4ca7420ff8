"""Validate raw suite data (from YAML or a dict) into a :class:`Suite`, naming the line of each error."""

from __future__ import annotations

import math
from typing import Any

from assay.checks._multitest import CORRECTIONS
from assay.checks._suite import (
    BEHAVIOURS,
    GATE_KINDS,
    GENERATORS,
    SCHEMA,
    TASKS,
    BehaviourSpec,
    BudgetSpec,
    DiscoverySpec,
    GateSpec,
    MetricSpec,
    RobustnessSpec,
    SliceSpec,
    Suite,
)
from assay.checks._yamlmarks import SuiteError

__all__ = ["parse_suite"]

#: resamples allowed at most: at 100,000 the Monte Carlo error of a 95% bound is about 0.2% of the
#: interval's width, while 50,000,000 took 110 s and 3.5 GB
MAX_BOOTSTRAP = 100_000
#: generated inputs per robustness test at most (a billion: hours for most models)
MAX_ROBUSTNESS_INPUTS = 1_000_000_000
#: processes (or Ray CPUs) per robustness test at most
MAX_WORKERS = 256

#: the numeric parameters of behavioural tests, checked as every suite number is (finite, in range);
#: the structure of each test is checked in ``validate_behaviour``
_BEHAVIOUR_NUMBERS: dict[str, dict[str, Any]] = {
    "noise": {"positive": True},  # a fraction of the column's spread: 0 perturbs nothing, below 0 is no spread
    "delta": {},
    "max_flip_rate": {"low": 0, "high": 1},
    "max_violation_rate": {"low": 0, "high": 1},
    "min_accuracy": {"low": 0, "high": 1},
    "max_gap": {"low": 0, "high": 1},
}


class _Ctx:
    def __init__(self, lines: dict[tuple[Any, ...], int], source: str) -> None:
        self.lines = lines
        self.source = source

    def at(self, path: tuple[Any, ...]) -> str | None:
        """``source:line`` of ``path`` (or of the nearest enclosing key), None where no line is known."""
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe)
        return f"{self.source}:{line}" if line else None

    def fail(self, path: tuple[Any, ...], reason: str) -> SuiteError:
        where = self.at(path) or self.source
        dotted = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")
        return SuiteError(f"{where}: {dotted + ': ' if dotted else ''}{reason}", hint="`assay check schema` lists every key a suite may have")

    def keys(self, value: Any, path: tuple[Any, ...], allowed: set[str], what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"{what} must be a mapping, got {_kind(value)}")
        for key in value:
            if key not in allowed:
                raise self.fail((*path, key), f"unknown key {key!r} in {what} (allowed: {', '.join(sorted(allowed))})")
        return value

    def number(self, value: Any, path: tuple[Any, ...], *, positive: bool = False, low: float | None = None,
               high: float | None = None, infinite_ok: bool = False) -> float:
        """Every number of a suite is read here, so NaN and infinities are refused in one place: a
        comparison with NaN is never true, so `min: .nan` would slip past every range check below."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(path, f"must be a number, got {_kind(value)} {value!r}")
        try:
            number = float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise self.fail(path, f"must be a finite number, got an integer of {len(str(abs(value)))} digits") from None
        if math.isnan(number) or math.isinf(number) and not infinite_ok:
            raise self.fail(path, f"must be a finite number, got {value!r}")
        if positive and number <= 0:
            raise self.fail(path, f"must be positive, got {value}")
        if low is not None and number < low or high is not None and number > high:
            raise self.fail(path, f"must be between {low} and {high}, got {value}")
        return number

    def integer(self, value: Any, path: tuple[Any, ...], *, minimum: int = 0, maximum: int | None = None,
                why: str = "") -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(path, f"must be an integer ≥ {minimum}, got {value!r}")
        if maximum is not None and value > maximum:
            raise self.fail(path, f"must be at most {maximum:,}, got {value:,}{': ' + why if why else ''}")
        return int(value)

    def text(self, value: Any, path: tuple[Any, ...]) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"must be non-empty text, got {_kind(value)} {value!r}")
        return value

    def text_list(self, value: Any, path: tuple[Any, ...], *, what: str = "") -> list[str]:
        """A list of text; with ``what`` (e.g. "columns") it must also be non-empty and free of repeats."""
        if not isinstance(value, list):
            raise self.fail(path, f"must be a list, got {_kind(value)}")
        out = [self.text(v, (*path, i)) for i, v in enumerate(value)]
        if what and not out:
            raise self.fail(path, f"an empty list names no {what}: leave the key out for the default, or name some")
        if what:
            for i, v in enumerate(out):
                if v in out[:i]:
                    raise self.fail((*path, i), f"{v!r} is named twice")
        return out


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", type(None): "nothing"}.get(type(value), type(value).__name__)


def parse_suite(raw: Any, lines: dict[tuple[Any, ...], int], source: str) -> Suite:
    from assay.checks.metrics import available, make_metric, scores_rows

    c = _Ctx(lines, source)
    if raw is None:
        raise c.fail((), "the suite is empty")
    top = c.keys(raw, (), set(SCHEMA), "the suite")
    for required in ("target", "task"):
        if required not in top:
            raise c.fail((), f"missing required key {required!r} ({SCHEMA[required]})")
    task = c.text(top["task"], ("task",))
    if task not in TASKS:
        raise c.fail(("task",), f"unknown task {task!r} (use one of: {', '.join(TASKS)})")

    metrics: list[MetricSpec] = []
    raw_metrics = top.get("metrics", [])
    if not isinstance(raw_metrics, list):
        raise c.fail(("metrics",), f"must be a list of metric names, got {_kind(raw_metrics)}")
    for i, m in enumerate(raw_metrics):
        path = ("metrics", i)
        if isinstance(m, str):
            spec = MetricSpec(m)
        elif isinstance(m, dict) and "name" in m:
            spec = MetricSpec(c.text(m["name"], (*path, "name")), {k: v for k, v in m.items() if k != "name"})
        else:
            raise c.fail(path, f"a metric is a name or {{name: NAME, ...parameters}}, got {m!r}")
        try:
            metric = make_metric(spec.name, **spec.params)
        except Exception as exc:
            # the list of metrics helps with a misspelt name, not with a parameter out of range
            known = "" if spec.name in available() else f" (known: {', '.join(available())})"
            raise c.fail(path, getattr(exc, "message", str(exc)) + known) from None
        if task not in metric.tasks:
            raise c.fail(path, f"metric {spec.name!r} does not apply to a {task} task (it applies to: {', '.join(metric.tasks)})")
        twin = next((j for j, m in enumerate(metrics) if m == spec), None)
        if twin is not None:  # computed and reported twice, under one name
            raise c.fail(path, f"repeats metrics[{twin}] ({c.at(('metrics', twin)) or 'above'})")
        metrics.append(spec)

    slice_names: list[str] = []
    slices: list[SliceSpec] = []
    raw_slices = top.get("slices", [])
    if not isinstance(raw_slices, list):
        raise c.fail(("slices",), "must be a list")
    for i, s in enumerate(raw_slices):
        path = ("slices", i)
        s = c.keys(s, path, {"name", "column", "bins", "categories", "where"}, "a slice")
        if "where" in s:
            if "column" in s or "bins" in s or "categories" in s:
                raise c.fail(path, "a slice has either `where` or `column` (with bins / categories), not both")
            where = c.text(s["where"], (*path, "where"))
            from assay.checks._expr import parse_expression

            try:
                parse_expression(where)
            except Exception as exc:
                raise c.fail((*path, "where"), getattr(exc, "message", str(exc))) from None
            name = c.text(s.get("name", where), (*path, "name"))
            spec_s = SliceSpec(name=name, where=where)
        elif "column" in s:
            column = c.text(s["column"], (*path, "column"))
            bins = s.get("bins")
            cats = s.get("categories")
            if bins is not None:
                if not isinstance(bins, list) or len(bins) < 2:
                    raise c.fail((*path, "bins"), "bins are a list of at least two edges, e.g. [0, 30, 60, 120]")
                edges = [c.number(b, (*path, "bins", j), infinite_ok=True)  # [0, 65, .inf]: an open last bin
                         for j, b in enumerate(bins)]
                if any(b >= a for a, b in zip(edges[1:], edges[:-1], strict=True)):
                    raise c.fail((*path, "bins"), "bin edges must increase")
                bins = edges
            if cats is not None and not isinstance(cats, list):
                raise c.fail((*path, "categories"), "categories are a list of values")
            spec_s = SliceSpec(name=c.text(s.get("name", column), (*path, "name")), column=column, bins=bins, categories=cats)
        else:
            raise c.fail(path, "a slice needs `column` (with optional bins or categories) or `where`")
        if spec_s.name in slice_names:
            raise c.fail(path, f"two slices are named {spec_s.name!r}")
        slice_names.append(spec_s.name)
        slices.append(spec_s)

    gates: list[GateSpec] = []
    seen_gates: dict[tuple[Any, ...], int] = {}
    raw_gates = top.get("gates", [])
    if not isinstance(raw_gates, list):
        raise c.fail(("gates",), "must be a list of gates")
    for i, g in enumerate(raw_gates):
        path = ("gates", i)
        g = c.keys(g, path, {"metric", "name", "slices", *GATE_KINDS}, "a gate")
        if "metric" not in g:
            raise c.fail(path, "a gate needs `metric`")
        metric_name = c.text(g["metric"], (*path, "metric"))
        try:
            metric = make_metric(metric_name)
        except Exception:
            metric = None
        declared = {m.name for m in metrics}
        if metric is None or (metric_name not in declared and not metric.pair):
            if metric is None:
                raise c.fail((*path, "metric"), f"unknown metric {metric_name!r} (known: {', '.join(available())})")
            metrics.append(MetricSpec(metric_name))  # a gated metric is computed even if not listed
        if task not in metric.tasks:
            raise c.fail((*path, "metric"), f"metric {metric_name!r} does not apply to a {task} task")
        kinds = [k for k in GATE_KINDS if k in g]
        if len(kinds) != 1:
            raise c.fail(path, f"a gate needs exactly one of {', '.join(GATE_KINDS)}, got {', '.join(kinds) or 'none'}")
        kind = kinds[0]
        value = g[kind]
        if kind == "superiority" and value is True:
            value = 0.0
        threshold = c.number(value, (*path, kind))
        if kind in ("non_inferiority", "equivalence") and threshold <= 0:
            raise c.fail((*path, kind), f"the {kind.replace('_', '-')} margin must be positive, got {threshold}")
        if kind == "superiority" and threshold < 0:
            raise c.fail((*path, kind), "the superiority margin must be ≥ 0")
        if metric.pair and kind not in ("min", "max"):
            raise c.fail((*path, kind), f"{metric_name} already compares candidate and baseline: gate it with min or max")
        if metric.bounds is not None:
            # outside its range a bound is met by every model or by none: the gate decides nothing
            lo, hi = metric.bounds
            if kind in ("min", "max") and not lo <= threshold <= hi:
                raise c.fail((*path, kind), f"{metric_name} lies between {lo:g} and {hi:g}, so a {kind} of {threshold:g} "
                                            f"is met by {'no' if (kind == 'min') == (threshold > hi) else 'every'} model")
            if kind not in ("min", "max") and threshold >= hi - lo:
                raise c.fail((*path, kind), f"{metric_name} lies between {lo:g} and {hi:g}, so a "
                                            f"{kind.replace('_', '-')} margin of {threshold:g} spans its whole range")
        gate_slices = g.get("slices")
        if gate_slices is not None and gate_slices != "all":
            gate_slices = c.text_list(gate_slices, (*path, "slices"))
            for j, name in enumerate(gate_slices):
                if name not in slice_names:
                    raise c.fail((*path, "slices", j), f"no slice named {name!r} (slices: {', '.join(slice_names) or 'none'})")
        # the same test twice would be run twice and counted twice in the multiple-testing family
        same = (metric_name, kind, threshold, gate_slices if not isinstance(gate_slices, list) else tuple(sorted(gate_slices)))
        if same in seen_gates:
            j = seen_gates[same]
            first = c.at(("gates", j))
            raise c.fail(path, f"repeats gates[{j}]{f' ({first})' if first else ''}: the same gate twice is tested and "
                               "counted twice; remove one")
        seen_gates[same] = i
        gates.append(GateSpec(metric_name, kind, threshold, gate_slices,
                              c.text(g["name"], (*path, "name")) if "name" in g else None))

    discover = None
    raw_discover = top.get("discover")
    if raw_discover is True:
        discover = DiscoverySpec()
    elif isinstance(raw_discover, dict):
        d = c.keys(raw_discover, ("discover",), {"metric", "bins", "min_rows", "top", "features", "depth"}, "discover")
        if "metric" in d:
            metric_name = c.text(d["metric"], ("discover", "metric"))
            if metric_name not in available():
                raise c.fail(("discover", "metric"), f"unknown metric {metric_name!r} (known: {', '.join(available())})")
            if task not in make_metric(metric_name).tasks:
                raise c.fail(("discover", "metric"), f"metric {metric_name!r} does not apply to a {task} task "
                                                     f"(it applies to: {', '.join(make_metric(metric_name).tasks)})")
            if not scores_rows(make_metric(metric_name)):
                rows = [n for n in available() if task in make_metric(n).tasks and scores_rows(make_metric(n))]
                raise c.fail(("discover", "metric"), f"metric {metric_name!r} has no score per row, which slice discovery "
                                                     f"needs (use one of: {', '.join(rows)})")
        discover = DiscoverySpec(
            metric=c.text(d["metric"], ("discover", "metric")) if "metric" in d else None,
            bins=c.integer(d.get("bins", 4), ("discover", "bins"), minimum=2),
            min_rows=c.integer(d.get("min_rows", 50), ("discover", "min_rows"), minimum=2),
            top=c.integer(d.get("top", 10), ("discover", "top"), minimum=1),
            features=c.text_list(d["features"], ("discover", "features"), what="columns") if "features" in d else None,
            depth=c.integer(d.get("depth", 2), ("discover", "depth"), minimum=1),
        )
    elif raw_discover not in (None, False):
        raise c.fail(("discover",), "discover is true, false, or a mapping")

    behaviour: list[BehaviourSpec] = []
    raw_beh = top.get("behaviour", [])
    if not isinstance(raw_beh, list):
        raise c.fail(("behaviour",), "must be a list")
    for i, b in enumerate(raw_beh):
        path = ("behaviour", i)
        if not isinstance(b, dict) or len(b) != 1:
            raise c.fail(path, f"a behavioural test is one of {', '.join(BEHAVIOURS)}: {{...}}")
        (kind, params), = b.items()
        if kind not in BEHAVIOURS:
            raise c.fail((*path, kind), f"unknown behavioural test {kind!r} (use one of: {', '.join(BEHAVIOURS)})")
        from assay.checks._behaviour import validate_behaviour

        problem = validate_behaviour(kind, params, task)
        if problem:
            raise c.fail((*path, kind), problem)
        for key, limits in _BEHAVIOUR_NUMBERS.items():
            if key in params:
                c.number(params[key], (*path, kind, key), **limits)
        if params.get("delta") == 0:
            raise c.fail((*path, kind, "delta"), "a delta of 0 changes nothing, so nothing can move as expected")
        behaviour.append(BehaviourSpec(kind, dict(params)))

    robustness: list[RobustnessSpec] = []
    raw_rob = top.get("robustness", [])
    if not isinstance(raw_rob, list):
        raise c.fail(("robustness",), "must be a list")
    for i, r in enumerate(raw_rob):
        path = ("robustness", i)
        r = c.keys(r, path, {"generator", "n", "scale", "columns", "max_failure_rate", "factor", "batch_size", "workers", "executor", "on_error_fails",
                             "tolerance"}, "a robustness test")
        gen = c.text(r.get("generator"), (*path, "generator")) if "generator" in r else None
        if gen not in GENERATORS:
            raise c.fail((*path, "generator"), f"generator must be one of {', '.join(GENERATORS)}, got {gen!r}")
        n = c.integer(r.get("n", 10_000), (*path, "n"), minimum=1, maximum=MAX_ROBUSTNESS_INPUTS,
                      why="with no failure in a billion inputs the failure rate is already bounded below 4e-9; more only takes longer")
        params = {k: v for k, v in r.items() if k not in ("generator", "n")}
        if "max_failure_rate" in params:
            c.number(params["max_failure_rate"], (*path, "max_failure_rate"), low=0, high=1)
        for key in ("scale", "factor"):
            if key in params:
                c.number(params[key], (*path, key), positive=True)
        if "batch_size" in params:
            c.integer(params["batch_size"], (*path, "batch_size"), minimum=1)
        if "workers" in params:  # 1 runs in this process; with `executor: ray`, the CPUs of a local Ray
            c.integer(params["workers"], (*path, "workers"), minimum=1, maximum=MAX_WORKERS,
                      why="each worker is a process (or a Ray CPU) of its own")
        if "columns" in params:
            c.text_list(params["columns"], (*path, "columns"), what="columns")
        if not isinstance(params.get("on_error_fails", True), bool):
            raise c.fail((*path, "on_error_fails"), f"must be true or false, got {params['on_error_fails']!r}")
        moves = gen in ("gaussian_noise", "category_swap")  # judged by whether the prediction moves
        if "tolerance" in params:
            if task != "regression" or not moves:
                raise c.fail((*path, "tolerance"), "tolerance is for gaussian_noise and category_swap on a regression task: "
                                                   "how far a prediction may move before the input counts as failing")
            c.number(params["tolerance"], (*path, "tolerance"), positive=True)
        elif task == "regression" and moves:
            raise c.fail(path, f"{gen} on a regression task needs a tolerance: how far a prediction may move before the input "
                               "counts as failing (a float prediction moves under any noise), e.g. tolerance: 0.5")
        if params.get("executor", "local") not in ("local", "ray"):
            raise c.fail((*path, "executor"), f"executor must be local or ray, got {params['executor']!r}")
        robustness.append(RobustnessSpec(gen, n, params))

    budgets = None
    if "budgets" in top:
        b = c.keys(top["budgets"], ("budgets",), set(BudgetSpec.__dataclass_fields__), "budgets")
        sizes = b.get("batch_sizes", [1, 1024])
        if not isinstance(sizes, list) or not sizes:
            raise c.fail(("budgets", "batch_sizes"), "a non-empty list of batch sizes")
        budgets = BudgetSpec(batch_sizes=[c.integer(s, ("budgets", "batch_sizes", j), minimum=1) for j, s in enumerate(sizes)],
                             **{k: c.number(v, ("budgets", k), positive=True) for k, v in b.items() if k != "batch_sizes"})

    correction = top.get("correction", "holm")
    if correction not in CORRECTIONS:
        raise c.fail(("correction",), f"correction must be one of {', '.join(CORRECTIONS)}, got {correction!r}")
    positive = top.get("positive")
    if positive is not None and task != "binary":
        raise c.fail(("positive",), "`positive` applies to binary tasks only")
    limits = budgets is not None and any(getattr(budgets, k) is not None for k in BudgetSpec.__dataclass_fields__ if k != "batch_sizes")
    if not gates and not behaviour and not robustness and not limits:
        # it would pass whatever the model: a verdict with no test behind it
        raise c.fail(("gates",) if "gates" in top else (),
                     "the suite has no gates, no behaviour or robustness tests and no budget limits: nothing to check")
    lines = {f"{part}[{i}]": c.at((part, i)) for part, n in (("slices", len(slices)), ("behaviour", len(behaviour)))
             for i in range(n)}
    lines["discover"] = c.at(("discover",)) if discover is not None else None
    return Suite(
        lines={k: v for k, v in lines.items() if v},
        data=c.text(top["data"], ("data",)) if "data" in top else None,
        target=c.text(top["target"], ("target",)),
        task=task,
        metrics=metrics,
        gates=gates,
        name=str(top.get("name", "")),
        positive=positive,
        features=c.text_list(top["features"], ("features",), what="columns") if "features" in top else None,
        slices=slices,
        discover=discover,
        behaviour=behaviour,
        robustness=robustness,
        budgets=budgets,
        confidence=c.number(top.get("confidence", 0.95), ("confidence",), low=0.5, high=0.9999),
        correction=correction,
        bootstrap=c.integer(top.get("bootstrap", 1000), ("bootstrap",), minimum=100, maximum=MAX_BOOTSTRAP,
                            why="more resamples barely move the intervals, while time and memory grow with each one"),
        seed=c.integer(top.get("seed", 0), ("seed",)),
        timeout_s=c.number(top.get("timeout_s", 300.0), ("timeout_s",), positive=True),
        min_slice_rows=c.integer(top.get("min_slice_rows", 30), ("min_slice_rows",), minimum=1),
    )
