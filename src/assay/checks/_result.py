"""What a check found: gate results and the overall verdict, as plain serializable data."""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CheckResult", "GateResult", "readable_check"]

STATUSES = ("pass", "fail", "inconclusive")


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: write null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _clean(value.item())
    return value


@dataclass
class GateResult:
    """One gate on one slice (``slice`` None = all data)."""

    name: str
    metric: str
    kind: str  # min, max, non_inferiority, superiority, equivalence, or a behaviour / robustness / budget kind
    threshold: float | None
    slice: str | None
    candidate_value: float | None
    baseline_value: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None  # one-sided p for "the gate holds" (small = evidence of pass)
    status: str
    n: int = 0
    p_fail: float | None = None  # one-sided p for "the gate is violated", before correction
    p_fail_adjusted: float | None = None
    mdd: float | None = None  # minimum detectable difference at this n (80% power)
    method: str = ""
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    group: str = "gate"  # gate | behaviour | robustness | budget

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


@dataclass
class CheckResult:
    """What :func:`run_suite` found. ``gates`` are :class:`GateResult` objects (each gate is judged,
    and read, one by one: ``g.status``, ``g.reason``); the other lists hold plain dicts, the same as
    in :meth:`to_dict` and the JSON document, read as ``s["slice"]`` (a missing value is None):

    - ``metrics``: ``metric``, ``greater_is_better``, ``candidate``, ``baseline``, ``delta``,
      ``candidate_ci``, ``delta_ci``, ``method``, and per metric ``mcnemar``, ``bootstrap_ci``,
      ``bootstrap_delta_ci``, ``delong_p_value``;
    - ``slices``: ``slice``, ``rows``, ``metric``, ``candidate``, ``baseline``, ``delta``,
      ``ci_low``, ``ci_high``, ``p_worse``, ``p_adjusted``, ``regression``;
    - ``discovered_slices``: ``slice``, ``metric``, ``greater_is_better``, ``rows``, ``rows_confirm``,
      ``delta_search``, ``z_search``, ``delta``, ``delta_vs_rest``, ``ci_low``, ``ci_high``,
      ``p_value``, ``p_adjusted``, ``confirmed`` (deltas are candidate − baseline, as for gates:
      positive where MAE is worse, negative where accuracy is);
    - ``counterexamples``: ``test``, ``row``, ``input``, ``changed``, ``failure``.
    """

    passed: bool
    candidate: dict[str, Any]
    baseline: dict[str, Any] | None
    data: dict[str, Any]
    gates: list[GateResult]
    suite: dict[str, Any]
    suite_hash: str
    seed: int
    confidence: float
    correction: str
    allow_inconclusive: bool = False
    metrics: list[dict[str, Any]] = field(default_factory=list)
    slices: list[dict[str, Any]] = field(default_factory=list)
    discovered_slices: list[dict[str, Any]] = field(default_factory=list)
    counterexamples: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    id: str | None = None
    created_at: str | None = None
    report: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(1 for g in self.gates if g.status == s) for s in STATUSES}

    @property
    def verdict(self) -> str:
        c = self.counts
        if c["fail"]:
            return "fail"
        if c["inconclusive"]:
            return "inconclusive"
        return "pass"

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        return _clean({
            "id": self.id,
            "passed": self.passed,
            "verdict": self.verdict,
            "counts": self.counts,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "data": self.data,
            "gates": [g.to_dict() for g in self.gates],
            "metrics": self.metrics,
            "slices": self.slices,
            "discovered_slices": self.discovered_slices,
            "counterexamples": self.counterexamples,
            "confidence": self.confidence,
            "correction": self.correction,
            "allow_inconclusive": self.allow_inconclusive,
            "seed": self.seed,
            "suite": self.suite,
            "suite_hash": self.suite_hash,
            "notes": self.notes,
            "timings": self.timings,
            "created_at": self.created_at,
            "report": self.report,
        })


_GATE_NUMBERS = ("threshold", "candidate_value", "baseline_value", "delta", "ci_low", "ci_high", "p_value", "p_fail",
                 "p_fail_adjusted", "mdd", "n")
_METRIC_NUMBERS = ("candidate", "baseline", "delta")
_SLICE_NUMBERS = ("rows", "candidate", "baseline", "delta", "ci_low", "ci_high", "p_worse", "p_adjusted")
_DISCOVERED_NUMBERS = ("rows", "rows_confirm", "delta_search", "z_search", "delta", "delta_vs_rest", "ci_low", "ci_high",
                       "p_value", "p_adjusted")
# A real result nests a handful of levels; the dashboard reads a stored body with json.loads,
# which recurses once per level and fails near a thousand.
_MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAKING = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029]")  # (a tab is fine)


def readable_check(doc: Any) -> str | None:
    """Why ``doc`` (a check result as :meth:`CheckResult.to_dict` writes it, read from elsewhere,
    such as a remote) cannot be shown by `assay check show`, `assay check log`, its HTML report,
    its JUnit XML and the dashboard; None if they all can. Never raises: what it checks is what
    those read, and then it has each of them read ``doc``.

    >>> readable_check({"passed": True})
    'no verdict'
    """
    try:
        why = _shape_problem(doc)
    except Exception as exc:  # a value none of the rules foresaw: a reason, never a raise
        return f"does not read ({type(exc).__name__})"
    return why or _reader_problem(doc)


def _number(v: Any) -> bool:
    """None or a finite number (an int beyond a float's range is none: arithmetic with a float overflows)."""
    if v is None:
        return True
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return abs(v) <= sys.float_info.max if isinstance(v, int) else math.isfinite(v)


