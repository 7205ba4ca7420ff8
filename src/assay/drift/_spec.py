"""The drift spec: what to compare and how to judge it, as plain serializable data.

A spec is configuration only (STYLE 4): it can be printed, diffed, hashed for lineage
and shipped to a worker. The code that computes lives in the other modules.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from assay._wording import noun_for
from assay.errors import UsageError

__all__ = ["ColumnRule", "DriftSpec"]

MAX_BINS = 1_000_000  # quantile bins per numeric column

CORRECTIONS = ("holm", "bh", "none")
METHODS = ("auto", "exact", "binned")


@dataclass(frozen=True)
class ColumnRule:
    """Override the test and/or threshold for one column or one kind of column."""

    test: str | None = None
    threshold: float | None = None


@dataclass
class DriftSpec:
    """How to compare a reference with a current data set.

    The default verdict per column is *statistically and practically significant*:
    the column drifts when its test's p-value, adjusted across all columns with
    ``correction``, is below ``alpha`` **and** its effect size reaches the threshold.
    The distances (PSI, Jensen-Shannon, Hellinger, Wasserstein, energy, TV) have a
    permutation p-value on their bins, drawn with ``seed``; only a plugin test without
    a p-value judges on the threshold alone.

    Example::

        spec = DriftSpec(columns=("age", "city"), numeric=ColumnRule("psi", 0.2))
    """

    columns: tuple[str, ...] | None = None
    target: str | None = None
    prediction: str | None = None
    numeric: ColumnRule = field(default_factory=lambda: ColumnRule("ks"))
    categorical: ColumnRule = field(default_factory=lambda: ColumnRule("chi2"))
    per_column: dict[str, ColumnRule] = field(default_factory=dict)
    alpha: float = 0.05
    correction: str = "holm"
    fail_on: str = "any"
    # A column's missing rate (nulls and NaN) changing by at least this much, with a
    # significant two-proportion test in the same correction family, is drift too; so is a
    # numeric column's share of infinite values (which the distribution tests leave out too).
    missing_rate_threshold: float = 0.05
    # A categorical column's current rows falling in categories the reference never saw, beyond
    # the reference's own share of once-seen categories (Good-Turing) by at least this much,
    # with a significant permutation test in the same family, is drift too (rare values that
    # switched to other rare values, which chi-squared pools into one cell).
    unseen_threshold: float = 0.05
    method: str = "auto"
    exact_max_rows: int = 2_000_000
    bins: int = 1000
    max_categories: int = 10_000
    multivariate: bool = True
    multivariate_sample: int = 5_000
    classifier_auc_threshold: float = 0.55
    mmd_sample: int = 300
    mmd_permutations: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.numeric, dict):
            self.numeric = ColumnRule(**self.numeric)
        if isinstance(self.categorical, dict):
            self.categorical = ColumnRule(**self.categorical)
        self.per_column = {k: ColumnRule(**v) if isinstance(v, dict) else v for k, v in self.per_column.items()}
        if self.columns is not None and isinstance(self.columns, (list, tuple)):  # any other value is named by validate()
            # a column named twice (--columns age,age) is watched once: binned profiles read it twice, a pyarrow KeyError (exit 3)
            self.columns = tuple(dict.fromkeys(self.columns) if all(isinstance(c, str) for c in self.columns) else self.columns)

    # -- checking -----------------------------------------------------------------------
    def validate(self) -> DriftSpec:
        """Raise :class:`UsageError` naming the first setting that cannot work."""
        from assay.drift._registry import get_stat_test

        self._check_types()
        if self.columns is not None and not self.columns:  # ("columns: []", --columns " , "): it read as "share no columns"
            raise UsageError("the drift spec's columns name no column", hint="name at least one column, or leave columns out to compare every shared column")
        if not 0 < self.alpha < 1:
            raise UsageError(f"alpha must be between 0 and 1, got {self.alpha}")
        if self.correction not in CORRECTIONS:
            raise UsageError(f"unknown correction {self.correction!r}", hint=f"use one of {', '.join(CORRECTIONS)}")
        if self.method not in METHODS:
            raise UsageError(f"unknown method {self.method!r}", hint=f"use one of {', '.join(METHODS)}")
        self.fail_share()
        for name, least in (("bins", 10), ("max_categories", 1), ("exact_max_rows", 0), ("multivariate_sample", 20), ("mmd_sample", 10),
                            ("mmd_permutations", 1), ("seed", 0)):  # fmt: skip
            if getattr(self, name) < least:
                raise UsageError(f"{name} must be at least {least}, got {getattr(self, name)}")
        if self.bins > MAX_BINS:  # numpy cannot allocate the edges of 1e30 bins: "Maximum allowed size exceeded", exit 3
            raise UsageError(f"bins must be at most {MAX_BINS:,}, got {self.bins:,}")
        # the MMD's kernel holds (2 x mmd_sample)^2 floats, three times over (2.4 GB at the most), and each
        # permutation costs a pass over it: past these a spec asked for a MemoryError (exit 3) or hours
        # (only where the multivariate tests run: a monitor, which never runs them, keeps what it stored before the caps)
        for name, most in (("mmd_sample", 5_000), ("mmd_permutations", 100_000)):
            if self.multivariate and getattr(self, name) > most:
                raise UsageError(f"{name} must be at most {most:,}, got {getattr(self, name):,}",
                                 hint="the MMD test's p-value is (1 + exceedances) / (1 + permutations): 10,000 permutations resolve p = 0.0001")  # fmt: skip
        for name in ("missing_rate_threshold", "unseen_threshold"):
            if not 0 <= getattr(self, name) <= 1:
                raise UsageError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if not 0.5 <= self.classifier_auc_threshold < 1:
            raise UsageError(f"classifier_auc_threshold must be at least 0.5 and below 1, got {self.classifier_auc_threshold}")
        for where, rule, kind in (("numeric", self.numeric, "numeric"), ("categorical", self.categorical, "categorical")):
            if rule.test is not None:
                test = get_stat_test(rule.test)
                if kind not in test.kinds:
                    raise UsageError(f"test {rule.test!r} cannot judge {where} columns", hint=f"it supports {', '.join(sorted(test.kinds))} columns")
            if rule.threshold is not None and rule.threshold < 0:
                raise UsageError(f"threshold must be >= 0, got {rule.threshold}")
        for name, rule in self.per_column.items():
            if rule.test is not None:
                get_stat_test(rule.test)
            if rule.threshold is not None and rule.threshold < 0:
                raise UsageError(f"threshold for column {name!r} must be >= 0, got {rule.threshold}")
        return self

    def _check_types(self) -> None:
        """A spec read from YAML or JSON may hold any value: name the field whose value has the wrong type."""
        import numpy as np

        def wrong(name: str, value: object, expected: str) -> UsageError:
            return UsageError(f"drift spec field {name} must be {expected}, got {value!r}")

        # numbers.Real and numbers.Integral take NumPy's numbers too (a spec built from computed
        # settings holds np.int64); they are stored as Python's, so the spec stays JSON for its digest
        for name in ("alpha", "missing_rate_threshold", "unseen_threshold", "classifier_auc_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise wrong(name, value, "a number")
            if type(value) not in (int, float):
                setattr(self, name, float(value))
        for name in ("exact_max_rows", "bins", "max_categories", "multivariate_sample", "mmd_sample", "mmd_permutations", "seed"):
            value = getattr(self, name)
            # 100.0 and 1e6 (JSON's only exponent form) are whole numbers too, and worked before this check
            whole = isinstance(value, numbers.Integral) or (isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer())
            if isinstance(value, bool) or not whole:
                raise wrong(name, value, "a whole number")
            setattr(self, name, int(value))
        if isinstance(self.multivariate, np.bool_):
            self.multivariate = bool(self.multivariate)
        if not isinstance(self.multivariate, bool):
            raise wrong("multivariate", self.multivariate, "true or false")
        for name in ("correction", "method", "fail_on"):
            if not isinstance(getattr(self, name), str):
                raise wrong(name, getattr(self, name), "text")
        for name in ("target", "prediction"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise wrong(name, getattr(self, name), "a column name")
        if self.columns is not None and (not isinstance(self.columns, (list, tuple)) or not all(isinstance(c, str) for c in self.columns)):
            raise wrong("columns", list(self.columns) if isinstance(self.columns, (list, tuple)) else self.columns, "a list of column names")
        for where, rule in (("numeric", self.numeric), ("categorical", self.categorical), *((f"per_column {k!r}", r) for k, r in self.per_column.items())):
            if not isinstance(rule, ColumnRule):
                raise wrong(where, rule, "a rule such as {test: psi, threshold: 0.2}")
            if rule.test is not None and not isinstance(rule.test, str):
                raise wrong(f"{where} test", rule.test, "a test name")
            # NaN compares false with every effect: a column under it could never drift, and JSON wrote it as null
            if rule.threshold is not None and (isinstance(rule.threshold, bool) or not isinstance(rule.threshold, numbers.Real) or math.isnan(rule.threshold)):
                raise wrong(f"{where} threshold", rule.threshold, "a number")
        self.numeric, self.categorical = _plain(self.numeric), _plain(self.categorical)
        self.per_column = {k: _plain(r) for k, r in self.per_column.items()}

    def fail_share(self) -> float | None:
        """``None`` for ``fail_on="any"``, else the share of drifted columns that fails."""
        if self.fail_on == "any":
            return None
        if self.fail_on.startswith("share:"):
            try:
                share = float(self.fail_on.split(":", 1)[1])
            except ValueError:
                share = -1.0
            if 0 < share <= 1:
                return share
        raise UsageError(f"cannot read fail_on={self.fail_on!r}", hint="use 'any' or 'share:X' with 0 < X <= 1, e.g. share:0.3")

    # -- serializing ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["columns"] = list(self.columns) if self.columns is not None else None
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> DriftSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise UsageError(f"unknown drift spec {noun_for(len(unknown), 'field')}: {', '.join(unknown)}", hint=f"known fields: {', '.join(sorted(known))}")
        doc = dict(doc)
        if isinstance(doc.get("columns"), str):  # "columns: age, city" as on the command line
            doc["columns"] = [c.strip() for c in doc["columns"].split(",") if c.strip()]
        for key in ("numeric", "categorical"):
            if key in doc:
                doc[key] = _rule_from(doc[key], key)
        if doc.get("per_column") is not None:
            if not isinstance(doc["per_column"], dict):
                raise UsageError(f"drift spec field per_column must map column names to rules, got {doc['per_column']!r}",
                                 hint="e.g. per_column: {age: {test: psi, threshold: 0.2}}")  # fmt: skip
            doc["per_column"] = {str(k): _rule_from(v, f"per_column {k!r}") for k, v in doc["per_column"].items()}
        elif "per_column" in doc:
            doc["per_column"] = {}
        return cls(**doc)

    def digest(self) -> str:
        """A stable hash of the spec, for lineage."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _plain(rule: ColumnRule) -> ColumnRule:
    """The rule with a NumPy threshold as Python's float."""
    return rule if rule.threshold is None or type(rule.threshold) in (int, float) else ColumnRule(rule.test, float(rule.threshold))


def _rule_from(value: object, where: str) -> ColumnRule:
    """A rule from a spec file: a mapping of ``test`` and ``threshold``, or a test's name alone."""
    if isinstance(value, ColumnRule):
        return value
    if value is None:
        return ColumnRule()
    if isinstance(value, str):
        return ColumnRule(value)
    if not isinstance(value, dict):
        raise UsageError(f"drift spec field {where} must be a rule, got {value!r}", hint="e.g. {test: psi, threshold: 0.2}, or a test's name")
    unknown = sorted(set(value) - {"test", "threshold"})
    if unknown:
        raise UsageError(f"drift spec field {where} has unknown {noun_for(len(unknown), 'field')}: {', '.join(map(str, unknown))}", hint="a rule has test and threshold")
    return ColumnRule(**value)
