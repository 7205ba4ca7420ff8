"""The suite: the issue's YAML exactly as written, a round trip, and invalid suites with line and reason."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import assay.checks as checks
from assay.checks import GateSpec, MetricSpec, Suite, SuiteError

ISSUE_SUITE = """\
data: test.parquet        # a file or NAME@REF
target: label
task: binary
metrics: [accuracy, roc_auc]
gates:
  - metric: accuracy
    non_inferiority: 0.02   # candidate may trail the baseline by at most 0.02, at 95%
  - metric: roc_auc
    min: 0.80
"""

EXPORTS = ["BehaviourSpec", "BudgetSpec", "CheckResult", "DiscoverySpec", "GateResult", "GateSpec", "MetricSpec",
           "PairedBootstrap", "RobustnessSpec", "SCHEMA", "SliceSpec", "Suite", "SuiteError", "adjust", "check_edges", "delong", "get_result",
           "list_results", "mcnemar", "readable_check", "record_result", "run_suite", "shareable_check"]


def test_public_surface() -> None:
    assert checks.__all__ == sorted(checks.__all__) == EXPORTS
    import assay.checks.metrics as metrics

    assert metrics.__all__ == sorted(metrics.__all__)


def test_light_import() -> None:
    code = ("import sys, assay, assay.checks, assay.models, assay.cli._check, assay.cli._model; "
            "heavy = ['sklearn', 'pandas', 'onnxruntime', 'torch', 'ray', 'fastapi', 'skops', 'polars']; "
            "print(sorted(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_issue_suite_parses_exactly() -> None:
    s = Suite.from_yaml(ISSUE_SUITE)
    assert (s.data, s.target, s.task) == ("test.parquet", "label", "binary")
    assert [m.name for m in s.metrics] == ["accuracy", "roc_auc"]
    assert s.gates == [GateSpec("accuracy", "non_inferiority", 0.02), GateSpec("roc_auc", "min", 0.8)]
    assert s.confidence == 0.95 and s.correction == "holm"


def test_yaml_is_a_serialization_of_the_objects() -> None:
    full = ISSUE_SUITE + """\
slices:
  - column: age
    bins: [0, 30, 60, 120]
  - name: rich
    where: "income > 50000 and country in ['FR', 'DE']"
discover: {bins: 5, top: 3}
behaviour:
  - invariance: {column: age, noise: 0.05, max_flip_rate: 0.02}
  - fairness: {group: sex, metric: tpr, max_gap: 0.1}
robustness:
  - generator: gaussian_noise
    n: 1000
    scale: 0.1
