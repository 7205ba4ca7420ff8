"""The drift spec: what to compare and how to judge it, as plain serializable data.

A spec is configuration only (STYLE 4): it can be printed, diffed, hashed for lineage
and shipped to a worker. The code that computes lives in the other modules.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from assay._wording import noun_for
from assay.errors import UsageError

__all__ = ["ColumnRule", "DriftSpec"]

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
    Tests without a p-value (distances such as PSI) judge on the threshold alone.

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
    # significant two-proportion test in the same correction family, is drift too.
    missing_rate_threshold: float = 0.05
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
        if self.columns is not None:
            self.columns = tuple(self.columns)

    # -- checking -----------------------------------------------------------------------
    def validate(self) -> DriftSpec:
        """Raise :class:`UsageError` naming the first setting that cannot work."""
        from assay.drift._registry import get_stat_test

        if not 0 < self.alpha < 1:
            raise UsageError(f"alpha must be between 0 and 1, got {self.alpha}")
        if self.correction not in CORRECTIONS:
            raise UsageError(f"unknown correction {self.correction!r}", hint=f"use one of {', '.join(CORRECTIONS)}")
        if self.method not in METHODS:
            raise UsageError(f"unknown method {self.method!r}", hint=f"use one of {', '.join(METHODS)}")
        self.fail_share()
        if self.bins < 10:
            raise UsageError(f"bins must be at least 10, got {self.bins}")
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
        return cls(**doc)

    def digest(self) -> str:
        """A stable hash of the spec, for lineage."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()
