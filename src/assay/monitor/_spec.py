"""What a monitor is, as plain serializable data: columns, window, rules, webhooks.

Configuration only (STYLE 4): the spec is hashed into the monitor's record and
shipped to the service; the code that ingests, windows and judges lives elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from assay.errors import UsageError

__all__ = ["MonitorSpec", "Rule", "WindowSpec", "parse_rule", "parse_window"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
METRIC_RULES = {"accuracy": "<", "mae": ">", "rmse": ">"}
TASKS = ("classification", "regression")
NOTIFY = ("every", "change")  # post each breaching window's alert, or only the first of a streak (see assay.monitor._alerts)


@dataclass(frozen=True)
class WindowSpec:
    """A window closes after ``size`` events (``kind="rows"``) or ``size`` seconds of arrival time (``"time"``)."""

    kind: str
    size: int

    def to_text(self) -> str:
        if self.kind == "rows":
            return f"{self.size}rows"
        for unit, seconds in (("d", 86400), ("h", 3600), ("m", 60)):
            if self.size % seconds == 0:
                return f"{self.size // seconds}{unit}"
        return f"{self.size}s"


def parse_window(text: str) -> WindowSpec:
    """``10000rows`` or a duration such as ``90s``, ``15m``, ``1h``, ``1d``."""
    raw = str(text).strip().lower().replace(" ", "")
    match = re.fullmatch(r"(\d+)(rows?|s|m|h|d)", raw)
    if not match:
        raise UsageError(f"cannot read the window {text!r}", hint="write a row count such as 10000rows or a duration such as 30s, 15m, 1h, 1d")
    size, unit = int(match.group(1)), match.group(2)
    if unit.startswith("row"):
        if not 10 <= size <= 100_000_000:
            raise UsageError(f"a window of {size} rows is out of range", hint="use between 10 and 100000000 rows")
        return WindowSpec("rows", size)
    seconds = size * _UNITS[unit]
    if not 1 <= seconds <= 30 * 86400:
        raise UsageError(f"a window of {text} is out of range", hint="use between 1s and 30d")
    return WindowSpec("time", seconds)


@dataclass(frozen=True)
class Rule:
    """When a closed window raises an alert.

    - ``drift``: the drift pillar's verdict for the window (any column drifted, under the drift spec);
    - ``share>=X``: at least a share X (0..1) of the monitored columns drifted;
    - ``column:NAME``: that column drifted;
    - ``rows<N``: the window holds fewer than N events (only for time windows: traffic dropped);
    - ``accuracy<X``, ``mae>X``, ``rmse>X``: the model's performance on the window, from the
      ground-truth labels joined to its events, once at least ``min_labels`` of them arrived
      (see :mod:`assay.monitor._performance`).
    """

    kind: str
    value: float | None = None
    column: str | None = None

    @property
    def text(self) -> str:
        if self.kind == "drift":
            return "drift"
        if self.kind == "share":
            return f"share>={self.value:g}"
        if self.kind == "column":
            return f"column:{self.column}"
        if self.kind in METRIC_RULES:
            return f"{self.kind}{METRIC_RULES[self.kind]}{self.value:g}"
        return f"rows<{int(self.value or 0)}"

    @property
    def on_labels(self) -> bool:
        """True for a performance rule, judged when labels arrive rather than when the window closes."""
        return self.kind in METRIC_RULES

    def breached_by(self, performance: dict[str, Any], window: int) -> str | None:
        """A message when a window's ``performance`` (see ``window_metrics``) breaches this performance rule."""
        value = performance.get(self.kind)
        if not self.on_labels or value is None or self.value is None:
            return None
        low, high = performance.get(f"{self.kind}_ci", (None, None))
        interval = f" (95% CI {low:.4g}–{high:.4g})" if low is not None and high is not None else ""
        n = performance.get("n", 0)
        if self.kind == "accuracy" and value < self.value:
            return f"accuracy {value:.4g}{interval} on {n} labelled events of window {window} is below {self.value:g}"
        if self.kind in ("mae", "rmse") and value > self.value:
            return f"{self.kind.upper()} {value:.4g}{interval} on {n} labelled events of window {window} is above {self.value:g}"
        return None

    def breached(self, summary: dict[str, Any]) -> str | None:
        """A message when the window ``summary`` breaches the rule, else None."""
        if self.kind == "drift" and summary["drift"]:
            cols = ", ".join(summary["drifted"][:10]) or "multivariate"
            return f"drift in window {summary['window']}: {cols}"
        if self.kind == "share" and summary["share"] >= (self.value or 0.0):
            return f"{summary['share']:.0%} of the columns drifted in window {summary['window']} (rule: at least {self.value:.0%})"
        if self.kind == "column" and self.column in summary["drifted"]:
            return f"column {self.column} drifted in window {summary['window']}"
        if self.kind == "rows" and summary["rows"] < (self.value or 0):
            return f"window {summary['window']} holds {summary['rows']} events, fewer than {int(self.value or 0)}"
        return None