budgets: {batch_sizes: [1, 256], latency_p99_ms: 50}
correction: bh
"""
    s = Suite.from_yaml(full)
    again = Suite.from_yaml(s.to_yaml())
    assert again == s
    assert again.digest() == s.digest()
    built = Suite(data="test.parquet", target="label", task="binary",
                  metrics=[MetricSpec("accuracy"), MetricSpec("roc_auc")],
                  gates=[GateSpec("accuracy", "non_inferiority", 0.02), GateSpec("roc_auc", "min", 0.8)])
    assert Suite.from_yaml(ISSUE_SUITE) == built


@pytest.mark.parametrize("text,line,reason", [
    (ISSUE_SUITE.replace("task: binary", "task: binry"), 3, "unknown task 'binry'"),
    (ISSUE_SUITE.replace("    min: 0.80", "    min: 0.80\n    max: 0.99"), 8, "exactly one of"),
    (ISSUE_SUITE.replace("metric: roc_auc", "metric: roc_acu"), 8, "unknown metric 'roc_acu'"),
    (ISSUE_SUITE.replace("non_inferiority: 0.02", "non_inferiority: -0.02"), 7, "margin must be positive"),
    (ISSUE_SUITE.replace("non_inferiority: 0.02", "non_inferiority: lots"), 7, "must be a number"),
    (ISSUE_SUITE + "colour: blue\n", 10, "unknown key 'colour'"),
    (ISSUE_SUITE.replace("target: label\n", ""), 1, "missing required key 'target'"),
    (ISSUE_SUITE.replace("metrics: [accuracy, roc_auc]", "metrics: [accuracy, mae]"), 4, "does not apply to a binary task"),
    (ISSUE_SUITE + "slices:\n  - where: \"__import__('os')\"\n", 11, "Call"),
    (ISSUE_SUITE.replace("    min: 0.80", "    min: 0.80\n    slices: [nope]"), 10, "no slice named 'nope'"),
    ("data: [unclosed\n", 2, "not valid YAML"),
    (ISSUE_SUITE + "behaviour:\n  - invariance: {column: age}\n", 11, "exactly one perturbation"),
    (ISSUE_SUITE + "robustness:\n  - generator: cosmic_rays\n", 11, "generator must be one of"),
    (ISSUE_SUITE.replace("task: binary", "task: regression").replace("metrics: [accuracy, roc_auc]",
                                                                      "metrics: [{name: quantile_loss, alpha: 1.5}]"),
     4, "quantile_loss alpha must be in (0, 1), got 1.5"),
])
def test_invalid_suites_name_the_line_and_the_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(SuiteError) as info:
        Suite.from_yaml(text, source="suite.yaml")
    msg = info.value.message
    assert msg.startswith(f"suite.yaml:{line}:"), msg
    assert reason in msg
    assert info.value.exit_code == 2
    assert "known:" not in msg or "unknown" in msg  # the metric list helps with a misspelt name only
    # the command that lists the keys (`assay check --help` only points on to it)
    assert info.value.hint is None or "`assay check schema`" in info.value.hint


def test_load_missing_file_and_relative_data(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="no such suite file"):
        Suite.load(tmp_path / "nope.yaml")
    (tmp_path / "s.yaml").write_text(ISSUE_SUITE)
    assert Suite.load(tmp_path / "s.yaml").base_dir == str(tmp_path.resolve())


def test_the_data_formats_read_are_the_ones_the_schema_and_both_readmes_name(tmp_path: Path) -> None:
    import re

    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    from assay.checks._data import _SUFFIXES, load_table
    from assay.checks._suite import SCHEMA

    table = pa.table({"x": [1.0, 2.0, 3.0], "label": [0, 1, 1]})
    writers = {".parquet": pq.write_table, ".pq": pq.write_table, ".csv": pcsv.write_csv,
               ".feather": feather.write_feather, ".arrow": feather.write_feather}
    assert set(writers) == set(_SUFFIXES)
    for suffix, write in writers.items():  # each is read, as a suite's `data` or --data
        write(table, tmp_path / f"t{suffix}")
        assert load_table(f"t{suffix}", base_dir=tmp_path).columns["label"].tolist() == [0, 1, 1]
    root = Path(__file__).resolve().parents[2]
    said = {"check schema": SCHEMA["data"],
            "README.md": next(line for line in (root / "README.md").read_text().splitlines() if line.startswith("data: ")),
            "checks/README.md": next(line for line in (root / "src/assay/checks/README.md").read_text().splitlines()
                                     if line.startswith("data: "))}
    for where, text in said.items():
        assert set(re.findall(r"\.(?:parquet|pq|csv|feather|arrow|json|tsv|xlsx)\b", text.split("#")[-1])) == set(_SUFFIXES), where


BEHAVIOUR_SUITE = ISSUE_SUITE + "behaviour:\n  - {kind}: {{column: age, {params}}}\n"
ROBUSTNESS_SUITE = ISSUE_SUITE + "robustness:\n  - generator: {generator}\n    {key}: {value}\n"


@pytest.mark.parametrize("text,line,reason", [
    # each of these parsed, then ended in an internal error (exit 3) once the suite ran
    (BEHAVIOUR_SUITE.format(kind="invariance", params="noise: -1"), 11, "invariance.noise: must be positive, got -1"),
    (ROBUSTNESS_SUITE.format(generator="gaussian_noise", key="batch_size", value=0), 12, "batch_size: must be an integer ≥ 1"),
    (ISSUE_SUITE + "confidence: .nan\n", 10, "confidence: must be a finite number, got nan"),
    (ISSUE_SUITE + "discover: {metric: mae}\n", 10, "discover.metric: metric 'mae' does not apply to a binary task"),
    (ISSUE_SUITE + "discover: {metric: nope}\n", 10, "discover.metric: unknown metric 'nope'"),
    # discovery needs a score per row: roc_auc was quietly swapped for accuracy
    (ISSUE_SUITE + "discover: {metric: roc_auc}\n", 10, "discover.metric: metric 'roc_auc' has no score per row, which slice "
                                                         "discovery needs (use one of: accuracy, brier, log_loss)"),
    # no bound: a typo of a few zeros ran for days, or forked 100,000 processes
    (ROBUSTNESS_SUITE.format(generator="gaussian_noise", key="n", value=10**12), 12,
     "robustness[0].n: must be at most 1,000,000,000, got 1,000,000,000,000"),
    (ROBUSTNESS_SUITE.format(generator="gaussian_noise", key="workers", value=100_000), 12,
     "robustness[0].workers: must be at most 256, got 100,000"),
    # NaN passes every range check (no comparison with it is true), and infinities are met by any model or none
    (ISSUE_SUITE.replace("min: 0.80", "min: .nan"), 9, "gates[1].min: must be a finite number, got nan"),
    (ISSUE_SUITE.replace("min: 0.80", "max: .inf"), 9, "gates[1].max: must be a finite number, got inf"),
    (ISSUE_SUITE.replace("non_inferiority: 0.02", "non_inferiority: -.inf"), 7, "must be a finite number, got -inf"),
    (ISSUE_SUITE.replace("min: 0.80", "min: " + "9" * 400), 9, "must be a finite number, got an integer of 400 digits"),
    (ROBUSTNESS_SUITE.format(generator="gaussian_noise", key="scale", value=".nan"), 12, "scale: must be a finite number"),
    (ROBUSTNESS_SUITE.format(generator="out_of_range", key="factor", value=".inf"), 12, "factor: must be a finite number"),
    (ISSUE_SUITE + "budgets: {peak_memory_mb: .nan}\n", 10, "budgets.peak_memory_mb: must be a finite number"),
    (BEHAVIOUR_SUITE.format(kind="directional", params="delta: .nan, expect: increase"), 11,
     "directional.delta: must be a finite number, got nan"),
    (BEHAVIOUR_SUITE.format(kind="invariance", params="noise: .inf"), 11, "invariance.noise: must be a finite number, got inf"),
    (ISSUE_SUITE + "behaviour:\n  - fairness: {group: sex, max_gap: .nan}\n", 11, "fairness.max_gap: must be a finite number"),
    (ISSUE_SUITE + "slices:\n  - {column: age, bins: [0, .nan, 60]}\n", 11, "slices[0].bins[1]: must be a finite number"),
    (ISSUE_SUITE + "timeout_s: .inf\n", 10, "timeout_s: must be a finite number"),
    # suites that test nothing, or nonsense, ran anyway
    (ISSUE_SUITE.split("gates:")[0] + "gates: []\n", 5, "nothing to check"),
    (ISSUE_SUITE + "features: []\n", 10, "features: an empty list names no columns"),
    (ISSUE_SUITE + "features: [age, income, age]\n", 10, "features[2]: 'age' is named twice"),
    (ISSUE_SUITE + "discover: {features: []}\n", 10, "discover.features: an empty list names no columns"),
    (ISSUE_SUITE + "  - {metric: roc_auc, min: 0.8, name: again}\n", 10, "gates[2]: repeats gates[1] (suite.yaml:8)"),
    (ISSUE_SUITE.replace("[accuracy, roc_auc]", "[accuracy, roc_auc, accuracy]"), 4, "metrics[2]: repeats metrics[0]"),
    (ISSUE_SUITE.replace("min: 0.80", "min: 1.5"), 9, "roc_auc lies between 0 and 1, so a min of 1.5 is met by no model"),
    (ISSUE_SUITE.replace("min: 0.80", "max: 2"), 9, "so a max of 2 is met by every model"),
    (ISSUE_SUITE.replace("min: 0.80", "min: -0.5"), 9, "so a min of -0.5 is met by every model"),
    (ISSUE_SUITE.replace("non_inferiority: 0.02", "non_inferiority: 1"), 7, "a non-inferiority margin of 1 spans its whole range"),
    (ROBUSTNESS_SUITE.format(generator="gaussian_noise", key="workers", value=-2), 12, "workers: must be an integer ≥ 1"),
    (ROBUSTNESS_SUITE.format(generator="gaussian_noise", key="on_error_fails", value="maybe"), 12, "must be true or false"),
    (ROBUSTNESS_SUITE.format(generator="gaussian_noise", key="columns", value="[]"), 12, "an empty list names no columns"),
    (ISSUE_SUITE + "bootstrap: 50000000\n", 10, "bootstrap: must be at most 100,000, got 50,000,000: more resamples barely move"),
    (BEHAVIOUR_SUITE.format(kind="directional", params="delta: 0, expect: increase"), 11, "a delta of 0 changes nothing"),
])
def test_suites_that_would_fail_or_decide_nothing_when_run_are_refused_with_the_line(text: str, line: int, reason: str) -> None:
    test_invalid_suites_name_the_line_and_the_reason(text, line, reason)


def test_the_settings_refused_above_are_accepted_in_range() -> None:
    """The refusals are at the edges: an open last bin, a bound at the end of a metric's range, the most resamples."""
    s = Suite.from_yaml(ISSUE_SUITE.replace("min: 0.80", "min: 1.0") + "slices:\n  - {column: age, bins: [0, 65, .inf]}\n"
                        "bootstrap: 100000\nbehaviour:\n  - directional: {column: age, delta: -1, expect: decrease}\n"
                        "robustness:\n  - {generator: gaussian_noise, workers: 256, n: 1000000000, batch_size: 1, columns: [age]}\n")
    assert s.slices[0].bins == [0.0, 65.0, float("inf")] and s.bootstrap == 100_000 and s.gates[1].threshold == 1.0
    # a suite with no gate still checks something when it has a behaviour, robustness test or budget limit
    bare = ISSUE_SUITE.split("gates:")[0]
    for extra in ("behaviour:\n  - invariance: {column: age, noise: 0.1}\n", "robustness:\n  - generator: wrong_types\n",
                  "budgets: {latency_p99_ms: 50}\n"):
        assert Suite.from_yaml(bare + extra).gates == []
    with pytest.raises(SuiteError, match="nothing to check"):
        Suite.from_yaml(bare + "budgets: {batch_sizes: [1]}\n")  # measures, limits nothing
    with pytest.raises(SuiteError, match="nothing to check"):
        Suite.from_dict({"target": "y", "task": "binary", "metrics": ["accuracy"]})


