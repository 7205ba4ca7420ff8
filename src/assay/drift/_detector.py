"""The drift detector: fit on a reference, compare a current table, judge every column.

Exact mode (the default up to ``spec.exact_max_rows`` reference rows) keeps the
sorted reference values and reads the current table one column at a time; binned
mode profiles the reference into sketches and streams the current table into
sketches on the same edges, so memory is bounded by the sketch size.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay._wording import counted, noun_for
from assay.drift._columns import CategoricalSide, NumericSide, arrow_kind, categorical_side, index_array, numeric_side, parse_numbers, parse_times, to_text
from assay.drift._correction import adjust_p_values
from assay.drift._evidence import (
    categorical_chart,
    categorical_comparison,
    distinct_share,
    is_identifier_like,
    missing_rate_test,
    nonfinite_rate_test,
    numeric_chart,
    numeric_comparison,
    side_summary,
    unseen_test,
)
from assay.drift._io import open_source
from assay.drift._profile import CategoricalSketch, NumericSketch, Profile, count_like, profile_and_sample
from assay.drift._registry import get_stat_test
from assay.drift._report import ColumnResult, DriftReport, Finding, left_out_findings
from assay.drift._spec import ColumnRule, DriftSpec
from assay.errors import InputError, UsageError
from assay.progress import bar

__all__ = ["DriftDetector", "compare"]

ROLE_CATEGORICAL_MAX = 20  # an integer target/prediction with at most this many values is a label
# an identifier-like column whose current data has fewer distinct values than this share of its rows is judged after all
IDENTIFIER_REPEATS = 0.5
# below this many rows on a side the tests can see only gross changes: said in a warning
SMALL_SAMPLE_ROWS = 100
# a text side of a column numeric on the other is compared as numbers when at least this share of its values parse
# (the rest read as missing, for the missing-rate test to judge): one stray "n/a" in a CSV made the column text
# there, and "1.100" against 1.1 as categories was drift
MOSTLY_NUMBERS = 0.9
SIDE_NAMES = {"reference": "reference", "current": "current data"}  # in messages: "in the current" read as cut off


class DriftDetector:
    """Fit on a reference, then :meth:`compare` current data to it.

    Example::

        report = DriftDetector(DriftSpec(target="label")).fit("train.parquet").compare("today.parquet")
        report.drift, report.drifted_columns
    """

    def __init__(self, spec: DriftSpec | None = None, *, executor: object | None = None, workspace: object | None = None) -> None:
        self.spec = spec
        self.executor = executor
        self.workspace = workspace

    # -- fit ----------------------------------------------------------------------------
    def fit(self, reference: object) -> DriftDetector:
        """Learn the reference: sorted values (exact) or a profile of sketches (binned)."""
        spec = (self.spec or DriftSpec()).validate()
        self.spec_ = spec
        self.findings_: list[Finding] = []
        with open_source(reference, label="reference", workspace=self.workspace) as src:
            if isinstance(src, Profile):
                self._fit_profile(src)
                return self
            self.label_ = src.label
            self.rows_ = src.num_rows
            if self.rows_ == 0:
                raise InputError(f"the reference {src.label} has no rows", hint="give a reference with data in it")
            names = self._wanted(list(src.schema.names), "reference")
            self.mode_ = "exact" if spec.method == "exact" or (spec.method == "auto" and self.rows_ <= spec.exact_max_rows) else "binned"
            self.notes_ = dict(src.notes)
            self.findings_ += left_out_findings(src)
            self.kinds_ = {n: arrow_kind(src.schema.field(n).type) for n in names}
            self.types_ = {n: str(src.schema.field(n).type) for n in names}
            self.sample_ = None
            if self.mode_ == "exact":
                # rows for the multivariate tests are taken from each column as it is read: no extra pass
                picks = _pick_rows(self.rows_, spec.multivariate_sample, spec.seed) if spec.multivariate else None
                readable = [n for n in names if self.kinds_[n] in ("numeric", "categorical", "null")]

                def read(name: str) -> tuple[object, pa.ChunkedArray | None]:
                    column = src.read_column(name)
                    return _side(column, self.kinds_[name]), (column.take(picks) if picks is not None else None)

                done = _map_columns(read, readable)
                self.sides_: dict[str, object] = {n: side for n, (side, _) in zip(readable, done)}
                sample = {n: col for n, (_, col) in zip(readable, done) if col is not None}
                self.sample_ = pa.table(sample) if picks is not None and sample else None
            else:
                self.profile_, sample_table = profile_and_sample(src, columns=names, bins=spec.bins, max_categories=spec.max_categories,
                                                                 seed=spec.seed, executor=self.executor)  # fmt: skip
                if spec.multivariate and sample_table is not None:
                    self.sample_ = _subsample(sample_table, spec.multivariate_sample, spec.seed)
        return self

    def _fit_profile(self, profile: Profile) -> None:
        self.label_ = profile.label or "profile"
        self.rows_ = profile.rows
        self.mode_ = "binned"
        self.notes_ = {}
        self.profile_ = profile
        self.sample_ = None
        names = self._wanted(list(profile.columns) + list(profile.unsupported), "reference profile")
        self.kinds_ = {n: ("unsupported" if n in profile.unsupported else profile.columns[n].kind) for n in names}
        self.types_ = dict(profile.unsupported)
        self.findings_ += left_out_findings(profile)

    def _wanted(self, available: list[str], side: str) -> list[str]:
        spec = self.spec_
        if spec.columns is None:
            names = list(available)
        else:
            names = list(spec.columns)
            for extra in (spec.target, spec.prediction):
                if extra and extra not in names:
                    names.append(extra)
        missing = [n for n in names if n not in available]
        if spec.columns is not None and missing:
            raise InputError(f"the {side} has no {noun_for(len(missing), 'column')} {', '.join(map(repr, missing))}", hint=f"its columns are: {', '.join(available[:30])}")
        for role, name in (("target", spec.target), ("prediction", spec.prediction)):
            if name and name not in available:
                raise InputError(f"the {role} column {name!r} is not in the {side}", hint=f"its columns are: {', '.join(available[:30])}")
        return [n for n in names if n in available]

    # -- compare ------------------------------------------------------------------------------
    def compare(self, current: object) -> DriftReport:
        """Judge ``current`` against the fitted reference."""
        spec = self.spec_
        findings = list(self.findings_)
        with open_source(current, label="current", workspace=self.workspace) as src:
            if isinstance(src, Profile):
                if self.mode_ != "binned":
                    raise InputError("a current profile needs a reference profile, or a reference read in binned mode (--method binned, method='binned')",
                                     hint="profile the current data on the reference's bins: assay drift profile DATA --like REFERENCE.json")  # fmt: skip
                return self.compare_profile(src)
            if src.num_rows == 0:
                raise InputError(f"the current data {src.label} has no rows", hint="give current data with rows in it")
            src = self._keep_empty_text(src, findings)
            findings += _new(left_out_findings(src), findings)  # (the same folder on both sides: once)
            cur_names = list(src.schema.names)
            if spec.columns is not None:
                absent = [n for n in self.kinds_ if n not in cur_names]
                if absent:
                    raise InputError(f"the current data has no {noun_for(len(absent), 'column')} {', '.join(map(repr, absent))}", hint=f"its columns are: {', '.join(cur_names[:30])}")
            for role, name in (("target", spec.target), ("prediction", spec.prediction)):
                if name and name not in cur_names:
                    raise InputError(f"the {role} column {name!r} is not in the current data",
                                     hint=f"leave out the {role} (--{role}) where the current data has none yet; its columns are: {', '.join(cur_names[:30])}")  # fmt: skip
            names = [n for n in self.kinds_ if n in cur_names]
            if spec.columns is None:
                for n in self.kinds_:
                    if n not in cur_names:
                        findings.append(Finding("column_missing", f"column {n!r} is in the reference but not in the current data", n, "warning"))
                for n in cur_names:
                    if n not in self.kinds_:
                        findings.append(Finding("column_added", f"column {n!r} is in the current data but not in the reference", n, "warning"))
            if not names:
                raise InputError("the reference and the current data share no columns", hint="check that you compare the same kind of table")
            notes = {**self.notes_, **src.notes}
            findings += self._unused_rules(names)
            results = self._judge_columns(src, names, findings, notes)
            multivariate = self._multivariate(src, results)
            return self._verdict(results, findings, multivariate, src)

    def _unused_rules(self, compared: list[str]) -> list[Finding]:
        """A warning for each per-column rule of the spec that names no compared column (a typo,
        a column renamed): it was silently unused, and the column it meant judged by the default."""
        unused = [n for n in self.spec_.per_column if n not in compared]
        return [Finding("unused_rule", f"the spec's per_column rule for {n!r} is not used: no column of that name is compared", n, "warning",
                        {"compared": compared[:30]}) for n in unused]  # fmt: skip

    def _keep_empty_text(self, src: Any, findings: list[Finding]) -> Any:
        """Read "" as a category in the current CSV's columns where the reference counts it as one.

        Profiles saved before empty CSV fields were read as missing hold "" as a category:
        the very same CSV, read now, would show chi2 drift and a missing rate from 0%.
        """
        kept = {n for n in getattr(src, "empty_text", ()) if n in self.kinds_ and self._counts_empty_text(n)}
        if not kept:
            return src
        for n in sorted(kept):
            findings.append(Finding("empty_text_category", f'column {n!r}: the reference counts the empty text "" as a category (as profiles saved before empty CSV fields '
                                    'were read as missing), so the current data\'s empty fields are read as "" too', n, "info"))  # fmt: skip
        return src.keeping_empty_text(kept)

    def _counts_empty_text(self, name: str) -> bool:
        if self.mode_ == "binned":
            sketch = self.profile_.columns.get(name)
            return isinstance(sketch, CategoricalSketch) and sketch.counts_empty_text
        side = self.sides_.get(name)
        return isinstance(side, CategoricalSide) and "" in side.categories.tolist()

    def compare_profile(self, current: Profile) -> DriftReport:
        """Judge a profile of the current data whose sketches share this reference's edges.

        For sketches counted elsewhere (merged partitions, a monitor's windows): the same
        tests, correction and rule as :meth:`compare`, without reading any data.
        Multivariate tests need rows, so they are not run.
        """
        from types import SimpleNamespace

        if self.mode_ != "binned":
            raise UsageError("compare_profile needs a detector fitted on a profile or with method='binned'")
        findings = list(self.findings_)
        findings += _new(left_out_findings(current), findings)
        findings += self._unused_rules([n for n in self.kinds_ if n in current.columns])
        # as compare() says of data: a column gone from the current profile (a feature the pipeline stopped
        # writing) was left out without a word, and the report judged the rest as if nothing were missing
        cur_names = [*current.columns, *current.unsupported]
        absent = [n for n in self.kinds_ if n not in cur_names]
        if self.spec_.columns is not None and absent:
            raise InputError(f"the current profile has no {noun_for(len(absent), 'column')} {', '.join(map(repr, absent))}", hint=f"its columns are: {', '.join(cur_names[:30])}")
        findings += [Finding("column_missing", f"column {n!r} is in the reference but not in the current profile", n, "warning") for n in absent]
        if self.spec_.columns is None:
            findings += [Finding("column_added", f"column {n!r} is in the current profile but not in the reference", n, "warning") for n in cur_names if n not in self.kinds_]
        results = []
        for name in self.kinds_:
            ref = self.profile_.columns.get(name)
            cur = current.columns.get(name)
            if ref is None or cur is None:
                continue
            if ref.kind != cur.kind or (isinstance(ref, NumericSketch) and not np.array_equal(ref.edges, cur.edges)):
                raise InputError(f"the current profile's column {name!r} was not counted on the reference's bins",
                                 hint="count current data on the reference profile's edges: `assay drift profile DATA --like REFERENCE.json` (Python: profile_source(DATA, like=...))")  # fmt: skip
            if isinstance(cur, CategoricalSketch) and cur.counts_empty_text and not ref.counts_empty_text and not cur.missing:  # type: ignore[union-attr]
                # a current profile saved before empty CSV fields were read as missing, against a reference read since
                # (a CSV's text column read so has no missing value: one that has them, from Parquet, holds "" itself)
                cur = cur.empty_text_as_missing()
                findings.append(Finding("empty_text_category", f'column {name!r}: the current profile counts the empty text "" as a category and the reference does not '
                                        '(as profiles saved before empty CSV fields were read as missing), so its "" is read as missing', name, "info"))  # fmt: skip
            cur = _zero_one_sketch_as_flags(name, ref, cur, findings) or cur
            results.append(self._judge(name, ref.kind, ref, cur))
        if not results:
            raise InputError("the reference and the current profile share no columns")
        source = SimpleNamespace(num_rows=current.rows, label=current.label or "current profile")
        return self._verdict(results, findings, None, source)

    def _judge_columns(self, src: object, names: list[str], findings: list[Finding], notes: dict[str, str]) -> list[ColumnResult]:
        spec = self.spec_
        pairs: dict[str, tuple[str, object, object]] = {}
        cur_kinds = {n: arrow_kind(src.schema.field(n).type) for n in names}  # type: ignore[attr-defined]
        if self.mode_ == "binned":
            countable = []
            for n in names:
                rk, ck = self.kinds_[n], cur_kinds[n]
                if "unsupported" in (rk, ck):
                    continue
                if rk == "numeric" and ck == "categorical":  # (as exact mode does when most of the text parses)
                    what = "times" if self.profile_.columns[n].tick_us is not None else "numbers"
                    findings.append(Finding("type_mismatch", f"column {n!r} is numeric in the reference profile but text in the current data; counted as {what}, "
                                            f"and a value that is not one as missing", n, "warning"))  # fmt: skip
                countable.append(n)
            sample_rows = spec.multivariate_sample if spec.multivariate and self.sample_ is not None else 0
            self._ref_sample_as: dict[str, Any] = {}
            _, sketches, self._cur_sample = (count_like(self.profile_, src, countable, executor=self.executor, sample_rows=sample_rows, seed=spec.seed + 1)
                                             if countable else (0, {}, None))  # fmt: skip
            for n in countable:
                if self.kinds_[n] == "numeric" and cur_kinds[n] == "categorical" and self._cur_sample is not None and n in self._cur_sample.column_names:
                    at = self._cur_sample.column_names.index(n)
                    parse = parse_times if self.profile_.columns[n].tick_us is not None else parse_numbers
                    self._cur_sample = self._cur_sample.set_column(at, n, parse(self._cur_sample.column(n))[0])
                ref, cur = self.profile_.columns[n], sketches[n]
                flags = _zero_one_sketch_as_flags(n, ref, cur, findings)
                if flags is None and self.kinds_[n] == "categorical" and cur_kinds[n] == "numeric":
                    # (said, as exact mode says it: 1.1 counted as the text "1.1" is not the reference's "1.100")
                    findings.append(Finding("type_mismatch", f"column {n!r} is text in the reference profile but numeric in the current data; compared as text", n, "warning"))
                if flags is not None:  # (and the domain classifier's sample read the same way)
                    cur = flags
                    if self._cur_sample is not None and n in self._cur_sample.column_names:
                        at = self._cur_sample.column_names.index(n)
                        self._cur_sample = self._cur_sample.set_column(at, n, _zero_one_column_as_flags(self._cur_sample.column(n)))
                pairs[n] = (ref.kind, ref, cur)
        else:
            picks = _pick_rows(src.num_rows, spec.multivariate_sample, spec.seed + 1) if spec.multivariate and self.sample_ is not None else None  # type: ignore[attr-defined]
            progress = bar(len(names), "drift: columns", "col")
            # a column whose sides were reconciled (0/1 read as true/false, text as numbers): the reference sample
            # read the same way, else the domain classifier tells "true" from "1" and finds drift in equal data
            self._ref_sample_as = {}

            def prepare(n: str) -> tuple[tuple[str, object, object] | None, pa.ChunkedArray | None, list[Finding]]:
                progress.update(1)
                rk, ck = self.kinds_[n], cur_kinds[n]
                if "unsupported" in (rk, ck):
                    return None, None, []
                local: list[Finding] = []  # gathered per column, merged in column order: reports stay deterministic
                ref_side = self.sides_[n]
                column = src.read_column(n)  # type: ignore[attr-defined]
                kind = rk if rk != "null" else ck
                if kind == "null":
                    kind = "categorical"
                if rk == "numeric" and ck == "categorical" or rk == "categorical" and ck == "numeric":
                    ref_time = self.types_.get(n, "").startswith(("timestamp", "date"))
                    kind, ref_side, cur_side, column, ref_as = _reconcile(n, rk, ref_side, column, local, ref_time=ref_time)
                    if ref_as is not None:
                        self._ref_sample_as[n] = ref_as
                else:
                    cur_side = _side(column, kind if ck != "null" else "null")
                    if isinstance(ref_side, CategoricalSide) and kind == "numeric" and rk == "null":
                        ref_side = NumericSide(ref_side.rows, ref_side.missing, 0, 0, np.empty(0))
                    if isinstance(cur_side, CategoricalSide) and kind == "numeric":
                        cur_side = NumericSide(cur_side.rows, cur_side.missing, 0, 0, np.empty(0))
                if kind == "numeric" and n in (spec.target, spec.prediction) and _few_integers(ref_side, cur_side):
                    kind, ref_side, cur_side = "categorical", _as_categorical(ref_side), _as_categorical(cur_side)
                return (kind, ref_side, cur_side), (column.take(picks) if picks is not None else None), local

            sample: dict[str, pa.ChunkedArray] = {}
            for n, (pair, sampled, local) in zip(names, _map_columns(prepare, names)):
                findings.extend(local)
                if pair is not None:
                    pairs[n] = pair
                if sampled is not None:
                    sample[n] = sampled
            progress.close()
            self._cur_sample = pa.table(sample) if sample else None
        for n in names:
            if "unsupported" in (self.kinds_[n], cur_kinds[n]):
                dtype = str(src.schema.field(n).type) if cur_kinds[n] == "unsupported" else self.types_.get(n, "")  # type: ignore[attr-defined]
                side = ("on both sides" if self.kinds_[n] == cur_kinds[n] else "in the current data") if cur_kinds[n] == "unsupported" else "in the reference"
                if dtype in ("binary", "large_binary"):
                    text = f"column {n!r} holds bytes ({dtype}) {side}, which drift cannot judge (a CSV that is not UTF-8 reads as bytes)"
                else:
                    text = f"column {n!r} is of a type drift cannot judge {side}" + (f": {dtype}" if dtype else "")
                findings.append(Finding("unsupported_type", text + "; skipped", n, "warning"))
            if n in notes:
                findings.append(Finding("mixed_types", f"column {n!r}: {notes[n]}", n, "warning"))
        judged = [n for n in names if n in pairs]
        return _map_columns(lambda n: self._judge(n, *pairs[n]), judged)

    def _rule(self, name: str, kind: str) -> tuple[str, float]:
        spec = self.spec_
        base = spec.numeric if kind == "numeric" else spec.categorical
        override = spec.per_column.get(name, ColumnRule())
        test_name = override.test or base.test or ("ks" if kind == "numeric" else "chi2")
        test = get_stat_test(test_name)
        if kind not in test.kinds:  # a per-column test that does not fit this column's kind: use the kind's default
            test_name = base.test or ("ks" if kind == "numeric" else "chi2")
            test = get_stat_test(test_name)
        threshold = override.threshold if override.threshold is not None else base.threshold
        if threshold is None or (override.test and override.threshold is None):
            threshold = test.default_threshold
        return test_name, float(threshold)

    def _judge(self, name: str, kind: str, ref: object, cur: object) -> ColumnResult:
        spec = self.spec_
        role = "target" if name == spec.target else "prediction" if name == spec.prediction else "feature"
        test_name, threshold = self._rule(name, kind)
        test = get_stat_test(test_name)
        test.seed = spec.seed
        result = ColumnResult(name, kind, role, test_name, None, None, None, threshold, False, effect_name=test.effect_name)
        asked = spec.per_column.get(name, ColumnRule()).test
        if asked and asked != test_name:  # (said: the spec looks as if the column were judged by its test)
            result.findings.append(Finding("unused_rule", f"the spec's per_column test {asked!r} for {name!r} cannot judge {kind} columns; "
                                           f"judged with {test_name!r}", name, "warning"))  # fmt: skip
        ref_summary, cur_summary = side_summary(ref), side_summary(cur)
        result.reference, result.current = ref_summary, cur_summary
        if kind == "numeric":
            cmp = numeric_comparison(ref, cur)
            if cmp is not None:
                outcome = test.numeric(cmp)
                result.chart = numeric_chart(cmp)
            for label, summary in (("reference", ref_summary), ("current", cur_summary)):
                if summary["nonfinite"]:
                    result.findings.append(Finding("nonfinite", f"column {name!r}: {counted(summary['nonfinite'], 'infinite value', grouped=True)} in the {SIDE_NAMES[label]} "
                                                   f"({summary['nonfinite'] / summary['rows']:.2%} of its rows); left out of the distribution test", name, "info",
                                                   {"side": label, "count": summary["nonfinite"]}))  # fmt: skip
        else:
            cmp = categorical_comparison(ref, cur, spec.max_categories, result.findings, name)
            if cmp is not None:
                result.chart = categorical_chart(cmp)
                # with a distinct value in nearly every row no test of categories has power (under no drift the two
                # sides would share almost no value either), so the column is reported rather than called "ok"
                if is_identifier_like(ref):
                    finding = _identifier_finding(name, ref, cur, result.findings)
                    result.findings.append(finding)
                    if not finding.details["current_repeats"]:
                        result.not_judged = "identifier-like: a distinct value in nearly every reference row"
                if not result.not_judged:
                    outcome = test.categorical(cmp)
        if cmp is None:
            empty = [label for label, s in (("reference", ref_summary), ("current", cur_summary)) if s["valid"] == 0]
            where = " and the ".join(SIDE_NAMES[label] for label in empty)
            result.findings.append(Finding("all_null", f"column {name!r} has no usable values in the {where}; no distribution test", name, "warning"))
        elif not result.not_judged:
            result.statistic, result.p_value, result.effect = outcome.statistic, outcome.p_value, outcome.effect
        result.missing_rate = missing_rate_test(ref_summary, cur_summary, spec.missing_rate_threshold)
        if kind == "numeric":  # (the missing rate's threshold: infinities are left out of the tests as missing values are)
            result.nonfinite_rate = nonfinite_rate_test(ref_summary, cur_summary, spec.missing_rate_threshold)
        if kind != "numeric" and cmp is not None and not result.not_judged:  # (an identifier brings new values by nature)
            result.unseen = unseen_test(ref, cur, spec.unseen_threshold, seed=spec.seed)
        return result

    # -- verdict ------------------------------------------------------------------------------
    def _verdict(self, results: list[ColumnResult], findings: list[Finding], multivariate: dict | None, src: object) -> DriftReport:
        spec = self.spec_
        family: list[tuple[ColumnResult, str, float]] = []
        for r in results:
            if r.p_value is not None:
                family.append((r, "test", r.p_value))
            if r.missing_rate.get("p_value") is not None:
                family.append((r, "missing", r.missing_rate["p_value"]))
            if r.nonfinite_rate.get("p_value") is not None:
                family.append((r, "nonfinite", r.nonfinite_rate["p_value"]))
            if r.unseen.get("p_value") is not None:
                family.append((r, "unseen", r.unseen["p_value"]))
        adjusted = adjust_p_values([p for _, _, p in family], spec.correction)
        for (r, what, _), p_adj in zip(family, adjusted):
            if what == "test":
                r.p_adjusted = float(p_adj)
            elif what == "missing":
                r.missing_rate["p_adjusted"] = float(p_adj)
            elif what == "nonfinite":
                r.nonfinite_rate["p_adjusted"] = float(p_adj)
            else:
                r.unseen["p_adjusted"] = float(p_adj)
        for r in results:
            if r.effect is not None and r.threshold is not None and r.effect >= r.threshold:
                if r.p_value is None:
                    r.drifted = True
                    r.reasons.append(f"{r.effect_name} {r.effect:.4g} >= {r.threshold:g}")
                elif r.p_adjusted is not None and r.p_adjusted < spec.alpha:
                    r.drifted = True
                    r.reasons.append(f"{r.effect_name} {r.effect:.4g} >= {r.threshold:g} and adjusted p {r.p_adjusted:.3g} < {spec.alpha:g}")
            mr = r.missing_rate
            if mr.get("p_adjusted") is not None and mr["p_adjusted"] < spec.alpha and mr["effect"] >= mr["threshold"]:
                mr["drifted"] = True
                r.drifted = True
                r.reasons.append(f"missing rate {mr['reference']:.2%} -> {mr['current']:.2%}")
                r.findings.append(Finding("missing_rate", f"missing rate of {r.name!r} changed from {mr['reference']:.2%} to {mr['current']:.2%}", r.name, "drift", dict(mr)))
            inf = r.nonfinite_rate
            if inf.get("p_adjusted") is not None and inf["p_adjusted"] < spec.alpha and inf["effect"] >= inf["threshold"]:
                inf["drifted"] = True
                r.drifted = True
                r.reasons.append(f"infinite values {inf['reference']:.2%} -> {inf['current']:.2%} of rows")
                r.findings.append(Finding("nonfinite_rate", f"share of infinite values in {r.name!r} changed from {inf['reference']:.2%} to {inf['current']:.2%} of rows",
                                          r.name, "drift", dict(inf)))  # fmt: skip
            new = r.unseen
            if new.get("p_adjusted") is not None and new["p_adjusted"] < spec.alpha and new["effect"] >= new["threshold"]:
                new["drifted"] = True
                r.drifted = True
                r.reasons.append(f"new categories {new['share']:.2%} of current rows, {new['expected_share']:.2%} expected "
                                 f"(adjusted p {new['p_adjusted']:.3g})")
                for f in r.findings:
                    if f.type == "unseen_categories":  # the finding that named them is now the drift's evidence
                        f.severity = "drift"
                        f.details.update(p_value=new["p_value"], p_adjusted=new["p_adjusted"])
        findings = [*findings, *_small_sample_findings(int(self.rows_), int(src.num_rows), spec.alpha)]  # type: ignore[attr-defined]
        share = sum(r.drifted for r in results) / len(results) if results else 0.0
        limit = spec.fail_share()
        drift = any(r.drifted for r in results) if limit is None else share >= limit
        if multivariate and multivariate.get("drifted"):
            drift = True
        tests = {r.test for r in results}
        method = {
            "mode": self.mode_,
            "correction": spec.correction,
            "correction_name": {"holm": "Holm (family-wise error rate)", "bh": "Benjamini-Hochberg (false discovery rate)", "none": "none"}[spec.correction],
            "alpha": spec.alpha,
            "fail_on": spec.fail_on,
            "family_size": len(family),
            "rule": "a column drifts when its effect size reaches the threshold and, for tests with a p-value, the p-value adjusted "
            "across all columns (and missing-rate, infinite-value and new-category tests) is below alpha; a significant change of the missing rate "
            f"by at least {spec.missing_rate_threshold:g} is drift too, as is such a change of the share of infinite values, and a significant excess of current rows in categories "
            f"the reference never saw, by at least {spec.unseen_threshold:g} over its share of categories seen once",
            "tests": {name: {"effect": get_stat_test(name).effect_name, "default_threshold": get_stat_test(name).default_threshold,
                             "p_value": get_stat_test(name).has_p_value} for name in sorted(t for t in tests if t)},  # fmt: skip
            "bins": spec.bins if self.mode_ == "binned" else None,
            "seed": spec.seed,
        }
        return DriftReport(
            drift=bool(drift), share_drifted=float(share), reference_rows=int(self.rows_), current_rows=int(src.num_rows),  # type: ignore[attr-defined]
            columns=results, method=method, findings=findings, multivariate=multivariate,
            reference_label=self.label_, current_label=src.label, spec=spec.to_dict(),  # type: ignore[attr-defined]
        )  # fmt: skip

    def _multivariate(self, src: object, results: list[ColumnResult]) -> dict | None:
        spec = self.spec_
        if not spec.multivariate:
            return None
        if self.sample_ is None:
            return {"skipped": "the reference is a profile; multivariate tests need reference rows"}
        features = [r.name for r in results if r.role == "feature"]
        kinds = {r.name: r.kind for r in results}
        if not features:
            return {"skipped": "no feature columns"}
        from assay.drift._multivariate import multivariate_drift

        cur_sample = self._cur_sample
        # (column_names builds a new list on every call: looked up once, not once per feature)
        both = set(cur_sample.column_names) & set(self.sample_.column_names) if cur_sample is not None else set()
        if any(f not in both for f in features):
            features = [f for f in features if f in both]
            if not features:
                return {"skipped": "no feature column could be sampled on both sides"}
        cur_sample = _subsample(cur_sample, spec.multivariate_sample, spec.seed + 1)
        ref_sample = self.sample_.select(features)
        for n, read_as in self._ref_sample_as.items():  # (a new table: the fitted sample serves every compare)
            if n in features:
                ref_sample = ref_sample.set_column(ref_sample.column_names.index(n), n, read_as(ref_sample.column(n)))
        return multivariate_drift(ref_sample, cur_sample.select(features), kinds, spec)


def compare(reference: object, current: object, spec: DriftSpec | None = None, *, executor: object | None = None, workspace: object | None = None) -> DriftReport:
    """Compare ``current`` with ``reference`` under ``spec`` (defaults: KS / chi-squared, Holm, alpha 0.05).

    Both sides may be paths (Parquet, CSV, Arrow IPC, a folder of Parquet files), pyarrow
    tables, pandas or polars data frames, or ``NAME@REF`` dataset references; the
    reference may also be a :class:`Profile`.
    """
    return DriftDetector(spec, executor=executor, workspace=workspace).fit(reference).compare(current)


# -- helpers -------------------------------------------------------------------------------------
def _small_sample_findings(ref_rows: int, cur_rows: int, alpha: float) -> list[Finding]:
    """A warning per side under SMALL_SAMPLE_ROWS rows, with the smallest KS D that could reach significance there.

    c(alpha) sqrt((n + m) / (n m)) is the two-sample KS critical value of the Kolmogorov
    limit (c(0.05) = 1.358), a yardstick for how large a shift has to be before any test sees it.
    """
    out = []
    for label, rows in (("reference", ref_rows), ("current data", cur_rows)):
        if rows >= SMALL_SAMPLE_ROWS:
            continue
        smallest = min(1.0, round(math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((ref_rows + cur_rows) / (ref_rows * cur_rows)), 3))
        out.append(Finding("small_sample", f"the {label} has only {counted(rows, 'row', grouped=True)} (fewer than {SMALL_SAMPLE_ROWS}): only a gross change "
                           f"can be found (a KS distance of at least {smallest:.2g}), so 'no drift' says little", None, "warning",
                           {"side": label.split()[0], "rows": rows, "minimum": SMALL_SAMPLE_ROWS, "smallest_detectable_ks": smallest}))  # fmt: skip
    return out


def _identifier_finding(name: str, ref: object, cur: object, findings: list[Finding]) -> Finding:
    """Why an identifier-like column is not judged, with the share of new values and whether the current one repeats."""
    ref_distinct, ref_share = distinct_share(ref)
    # a capped current sketch says only that its distinct values lie between two bounds: the lower one took 1.8
    # million ids of 2 million, the most common 10,000 seen twice, for 1 million ("50% distinct"), and judged them
    capped = isinstance(cur, CategoricalSketch) and cur.other > 0
    cur_distinct, cur_share = distinct_share(cur, most=True)
    unseen = next((f.details["share"] for f in findings if f.type == "unseen_categories"), 0.0)
    repeats = bool(cur_distinct) and cur_share < IDENTIFIER_REPEATS
    text = f"column {name!r} looks like an identifier ({ref_distinct:,} distinct values, {ref_share:.0%} of reference rows)"
    if repeats:
        text += f", but the current data repeats its values ({'at most ' if capped else ''}{cur_share:.0%} distinct), which an identifier should not; judged as categories"
    elif capped:  # (the new values hide among the pooled ones)
        text += ": its distribution is not judged, since new values are what an identifier brings (its current sketch was capped, so how many are new is not known)"
    else:
        text += f": its distribution is not judged, since new values are what an identifier brings; {unseen:.2%} of current values are new"
    return Finding("identifier_like", text, name, "warning",
                   {"reference_distinct": ref_distinct, "reference_distinct_share": ref_share, "current_distinct": cur_distinct,
                    "current_distinct_share": cur_share, "unseen_share": unseen, "current_repeats": repeats})  # fmt: skip


def _side(column: pa.ChunkedArray, kind: str) -> NumericSide | CategoricalSide:
    if kind == "numeric":
        return numeric_side(column)
    if kind == "null":
        return CategoricalSide(len(column), len(column), np.empty(0, dtype=object), np.empty(0, dtype=np.int64))
    return categorical_side(column)


def _reconcile(name: str, ref_kind: str, ref_side: object, column: pa.ChunkedArray, findings: list[Finding],
               *, ref_time: bool = False) -> tuple[str, object, object, pa.ChunkedArray | pa.Array, Any]:  # fmt: skip
    """One side numeric, the other text: numbers if the text side's values parse (at least
    ``MOSTLY_NUMBERS`` of them; any other is missing), else both as text. Where the numeric side
    is a date or a time (``ref_time`` for the reference), the text is read as ISO dates and times.

    True/false on one side and only 0 and 1 on the other (a bool column written as integers)
    are compared as true/false. Returns the kind, both sides, the current column as compared
    (for its multivariate sample) and how to read the reference's sample the same way (or None).
    """
    if ref_kind == "categorical" and _is_flags(ref_side) and _only_zero_one(numeric_side(column)):
        findings.append(Finding("type_mismatch", f"column {name!r} is true/false in the reference but 0/1 in the current data; compared as true/false", name, "warning"))
        flags = _zero_one_column_as_flags(column)
        return "categorical", ref_side, categorical_side(flags), flags, None
    if ref_kind == "numeric" and pa.types.is_boolean(column.type) and _only_zero_one(ref_side):
        findings.append(Finding("type_mismatch", f"column {name!r} is 0/1 in the reference but true/false in the current data; compared as true/false", name, "warning"))
        return "categorical", _zero_one_as_flags(ref_side), categorical_side(column), column, _zero_one_column_as_flags
    if ref_kind == "numeric":
        parse, what = (parse_times, "times") if ref_time else (parse_numbers, "numbers")
        try:
            values, unparsed, examples = parse(column)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # (not expected: then as text, as before)
            values, unparsed, examples = column, len(column), []
        given = len(column) - column.null_count
        if not unparsed:
            findings.append(Finding("type_mismatch", f"column {name!r} is text in the current data; its values all parse as {what}", name, "warning"))
            return "numeric", ref_side, numeric_side(values), values, None
        if unparsed <= (1 - MOSTLY_NUMBERS) * given:
            findings.append(_unparsed_finding(name, "the current data", unparsed, given, examples, what))
            return "numeric", ref_side, numeric_side(values), values, None
        findings.append(Finding("type_mismatch", f"column {name!r} is numeric in the reference but text in the current data; compared as text", name, "warning"))
        return "categorical", _as_categorical(ref_side), categorical_side(column), column, None
    assert isinstance(ref_side, CategoricalSide)
    cur_time = pa.types.is_timestamp(column.type) or pa.types.is_date(column.type)
    parse, what = (parse_times, "times") if cur_time else (parse_numbers, "numbers")
    try:
        parsed, unparsed, examples = parse(pa.array(ref_side.categories, type=pa.string()))
        given = int(ref_side.counts.sum())
        bad = int(ref_side.counts[~parsed.is_valid().to_numpy(zero_copy_only=False)].sum()) if unparsed else 0
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        given, bad = 1, 1
    if bad <= (1 - MOSTLY_NUMBERS) * given:
        if bad:
            findings.append(_unparsed_finding(name, "the reference", bad, given, examples, what))
        else:
            findings.append(Finding("type_mismatch", f"column {name!r} is text in the reference; its values all parse as {what}", name, "warning"))
        values = np.repeat(parsed.to_numpy(zero_copy_only=False), ref_side.counts)
        side = numeric_side(pa.array(np.concatenate([values, np.full(ref_side.missing, np.nan)])))
        return "numeric", side, numeric_side(column), column, lambda sample: parse(sample)[0]
    findings.append(Finding("type_mismatch", f"column {name!r} is text in the reference but numeric in the current data; compared as text", name, "warning"))
    return "categorical", ref_side, categorical_side(to_text(column)), to_text(column), None


def _unparsed_finding(name: str, side: str, unparsed: int, given: int, examples: list[str], what: str = "numbers") -> Finding:
    shown = ", ".join(repr(e) for e in examples)
    one = {"numbers": "a number", "times": "a date or time"}[what]
    return Finding("type_mismatch", f"column {name!r} is text in {side}, where {unparsed:,} of its {counted(given, 'value', grouped=True)} {'is not ' + one if unparsed == 1 else 'are not ' + what} "
                   f"(such as {shown}): compared as {what}, those read as missing", name, "warning",
                   {"side": side, "not_numbers": unparsed, "examples": examples})  # fmt: skip


def _zero_one_sketch_as_flags(name: str, ref: object, cur: object, findings: list[Finding]) -> CategoricalSketch | None:
    """The current sketch of 0 and 1 as false and true, where the reference's counts true and false
    (a bool column written as integers), else None: as text, "1" against "true" was drift in binned
    mode (TV 1, every current category new) for what exact mode compares as equal."""
    if not (isinstance(ref, CategoricalSketch) and isinstance(cur, CategoricalSketch)) or cur.other or not ref.values or not cur.values:
        return None
    if not set(ref.values) <= {"true", "false"} or not set(cur.values) <= {"0", "1"}:
        return None
    findings.append(Finding("type_mismatch", f"column {name!r} is true/false in the reference but 0/1 in the current data; compared as true/false", name, "warning"))
    values = {flag: cur.values[digit] for digit, flag in (("0", "false"), ("1", "true")) if digit in cur.values}
    return CategoricalSketch(values, cur.rows, cur.missing, cur.other, cur.cap)


def _is_flags(side: object) -> bool:
    return isinstance(side, CategoricalSide) and side.categories.size > 0 and set(side.categories.tolist()) <= {"true", "false"}


def _only_zero_one(side: object) -> bool:
    return isinstance(side, NumericSide) and side.posinf == side.neginf == 0 and side.values.size > 0 and bool(np.isin(side.values, (0.0, 1.0)).all())


def _zero_one_column_as_flags(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """0/1 as false/true; a NaN stays missing (a cast to bool would make it true)."""
    values = pc.cast(column, pa.float64())
    return pc.if_else(pc.is_nan(values), pa.scalar(None, pa.bool_()), pc.not_equal(values, 0.0))


def _zero_one_as_flags(side: NumericSide) -> CategoricalSide:
    ones = int(np.count_nonzero(side.values))
    kept = [(name, count) for name, count in (("false", side.values.size - ones), ("true", ones)) if count]
    categories = np.empty(len(kept), dtype=object)
    categories[:] = [name for name, _ in kept]
    return CategoricalSide(side.rows, side.missing, categories, np.array([count for _, count in kept], dtype=np.int64))


def _as_categorical(side: object) -> CategoricalSide:
    if isinstance(side, CategoricalSide):
        return side
    assert isinstance(side, NumericSide)
    values = np.concatenate([side.values, np.full(side.posinf, np.inf), np.full(side.neginf, -np.inf)])
    text = to_text(pa.array(values, type=pa.float64()))
    cat = categorical_side(text)
    return CategoricalSide(side.rows, side.missing, cat.categories, cat.counts)


def _few_integers(ref: object, cur: object) -> bool:
    if not isinstance(ref, NumericSide) or not isinstance(cur, NumericSide):
        return False
    both = np.concatenate([ref.values, cur.values])
    if both.size == 0 or not np.all(np.floor(both) == both):
        return False
    return np.unique(both).size <= ROLE_CATEGORICAL_MAX


def _new(found: list[Finding], findings: list[Finding]) -> list[Finding]:
    """The findings of ``found`` that ``findings`` does not say already."""
    said = {f.message for f in findings}
    return [f for f in found if f.message not in said]


def _map_columns(fn: Any, names: list[str]) -> list[Any]:
    """``[fn(n) for n in names]`` on a few threads: reading, sorting and searching release the GIL."""
    workers = min(4, os.cpu_count() or 1, len(names))
    if workers <= 1:
        return [fn(n) for n in names]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, names))


def _pick_rows(total: int, n: int, seed: int) -> pa.Array:
    """Sorted row indices of a uniform sample of ``n`` of ``total`` rows (all when fewer)."""
    if total <= n:
        return index_array(np.arange(total))
    return index_array(np.sort(np.random.default_rng(seed).choice(total, n, replace=False)))


def _subsample(table: pa.Table, n: int, seed: int) -> pa.Table:
    return table if table.num_rows <= n else table.take(_pick_rows(table.num_rows, n, seed))