def _str_or_none(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _dicts(v: Any, *text: str) -> bool:
    """A list of objects, each with a string at each key of ``text``."""
    return isinstance(v, list) and all(isinstance(d, dict) and all(isinstance(d.get(k), str) for k in text) for d in v)


def _numbers(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> bool:
    return all(_number(r.get(k)) for r in rows for k in keys)


def _walk_problem(doc: Any) -> str | None:
    """Too deep a nesting, or a NUL character or lone surrogate in any text (keys too), anywhere
    in ``doc``."""
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > _MAX_DEPTH:
                return f"nested deeper than {_MAX_DEPTH} levels"
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            stack.extend((v, depth + 1) for v in items)
        elif isinstance(value, str) and "\x00" in value:
            return "text with a NUL character"
        elif isinstance(value, str) and _SURROGATE.search(value):
            return "text that is not Unicode (a lone surrogate)"
    return None


def _model_problem(model: Any, *, optional: bool) -> bool:
    """Whether a candidate or baseline does not read: a name, and a ``meta`` object if any."""
    if model is None:
        return not optional
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        return True
    meta = model.get("meta", {})
    return not (isinstance(meta, dict) and _str_or_none(meta.get("version")))


def _shape_problem(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return "not an object"
    why = _walk_problem(doc)
    if why:
        return why
    if not isinstance(doc.get("passed"), bool) or doc.get("verdict") not in STATUSES:
        return "no verdict"
    counts = doc.get("counts")
    if not (isinstance(counts, dict) and all(type(counts.get(s)) is int for s in STATUSES)):
        return "no counts"
    data = doc.get("data")
    if (_model_problem(doc.get("candidate"), optional=False) or _model_problem(doc.get("baseline"), optional=True)
            or not isinstance(data, dict) or "rows" not in data or not (data["rows"] is None or type(data["rows"]) is int)
            or not _number(data["rows"]) or not _str_or_none(data.get("ref")) or not _str_or_none(data.get("version"))):
        return "no candidate, baseline or data"
    gates = doc.get("gates")
    if not _dicts(gates, "name", "metric", "kind", "reason"):
        return "gates without names"
    for g in gates:
        if (g.get("status") not in STATUSES or not _str_or_none(g.get("slice")) or not _numbers([g], _GATE_NUMBERS)
                or type(g.get("n", 0)) is not int or not isinstance(g.get("details") or {}, dict)
                or not _number((g.get("details") or {}).get("bound"))):
            return f"gate {g['name'][:40]!r} does not read"
    metrics, slices = doc.get("metrics", []), doc.get("slices", [])
    discovered, counterexamples = doc.get("discovered_slices", []), doc.get("counterexamples", [])
    if not (_dicts(metrics, "metric") and _dicts(slices, "slice", "metric") and _dicts(discovered, "slice", "metric")
            and _dicts(counterexamples, "test", "failure")):
        return "metrics, slices or counterexamples that do not read"
    for m in metrics:
        if not _numbers([m], _METRIC_NUMBERS) or not all(
                m.get(key) is None or (isinstance(m[key], list) and len(m[key]) == 2 and all(map(_number, m[key])))
                for key in ("candidate_ci", "delta_ci")):
            return f"metric {m['metric'][:40]!r} does not read"
    if not (_numbers(slices, _SLICE_NUMBERS) and _numbers(discovered, _DISCOVERED_NUMBERS)):
        return "slices that do not read"
    for c in counterexamples:
        changed = c.get("changed")
        if not (changed is None or (isinstance(changed, dict) and all(isinstance(v, dict) for v in changed.values()))):
            return "counterexamples that do not read"
    notes, suite = doc.get("notes", []), doc.get("suite", {})
    if not (isinstance(notes, list) and all(isinstance(n, str) for n in notes) and isinstance(suite, dict)
            and _str_or_none(suite.get("name")) and _number(doc.get("confidence"))
            and (doc.get("seed") is None or type(doc.get("seed")) is int)):
        return "notes, suite or settings that do not read"
    if not all(_str_or_none(doc.get(k)) for k in ("id", "created_at", "report")) or not isinstance(doc.get("imported", {}), dict):
        return "an id, time, report or origin that does not read"
    return None


def _reader_problem(doc: dict[str, Any]) -> str | None:
    """The first reader of a check result that fails on ``doc``, as a reason; None if none does.
    The rules above name what each reads; this catches what they did not foresee. The JUnit
    XML is read back as a CI system would: text XML cannot hold (a NUL) makes it unreadable."""
    from xml.etree import ElementTree

    from assay.checks._record import _summary
    from assay.report import check_chart_option as check_chart
    from assay.report import render_check_html as check_html
    from assay.report import render_check_junit as check_junit
    from assay.report import render_check_lines as render_lines

    def one_line_each(d: Any) -> None:  # a name or reason with a line break would forge a line of output
        if any(_LINE_BREAKING.search(line) for line in render_lines(d)):
            raise ValueError("a line break or control character in its text")

    readers = (("`assay check show`", one_line_each), ("`assay check log`", lambda d: _summary("", "", "", None, d, {})),
               ("its HTML report", check_html), ("its JUnit XML", lambda d: ElementTree.fromstring(check_junit(d))),
               ("the dashboard", lambda d: json.dumps(check_chart(d))))
    for name, read in readers:
        try:
            read(doc)
        except Exception as exc:  # any failure of a reader is the answer, not an error of this check
            return f"{name} cannot show it ({type(exc).__name__})"
    return None