def test_a_suite_built_in_python_is_checked_as_a_suite_file_is_before_it_runs() -> None:
    """`Suite(...)` skipped every check of the parser: a confidence of 1.5 or a NaN threshold ran."""
    from assay.checks import RobustnessSpec
    from assay.models import from_function

    data = {"age": np.arange(100.0), "label": np.arange(100) % 2}
    model = from_function(lambda X: (X[:, 0] % 2).astype(int), classes=[0, 1])
    good = {"data": "<memory>", "target": "label", "task": "binary", "metrics": [MetricSpec("accuracy")],
            "gates": [GateSpec("accuracy", "min", 0.5)]}
    assert checks.run_suite(Suite(**good), candidate=model, data=data).passed  # the canonical form of a valid suite passes
    for change, reason in (({"confidence": 1.5}, "the suite: confidence: must be between 0.5 and 0.9999, got 1.5"),
                           ({"gates": [GateSpec("accuracy", "min", float("nan"))]}, "the suite: gates[0].min: must be a finite number"),
                           ({"metrics": [MetricSpec("accuracy")] * 2}, "the suite: metrics[1]: repeats metrics[0]"),
                           ({"robustness": [RobustnessSpec("gaussian_noise", n=0)]}, "the suite: robustness[0].n: must be an integer ≥ 1")):
        with pytest.raises(SuiteError) as caught:
            checks.run_suite(Suite(**{**good, **change}), candidate=model, data=data)
        assert caught.value.message.startswith(reason), caught.value.message


