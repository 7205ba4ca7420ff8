"""A suite: what to check, as plain data. Built without running anything; ``run()`` executes it.

The YAML form is a serialization of :class:`Suite` (``Suite.from_yaml`` / ``Suite.to_yaml``);
an invalid suite is rejected with the line and the reason. See ``docs`` in
:data:`SCHEMA` for every key.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from assay.checks._yamlmarks import SuiteError, load_marked
from assay.errors import InputError, NotFoundError

if TYPE_CHECKING:
    from assay.checks._result import CheckResult
    from assay.workspace import Workspace

__all__ = [
    "BehaviourSpec", "BudgetSpec", "DiscoverySpec", "GateSpec", "MetricSpec", "RobustnessSpec", "SCHEMA",
    "SliceSpec", "Suite", "SuiteError",
]

TASKS = ("binary", "multiclass", "regression")
GATE_KINDS = ("min", "max", "non_inferiority", "superiority", "equivalence")
BEHAVIOURS = ("invariance", "directional", "minimum_functionality", "fairness")
GENERATORS = ("gaussian_noise", "missing_values", "out_of_range", "category_swap", "wrong_types")

#: the YAML schema, key by key (also the documentation `assay check schema` prints)
SCHEMA: dict[str, str] = {
    "name": "optional title of the suite",
    "data": "a .parquet/.pq/.csv/.feather/.arrow file (relative to the suite file) or a registered dataset NAME@REF"
            " (may be left out when --data, or data= in Python, gives it)",
    "target": "the column holding the true label or value",
    "task": "binary | multiclass | regression",
    "positive": "binary only: the positive class (default: the larger label)",
    "features": "optional list of input columns, in the model's order (default: every column but the target)",
    "metrics": "list of metric names, or {name: NAME, PARAM: VALUE} (e.g. {name: quantile_loss, alpha: 0.9})",
    "gates": "list of {metric, one of min|max|non_inferiority|superiority|equivalence: NUMBER, slices: [NAMES]|all, name}",
    "slices": "list of {name, column, bins: [EDGES]} | {name, column, categories: [VALUES]} | {name, where: EXPRESSION}",
    "discover": "automatic slice discovery: true, or {metric, bins, min_rows, top, features, depth}",
    "behaviour": "list of {invariance|directional|minimum_functionality|fairness: {...}}",
    "robustness": "list of {generator: gaussian_noise|missing_values|out_of_range|category_swap|wrong_types, n, ...}",
    "budgets": "{batch_sizes, latency_p50_ms, latency_p99_ms, throughput_min, peak_memory_mb, model_size_mb}",
    "confidence": "confidence of the intervals (default 0.95); each one-sided decision is at (1 - confidence) / 2",
    "correction": "multiple-testing control across gates and slices: holm (default) | bh | none",
    "bootstrap": "number of paired bootstrap resamples (default 1000, at most 100,000)",
    "seed": "seed of every random choice (default 0; --seed overrides)",
    "timeout_s": "time limit for one predict call on one batch (default 300)",
    "min_slice_rows": "gates on fewer rows than this (a slice, or all the data) are reported inconclusive (default 30)",
}


@dataclass
class MetricSpec:
    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_yaml_value(self) -> Any:
        return {"name": self.name, **self.params} if self.params else self.name


@dataclass
class GateSpec:
    """One gate: a metric, a kind (min, max, non_inferiority, superiority, equivalence) and its number."""

    metric: str
    kind: str
    threshold: float
    slices: list[str] | str | None = None  # None: all data only; "all": every slice too
    name: str | None = None

    @property
    def title(self) -> str:
        return self.name or f"{self.metric} {self.kind.replace('_', '-')} {self.threshold:g}"

    def to_yaml_value(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metric": self.metric, self.kind: self.threshold}
        if self.slices is not None:
            out["slices"] = self.slices
        if self.name:
            out["name"] = self.name
        return out


@dataclass
class SliceSpec:
    name: str
    column: str | None = None
    bins: list[float] | None = None
    categories: list[Any] | None = None
    where: str | None = None

    def to_yaml_value(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class DiscoverySpec:
    metric: str | None = None  # one with a score per row; default: the first relative gate's that has one, else accuracy / mae
    bins: int = 4
    min_rows: int = 50
    top: int = 10
    features: list[str] | None = None
    depth: int = 2  # 1: single-feature regions; 2: also pairs of the strongest ones


@dataclass
class BehaviourSpec:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class RobustnessSpec:
    generator: str
    n: int = 10_000
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class BudgetSpec:
    batch_sizes: list[int] = field(default_factory=lambda: [1, 1024])
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    throughput_min: float | None = None
    peak_memory_mb: float | None = None
    model_size_mb: float | None = None


@dataclass
class Suite:
    """Everything a check needs to know, as data. ``Suite.from_yaml(text)`` or build it in Python:

    >>> s = Suite(data="test.parquet", target="label", task="binary", metrics=[MetricSpec("accuracy")],
    ...           gates=[GateSpec("accuracy", "non_inferiority", 0.02)])
    >>> s.gates[0].title
    'accuracy non-inferiority 0.02'
    """

    data: str | None  # None: the data is given to each run (`--data`, ``run(data=...)``)
    target: str
    task: str
    metrics: list[MetricSpec] = field(default_factory=list)
    gates: list[GateSpec] = field(default_factory=list)
    name: str = ""
    positive: Any = None
    features: list[str] | None = None
    slices: list[SliceSpec] = field(default_factory=list)
    discover: DiscoverySpec | None = None
    behaviour: list[BehaviourSpec] = field(default_factory=list)
    robustness: list[RobustnessSpec] = field(default_factory=list)
    budgets: BudgetSpec | None = None
    confidence: float = 0.95
    correction: str = "holm"
    bootstrap: int = 1000
    seed: int = 0
    timeout_s: float = 300.0
    min_slice_rows: int = 30
    base_dir: str | None = field(default=None, compare=False)  # where relative data paths start
    #: where each slice and behavioural test was written ("slices[0]" → "suite.yaml:12"), so that an
    #: error only the data reveals (an unknown column in a `where`) names its line as a parse error does
    lines: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def located(self, key: str, exc: InputError) -> InputError:
        """``exc`` (from running entry ``key``, e.g. ``"slices[0]"``) said with the suite line of that entry."""
        if type(exc) not in (InputError, NotFoundError):  # a model's error is the model's, not the line's
            return exc
        at = self.lines.get(key)
        return type(exc)(f"{at + ': ' if at else ''}{key}: {exc.message}", hint=exc.hint, details=exc.details)

    # -- serialization ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.name:
            out["name"] = self.name
        if self.data is not None:
            out["data"] = self.data
        out.update(target=self.target, task=self.task)
        if self.positive is not None:
            out["positive"] = self.positive
        if self.features is not None:
            out["features"] = list(self.features)
        out["metrics"] = [m.to_yaml_value() for m in self.metrics]
        out["gates"] = [g.to_yaml_value() for g in self.gates]
        if self.slices:
            out["slices"] = [s.to_yaml_value() for s in self.slices]
        if self.discover is not None:
            out["discover"] = {k: v for k, v in asdict(self.discover).items() if v is not None}
        if self.behaviour:
            out["behaviour"] = [{b.kind: dict(b.params)} for b in self.behaviour]
        if self.robustness:
            out["robustness"] = [{"generator": r.generator, "n": r.n, **r.params} for r in self.robustness]
        if self.budgets is not None:
            out["budgets"] = {k: v for k, v in asdict(self.budgets).items() if v is not None}
        out.update(confidence=self.confidence, correction=self.correction, bootstrap=self.bootstrap, seed=self.seed,
                   timeout_s=self.timeout_s, min_slice_rows=self.min_slice_rows)
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def digest(self) -> str:
        """Hash of the canonical form, for lineage."""
        from assay.models._hashing import hash_bytes

        return hash_bytes(json.dumps(self.to_dict(), sort_keys=True, default=str).encode())

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<suite>", base_dir: str | Path | None = None) -> Suite:
        raw, lines = load_marked(text, source)
        from assay.checks._suite_parse import parse_suite

        suite = parse_suite(raw, lines, source)
        suite.base_dir = str(base_dir) if base_dir is not None else None
        return suite

    @classmethod
    def load(cls, path: str | Path) -> Suite:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SuiteError(f"{path}: no such suite file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SuiteError(f"{path}: cannot read the suite ({exc})") from None
        return cls.from_yaml(text, source=str(path), base_dir=path.resolve().parent)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Suite:
        from assay.checks._suite_parse import parse_suite

        return parse_suite(raw, {}, "<dict>")

    # -- running --------------------------------------------------------------------------
    def run(
        self,
        *,
        candidate: Any,
        baseline: Any = None,
        data: Any = None,
        ws: Workspace | None = None,
        trust: bool = False,
        seed: int | None = None,
        allow_inconclusive: bool = False,
    ) -> CheckResult:
        """Run the suite; see :func:`assay.checks.run_suite`."""
        from assay.checks._runner import run_suite

        return run_suite(self, candidate=candidate, baseline=baseline, data=data, ws=ws, trust=trust, seed=seed,
                         allow_inconclusive=allow_inconclusive)