def parse_rule(text: str, columns: list[str] | None = None) -> Rule:
    raw = str(text).strip()
    if raw == "drift":
        return Rule("drift")
    if match := re.fullmatch(r"share\s*>=\s*([0-9.]+)", raw):
        value = float(match.group(1))
        if not 0 < value <= 1:
            raise UsageError(f"rule {text!r}: the share must be in (0, 1]")
        return Rule("share", value)
    if raw.startswith("column:"):
        name = raw[len("column:"):]
        if columns is not None and name not in columns:
            raise UsageError(f"rule {text!r} names a column the monitor does not watch", hint=f"its columns: {', '.join(columns[:30])}")
        return Rule("column", column=name)
    if match := re.fullmatch(r"rows\s*<\s*(\d+)", raw):
        return Rule("rows", float(match.group(1)))
    if match := re.fullmatch(r"(accuracy)\s*<\s*([0-9.]+)|(mae|rmse)\s*>\s*([0-9.eE+-]+)", raw):
        kind = match.group(1) or match.group(3)
        try:
            value = float(match.group(2) or match.group(4))
        except ValueError:
            raise UsageError(f"rule {text!r}: cannot read the threshold") from None
        if kind == "accuracy" and not 0 < value <= 1:
            raise UsageError(f"rule {text!r}: the accuracy threshold must be in (0, 1]")
        if not math.isfinite(value) or value < 0:
            raise UsageError(f"rule {text!r}: the threshold must be a finite number >= 0")
        return Rule(kind, value)
    raise UsageError(f"cannot read the rule {text!r}", hint="rules are: drift, share>=0.3, column:NAME, rows<100, accuracy<0.9, mae>2.5, rmse>3")


def default_task(kind: str | None) -> str:
    """A categorical prediction is a class; a numeric one a regression (pass the task for integer class ids)."""
    return "classification" if kind == "categorical" else "regression"


def check_performance(schema: dict[str, str], prediction: str | None, task: str | None, rules: list[Rule], min_labels: int) -> str | None:
    """The task the monitor's performance is judged as, after checking that rules, task and prediction agree."""
    metric_rules = [r for r in rules if r.on_labels]
    if prediction is None:
        if task is not None or metric_rules:
            what = f"rule {metric_rules[0].text!r}" if metric_rules else f"task {task!r}"
            raise UsageError(f"the {what} needs the column holding the model's prediction", hint="name it with --prediction COLUMN")
        return None
    if prediction not in schema:
        raise UsageError(f"the prediction column {prediction!r} is not watched by the monitor", hint=f"its columns: {', '.join(list(schema)[:30])}")
    if task is not None and task not in TASKS:
        raise UsageError(f"unknown task {task!r}", hint=f"tasks are: {', '.join(TASKS)}")
    task = task or default_task(schema[prediction])
    if task == "regression" and schema[prediction] != "numeric":
        raise UsageError(f"the prediction column {prediction!r} holds text, so it cannot be judged as a regression", hint="use --task classification")
    for rule in metric_rules:
        wanted = "classification" if rule.kind == "accuracy" else "regression"
        if task != wanted:
            raise UsageError(f"the rule {rule.text!r} judges a {wanted}, but the monitor's task is {task}",
                             hint=f"pass --task {wanted}" if wanted == "classification" else "use accuracy<X for a classifier")  # fmt: skip
    if not isinstance(min_labels, int) or isinstance(min_labels, bool) or not 1 <= min_labels <= 10_000_000:
        raise UsageError(f"min_labels {min_labels!r} is out of range", hint="use between 1 and 10000000 labelled events")
    return task


def check_name(name: str, what: str = "monitor") -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(f"invalid {what} name {name!r}", hint="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def check_notify(notify: str) -> str:
    if notify not in NOTIFY:
        raise UsageError(f"unknown notify setting {notify!r}",
                         hint="use 'every' (post each breaching window's alert) or 'change' (post when a rule starts breaching)")
    return notify


def distinct_rules(rules: list[Rule]) -> list[Rule]:
    """``rules`` with each rule once (an alert is unique per window and rule: a repeat would fail the window's transaction)."""
    once: dict[str, Rule] = {}
    for rule in rules:
        once.setdefault(rule.text, rule)
    return list(once.values())


def check_webhook(url: str) -> str:
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"the webhook {url!r} is not an http(s) URL", hint="give a URL such as https://hooks.example.com/assay")
    return str(url)


@dataclass
class MonitorSpec:
    """A monitor: which columns of which reference, how windows close, what raises an alert."""

    columns: list[str]
    schema: dict[str, str]  # column -> "numeric" | "categorical"
    window: WindowSpec = field(default_factory=lambda: WindowSpec("rows", 10_000))
    rules: list[Rule] = field(default_factory=lambda: [Rule("drift")])
    webhooks: list[str] = field(default_factory=list)
    drift: dict[str, Any] = field(default_factory=dict)  # DriftSpec fields (the columns are set from ``columns``)
    task: str | None = None  # "classification" or "regression": how predictions meet labels (None: no prediction column)
    min_labels: int = 50  # labelled events a window needs before performance rules judge it
    notify: str = "every"  # which alerts go to the webhooks: "every" one, or on a "change" (a streak's first)

    @property
    def prediction(self) -> str | None:
        """The column holding the model's prediction, compared with the labels sent later."""
        return self.drift.get("prediction")

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns), "schema": dict(self.schema),
            "window": {"kind": self.window.kind, "size": self.window.size, "text": self.window.to_text()},
            "rules": [r.text for r in self.rules], "webhooks": list(self.webhooks), "drift": dict(self.drift),
            "task": self.task, "min_labels": self.min_labels, "notify": self.notify,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> MonitorSpec:
        columns = list(doc["columns"])
        prediction = doc.get("drift", {}).get("prediction")
        task = doc.get("task") or (default_task(doc["schema"].get(prediction)) if prediction else None)
        return cls(
            columns=columns, schema=dict(doc["schema"]),
            window=WindowSpec(doc["window"]["kind"], int(doc["window"]["size"])),
            rules=distinct_rules([parse_rule(r, columns) for r in doc.get("rules", [])]), webhooks=list(dict.fromkeys(doc.get("webhooks", []))),
            drift=dict(doc.get("drift", {})), task=task, min_labels=int(doc.get("min_labels", 50)),
            notify=str(doc.get("notify", "every")),
        )  # fmt: skip

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()