def test_yaml_aliases_are_refused_before_they_expand(tmp_path: Path) -> None:
    """Eight nested levels of `&a [*a, *a, ...]` ran for minutes of CPU; a suite needs no alias at all."""
    # a harmless anchor or alias too: the rule is simple to state and to keep
    small = "name: &t x\ntarget: label\ntask: binary\ngates: [{metric: accuracy, min: 0.5}]\nfeatures: [*t]\n"
    with pytest.raises(SuiteError, match=r"^suite.yaml:1: .* found &t\n"):
        Suite.from_yaml(small, source="suite.yaml")
    with pytest.raises(SuiteError, match=r"^suite.yaml:5: .* found \*t\n"):
        Suite.from_yaml(small.replace("&t ", ""), source="suite.yaml")
    lines = ["target: label", "task: binary", "gates: [{metric: accuracy, min: 0.5}]", "name:", "  - &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"  - &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(SuiteError) as info:
        Suite.load(tmp_path / "bomb.yaml")
    assert info.value.message == f"{tmp_path / 'bomb.yaml'}:5: YAML anchors and aliases are not read in a suite, found &a0"
    assert info.value.exit_code == 2 and "billions of values" in (info.value.hint or "")


def test_data_that_is_no_file_says_what_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a folder said "no dataset named", a symlink loop "no such data file", /dev/null "invalid dataset name"
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    from assay.checks._data import load_table
    from assay.data import add
    from assay.errors import InputError
    from assay.workspace import Workspace

    (tmp_path / "adir").mkdir()
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "fake.csv")
    for ref, said in ((tmp_path / "adir", "is a folder, not a data file"), (tmp_path / "loop", "is a symlink that leads to no file"),
                      (Path("/dev/null"), "is not a regular file (a device, a pipe or a socket)")):
        with pytest.raises(InputError, match=re.escape(f"{ref}: {said}")):
            load_table(str(ref))
    with pytest.raises(InputError) as info:
        load_table(str(tmp_path / "fake.csv"))  # a Parquet file's bytes, read as CSV: no bytes quoted unprintable
    assert info.value.message.isprintable() and "what its name says" in (info.value.hint or "")
    # a folder that a dataset was added from still names the dataset
    with Workspace.init(tmp_path / "ws") as ws:
        (ws.root / "tbl").mkdir()
        pq.write_table(pa.table({"label": [0, 1, 1]}), ws.root / "tbl" / "t.parquet")
        add(ws, [ws.root / "tbl"], name="tbl")
        monkeypatch.chdir(ws.root)
        assert load_table("tbl", ws=ws).columns["label"].tolist() == [0, 1, 1]
        with pytest.raises(InputError, match="adir: is a folder"):  # no dataset of that name: the folder is said
            (ws.root / "adir").mkdir()
            load_table("adir", ws=ws)


def test_a_csv_with_a_column_named_twice_or_a_short_row_is_refused_where_it_is(tmp_path: Path) -> None:
    """A repeated header kept only the second column, silently; a short row's error had no line number."""
    import pyarrow as pa

    from assay.checks._data import load_table
    from assay.errors import InputError

    (tmp_path / "dup.csv").write_text("age,income,age,label\n1,2,3,0\n4,5,6,1\n")
    with pytest.raises(InputError, match=re.escape("dup.csv: two columns are named 'age' (columns 1 and 3)")):
        load_table(str(tmp_path / "dup.csv"))
    # a header's trailing commas name empty columns '', one per comma: left out, not two columns named ''
    (tmp_path / "trailing.csv").write_text("age,label,,\n1,0,,\n2,1,,\n")
    assert list(load_table(str(tmp_path / "trailing.csv")).columns) == ["age", "label"]
    with pytest.raises(InputError, match=re.escape("<memory>: two columns are named 'x' (columns 1 and 2)")):
        load_table(pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["x", "x"]))  # type: ignore[arg-type]
    # a quoted field over two lines and a blank line come before the short row, on line 6
    (tmp_path / "short.csv").write_text('age,income,city,label\n1,2,x,0\n\n3,4,"a,\nb",1\n5,6\n')
    with pytest.raises(InputError, match=re.escape("short.csv:6: this row has 2 fields where the header has 4")) as info:
        load_table(str(tmp_path / "short.csv"))
    assert "as many fields as its header" in (info.value.hint or "")
