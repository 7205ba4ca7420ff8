"""`assay drift`: exit codes, one JSON document, the report file, profiles and dataset references."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import CLI

REQUIRED = {"drift", "share_drifted", "reference_rows", "current_rows", "columns"}
COLUMN_FIELDS = {"name", "kind", "test", "statistic", "p_value", "effect", "threshold", "drifted"}


def _write(folder: Path, shift: float = 0.0, n: int = 3000, name: str = "cur") -> Path:
    rng = np.random.default_rng(int(shift * 10) + n)
    table = pa.table({
        "age": rng.normal(40 + 10 * shift, 10, n), "income": rng.lognormal(10, 1, n),
        "city": rng.choice(["Oslo", "Lyon", "Pune"], n), "label": rng.integers(0, 2, n),
    })  # fmt: skip
    path = folder / f"{name}.parquet"
    pq.write_table(table, path)
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    return _write(tmp_path, name="ref"), _write(tmp_path, 0.0, name="same"), _write(tmp_path, 0.8, name="moved")


def test_exit_codes_and_json_document(cli: CLI, files: tuple[Path, Path, Path]) -> None:
    ref, same, moved = files
    doc = cli.json("drift", str(ref), str(same), "--seed", "1", check=0)
    assert REQUIRED <= set(doc) and doc["drift"] is False and doc["share_drifted"] == 0.0
    assert doc["reference_rows"] == doc["current_rows"] == 3000
    for col in doc["columns"]:
        assert COLUMN_FIELDS <= set(col) and col["kind"] in ("numeric", "categorical")
    proc = cli("drift", str(ref), str(moved), "--json", "--target", "label", check=1)
    doc = json.loads(proc.stdout)  # exactly one JSON document on stdout
    assert doc["drift"] is True and "age" in doc["drifted_columns"]
    assert {c["name"]: c["role"] for c in doc["columns"]}["label"] == "target"
    assert doc["method"]["correction"] == "holm"


def test_options_reach_the_spec(cli: CLI, files: tuple[Path, Path, Path]) -> None:
    ref, _, moved = files
    doc = cli.json("drift", str(ref), str(moved), "--columns", "age,city", "--test", "psi", "--threshold", "0.2",
                   "--fail-on", "share:0.9", "--correction", "bh", "--no-multivariate", check=0)  # fmt: skip
    assert [c["name"] for c in doc["columns"]] == ["age", "city"]
    assert {c["test"] for c in doc["columns"]} == {"psi"} and {c["threshold"] for c in doc["columns"]} == {0.2}
    assert doc["drifted_columns"] == ["age"] and doc["drift"] is False  # 1 of 2 < share 0.9
    assert doc["method"]["correction"] == "bh" and doc["multivariate"] is None
    spec = ref.parent / "spec.yaml"
    spec.write_text("numeric: {test: wasserstein, threshold: 5}\nmultivariate: false\n")
    doc = cli.json("drift", str(ref), str(moved), "--spec", str(spec), check=0)
    assert {c["test"] for c in doc["columns"] if c["kind"] == "numeric"} == {"wasserstein"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope.parquet", "REF"], "does not exist"),
        (["REF", "REF", "--test", "nosuch"], "unknown drift test"),
        (["REF", "REF", "--columns", "age,zzz"], "no column"),
        (["REF", "REF", "--fail-on", "half"], "fail_on"),
        (["REF", "REF", "--threshold", "nan"], "--threshold must be a number, got nan"),  # it named "drift spec field numeric threshold"
        (["REF", "EMPTY"], "empty"),
    ],
)
def test_bad_input_exits_2_with_a_message(cli: CLI, files: tuple[Path, Path, Path], args: list[str], message: str) -> None:
    ref = files[0]
    (ref.parent / "empty.csv").write_text("")
    args = [str(ref) if a == "REF" else str(ref.parent / "empty.csv") if a == "EMPTY" else a for a in args]
    proc = cli("drift", *args, "--json", check=2)
    doc = json.loads(proc.stdout)
    assert message in doc["message"]
    assert "error:" in proc.stderr


def test_report_and_profile_commands(cli: CLI, files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    ref, _, moved = files
    doc = cli.json("drift", "profile", str(ref), "--out", str(tmp_path / "p.json"), "--bins", "200")
    assert doc["rows"] == 3000 and doc["columns"]["city"] == "categorical"
    proc = cli("drift", str(tmp_path / "p.json"), str(moved), "--report", str(tmp_path / "r.html"), check=1)
    assert "DRIFT" in proc.stdout and "binned mode" in proc.stdout
    text = (tmp_path / "r.html").read_text()
    assert text.startswith("<!doctype html>") and "<svg" in text and "http" not in text.split("<style>")[0]
    cli("drift", "profile", str(ref), check=2)  # no --out and no --save
    help_text = cli("drift", "--help").stdout
    assert "REFERENCE CURRENT" in help_text and "profile" in help_text
    assert "--fail-on" in cli("drift", "compare", "--help").stdout


def test_dataset_references_and_ledger_records(ws: object, cli: CLI, tmp_path: Path) -> None:
    from assay import data

    (tmp_path / "train").mkdir()
    (tmp_path / "today").mkdir()
    _write(tmp_path / "train", name="part")
    _write(tmp_path / "today", 0.8, name="part")
    data.add(ws, [tmp_path / "train"], name="train")  # type: ignore[arg-type]
    data.add(ws, [tmp_path / "today"], name="today")  # type: ignore[arg-type]
    doc = cli.json("drift", "train@latest", "today@v1", "--no-multivariate", check=1)
    assert doc["drift"] is True and doc["record_id"]
    rows = ws.ledger.query("SELECT kind, verdict FROM records WHERE id = ?", (doc["record_id"],))  # type: ignore[attr-defined]
    assert rows == [("drift_report", "drift")]
    edges = ws.ledger.query("SELECT src, relation FROM edges WHERE dst = ?", (f"record:{doc['record_id']}",))  # type: ignore[attr-defined]
    assert len(edges) == 2 and all(src.startswith("version:") and rel == "judged_by" for src, rel in edges)
    # a stored profile tied to the dataset version, used as the reference
    cli("drift", "profile", "train@v1", "--save")
    doc = cli.json("drift", "profile:train@v1", "today@latest", check=1)
    assert doc["method"]["mode"] == "binned" and "age" in doc["drifted_columns"]
    proc = cli("drift", "profile:today@v1", "today@v1", "--json", check=2)
    assert "no drift profile stored" in json.loads(proc.stdout)["message"]
    proc = cli("drift", "nosuch@v1", "today@v1", "--json", check=2)
    assert "nosuch" in json.loads(proc.stdout)["message"]


def test_partitions_profiled_on_reference_bins_merge_and_compare(cli: CLI, tmp_path: Path) -> None:
    ref = _write(tmp_path, name="ref", n=6000)
    parts = [_write(tmp_path, 0.8, n=2000 + i, name=f"today{i}") for i in range(3)]
    cli("drift", "profile", str(ref), "--out", str(tmp_path / "ref.json"), "--bins", "200")
    for i, part in enumerate(parts):
        cli("drift", "profile", str(part), "--like", str(tmp_path / "ref.json"), "--out", str(tmp_path / f"p{i}.json"))
    doc = cli.json("drift", "merge", *(str(tmp_path / f"p{i}.json") for i in range(3)), "--out", str(tmp_path / "today.json"))
    assert doc["rows"] == 2000 + 2001 + 2002
    merged = cli.json("drift", str(tmp_path / "ref.json"), str(tmp_path / "today.json"), check=1)
    assert "age" in merged["drifted_columns"] and merged["current_rows"] == 6003
    # the same verdict and statistics as comparing the profile with the data itself
    import pyarrow.parquet as pq

    pq.write_table(pa.concat_tables([pq.read_table(p) for p in parts]), tmp_path / "today_all.parquet")
    direct = cli.json("drift", str(tmp_path / "ref.json"), str(tmp_path / "today_all.parquet"), check=1)
    assert [c["statistic"] for c in merged["columns"]] == pytest.approx([c["statistic"] for c in direct["columns"]])
    # a profile with its own bins cannot be merged with those
    cli("drift", "profile", str(parts[0]), "--out", str(tmp_path / "own.json"), "--bins", "50")
    cli("drift", "merge", str(tmp_path / "p0.json"), str(tmp_path / "own.json"), "--out", str(tmp_path / "x.json"), check=2)
    cli("drift", str(tmp_path / "ref.json"), str(tmp_path / "own.json"), check=2)


def test_a_recorded_report_says_so_and_drift_log_and_show_read_it(ws: object, cli: CLI, files: tuple[Path, Path, Path],
                                                                  tmp_path: Path) -> None:
    ref, same, moved = files
    # the id it was recorded as, and the report path made absolute, as `assay check` prints them
    proc = cli("drift", ref.name, moved.name, "--report", "out/r.html", "--no-multivariate", check=1)
    doc = cli.json("drift", ref.name, same.name, "--report", "out/s.html", "--no-multivariate")
    first = ws.ledger.query("SELECT id FROM records WHERE kind = 'drift_report' AND verdict = 'drift'")[0][0]  # type: ignore[attr-defined]
    assert f"recorded as drift report {first[:12]}" in proc.stdout
    assert f"report: {tmp_path / 'out' / 'r.html'}\n" in proc.stdout and (tmp_path / "out" / "r.html").is_file()
    assert doc["report_path"] == str(tmp_path / "out" / "s.html") and doc["record_id"]
    assert "recorded as" not in cli("drift", ref.name, moved.name, "--no-record", "--no-multivariate", check=1).stdout
    # drift log: newest first; drift show ID: the recorded document, whatever its verdict exit 0
    log = cli.json("drift", "log")["reports"]
    assert [(r["id"], r["drift"]) for r in log] == [(doc["record_id"], False), (first, True)]
    assert log[1]["reference"] == ref.name and log[1]["drifted_columns"] == ["age"] and log[1]["columns"] == 4
    assert cli("drift", "log").stdout.splitlines()[1].startswith(f"{first[:12]}  ")
    assert len(cli.json("drift", "log", "-n", "1")["reports"]) == 1
    shown = cli.json("drift", "show", first[:8])
    assert shown["record_id"] == first and shown["drift"] is True and shown["drifted_columns"] == ["age"]
    text = cli("drift", "show", first[:8]).stdout
    assert text.startswith("DRIFT: 1 of 4 columns drifted") and f"recorded as drift report {first[:12]}" in text
    assert "no drift report 'ffffffff'" in cli("drift", "show", "ffffffff", check=2).stderr
    assert "not a drift report id" in cli.json("drift", "show", "zz", check=2)["message"]
    assert "newest first" in cli("drift", "log", "--help").stdout and "ID" in cli("drift", "show", "--help").stdout


def test_a_stored_drift_report_that_does_not_read_is_named_not_a_crash(ws: object, cli: CLI) -> None:
    # One pulled before a pull read a drift report's body (only its verdict was): `drift show`
    # ended in "internal error: KeyError: 'columns'" (exit 3), `drift log` said "3 of 0 columns".
    ws.ledger.execute("INSERT INTO records (id, kind, name, created_at, verdict, body) VALUES (?, ?, ?, ?, ?, ?)",  # type: ignore[attr-defined]
                      ("ab" * 16, "drift_report", "x", "2026-01-01T00:00:00Z", "drift",
                       json.dumps({"drift": True, "drifted_columns": "age", "imported": {"remote": "origin"}})))
    proc = cli("drift", "show", "abab", check=2)
    assert "drift report abababababab does not read as one (no columns): it was pulled from remote origin" in proc.stderr
    (row,) = cli.json("drift", "log")["reports"]
    assert row["unreadable"] == "no columns" and row["drifted_columns"] == [] and row["remote"] == "origin"
    assert "(does not read as a drift report: no columns)  from origin" in cli("drift", "log").stdout


def test_outside_a_workspace_it_says_the_report_was_not_recorded(cli: CLI, files: tuple[Path, Path, Path]) -> None:
    # as `assay check` says it: in the text, and as a note in the JSON document
    ref, same, _ = files
    proc = cli("drift", ref.name, same.name, "--no-multivariate")
    assert "not recorded: no assay workspace here (run `assay init` to keep a history)" in proc.stdout
    doc = cli.json("drift", ref.name, same.name, "--no-multivariate")
    assert doc["notes"] == ["not recorded: no assay workspace here (run `assay init` to keep a history)"]
    assert doc["record_id"] is None


def test_inside_a_workspace_there_is_no_such_note(ws: object, cli: CLI, files: tuple[Path, Path, Path]) -> None:
    ref, same, _ = files
    assert "not recorded" not in cli("drift", ref.name, same.name, "--no-multivariate").stdout
    assert cli.json("drift", ref.name, same.name, "--no-multivariate")["notes"] == []


@pytest.mark.parametrize(
    "text, message",
    [
        ('alpha: "abc"\n', "alpha must be a number"),
        ("bins: 10.5\n", "bins must be a whole number"),
        ("numeric: {tst: ks}\n", "numeric has unknown field: tst"),
        ("per_column: [1]\n", "per_column must map column names to rules"),
        ("per_column: {x: [1]}\n", "per_column 'x' must be a rule"),
        ("fail_on: 0.3\n", "fail_on must be text"),
        ("multivariate: 'no'\n", "multivariate must be true or false"),
        ("seed: -1\n", "seed must be at least 0"),
        ("mmd_sample: 1\n", "mmd_sample must be at least 10"),
        # an internal error (TypeError: 'int' object is not iterable)
        ("columns: 5\n", "columns must be a list of column names, got 5"),
        ("columns: []\n", "the drift spec's columns name no column"),  # it said "the reference and the current data share no columns"
        # NaN was taken: no effect reaches it, so the column could never drift, and --json showed the threshold as null
        ("numeric: {test: psi, threshold: .nan}\n", "numeric threshold must be a number, got nan"),
        ("per_column: {age: {threshold: .nan}}\n", "per_column 'age' threshold must be a number"),
        # a MemoryError (exit 3): the permutations' labels, and the MMD kernel, grow with these
        ("mmd_permutations: 100000000\n", "mmd_permutations must be at most 100,000, got 100,000,000"),
        ("mmd_sample: 1000000\n", "mmd_sample must be at most 5,000"),
    ],
)
def test_a_spec_file_with_a_wrong_value_exits_2_naming_the_field(cli: CLI, files: tuple[Path, Path, Path], text: str, message: str) -> None:
    """Values of the wrong type in a spec file were internal errors (exit 3: TypeError, AttributeError)."""
    ref = files[0]
    spec = ref.parent / "spec.yaml"
    spec.write_text(text)
    doc = cli.json("drift", str(ref), str(ref), "--spec", str(spec), "--no-record", check=2)
    assert message in doc["message"]


def test_a_spec_file_that_is_not_yaml_says_where_on_one_line(cli: CLI, files: tuple[Path, Path, Path]) -> None:
    """PyYAML's message spans five lines of marks and '<unicode string>'; the suite's reader said
    FILE:LINE in one line: both say FILE:LINE:COLUMN, the problem and where the bracket opened."""
    ref = files[0]
    spec = ref.parent / "spec.yaml"
    spec.write_text("columns: [a, b\nalpha: 0.05\n")
    doc = cli.json("drift", str(ref), str(ref), "--spec", str(spec), "--no-record", check=2)
    assert doc["message"] == (f"the drift spec {spec}:2:6: not valid YAML (expected ',' or ']', but got ':', "
                              "while parsing a flow sequence that started at line 1)")
    assert "\n" not in doc["message"] and "unicode string" not in doc["message"]
    from assay.checks import Suite
    from assay.checks._yamlmarks import SuiteError

    with pytest.raises(SuiteError, match=r"^suite.yaml:2:7: not valid YAML \(expected ',' or '\]', but got ':', while parsing a flow"):
        Suite.from_yaml("metrics: [a, b\ntarget: y\n", source="suite.yaml")


def test_a_spec_file_may_name_a_rule_by_its_test_and_columns_as_text(cli: CLI, files: tuple[Path, Path, Path]) -> None:
    ref = files[0]
    spec = ref.parent / "spec.yaml"
    spec.write_text("numeric: psi\ncolumns: age, city\nmultivariate: false\n")
    doc = cli.json("drift", str(ref), str(ref), "--spec", str(spec), "--no-record", check=0)
    assert {c["name"]: c["test"] for c in doc["columns"]} == {"age": "psi", "city": "chi2"}


@pytest.mark.parametrize("option, message", [(["--seed", "-1"], "seed must be at least 0"), (["--max-categories", "0"], "max_categories must be at least 1")])
def test_profile_refuses_a_negative_seed_or_no_categories(cli: CLI, files: tuple[Path, Path, Path], option: list[str], message: str) -> None:
    """--seed -1 was an internal error (exit 3, numpy's 'expected non-negative integer')."""
    ref = files[0]
    doc = cli.json("drift", "profile", str(ref), "--out", str(ref.parent / "p.json"), *option, check=2)
    assert message in doc["message"]


def test_merge_names_a_file_that_is_not_a_profile(cli: CLI, files: tuple[Path, Path, Path]) -> None:
    """A Parquet file given as a profile said "'utf-8' codec can't decode byte 0x80 in position 7"."""
    ref = files[0]
    cli("drift", "profile", str(ref), "--out", str(ref.parent / "p.json"))
    doc = cli.json("drift", "merge", str(ref.parent / "p.json"), str(ref), "--out", str(ref.parent / "m.json"), check=2)
    assert doc["message"] == f"{ref} is not an assay drift profile (a JSON file): it is not text"
    assert "assay drift profile DATA --out" in doc["hint"]


def test_the_text_says_when_the_multivariate_tests_were_skipped(cli: CLI, files: tuple[Path, Path, Path]) -> None:
    """A profile as the reference has no rows for the domain classifier: the text said nothing of it."""
    ref, same, _ = files
    cli("drift", "profile", str(ref), "--out", str(ref.parent / "p.json"))
    out = cli("drift", str(ref.parent / "p.json"), str(same), check=0).stdout
    assert "multivariate tests skipped: the reference is a profile; multivariate tests need reference rows" in out
    assert "skipped" not in cli("drift", str(ref), str(same), "--no-multivariate", check=0).stdout


def test_a_report_against_a_stored_profile_is_tied_to_its_dataset_version(ws: object, cli: CLI, tmp_path: Path) -> None:
    """`assay drift profile:train@v1 today.parquet` was recorded with no edge: `assay lineage
    train@v1 --down` did not list it, as it lists a report against train@v1 itself."""
    from assay import data

    (tmp_path / "train").mkdir()
    _write(tmp_path / "train", name="part")
    today = _write(tmp_path, 0.8, name="today")
    version = data.add(ws, [tmp_path / "train"], name="train").version  # type: ignore[arg-type]
    cli("drift", "profile", "train@v1", "--save")
    doc = cli.json("drift", "profile:train@v1", str(today), check=1)
    edges = ws.ledger.query("SELECT src, relation FROM edges WHERE dst = ?", (f"record:{doc['record_id']}",))  # type: ignore[attr-defined]
    assert edges == [(f"version:{version.id}", "judged_by")]
    assert doc["record_id"][:12] in cli("lineage", "train@v1", "--down").stdout


def test_lineage_shows_a_stored_profile_without_a_none_verdict(ws: object, cli: CLI, tmp_path: Path) -> None:
    """It showed as 'drift_profile train@v1  [None, c2c3b1d3f803]'."""
    from assay import data

    (tmp_path / "train").mkdir()
    _write(tmp_path / "train", name="part")
    data.add(ws, [tmp_path / "train"], name="train")  # type: ignore[arg-type]
    cli("drift", "profile", "train@v1", "--save")
    record = ws.ledger.query("SELECT id FROM records WHERE kind = 'drift_profile'")[0][0]  # type: ignore[attr-defined]
    out = cli("lineage", "train@v1", "--down").stdout
    assert f"drift_profile train@v1  [{record[:12]}]" in out and "None" not in out


def test_a_report_path_that_cannot_be_written_exits_2(cli: CLI, files: tuple[Path, Path, Path]) -> None:
    """A --report under a file (or in /proc) was an internal error (exit 3, FileExistsError)."""
    ref, same, _ = files
    (ref.parent / "afile").write_text("")
    doc = cli.json("drift", str(ref), str(same), "--no-multivariate", "--report", str(ref.parent / "afile" / "r.html"), check=2)
    assert doc["message"] == f"cannot write the report {ref.parent / 'afile' / 'r.html'}: {ref.parent / 'afile'} is a file, not a folder"
    # refused before the sources are read (and the comparison run): a missing one is not reached
    doc = cli.json("drift", str(ref), str(ref.parent / "missing.parquet"), "--report", str(ref.parent / "afile" / "r.html"),
                   check=2)
    assert doc["message"].endswith("afile is a file, not a folder")


def test_a_profile_path_that_cannot_be_written_exits_2_before_the_work(cli: CLI, files: tuple[Path, Path, Path]) -> None:
    """`assay drift profile --out` (and `drift merge --out`) under a file was an internal error
    (exit 3, FileExistsError), and only after the data was profiled."""
    ref = files[0]
    (ref.parent / "afile").write_text("")
    bad = ref.parent / "afile" / "p.json"
    doc = cli.json("drift", "profile", str(ref), "--out", str(bad), check=2)
    assert doc["message"] == f"cannot write the profile {bad}: {ref.parent / 'afile'} is a file, not a folder"
    # refused before the data is read: a missing one is not reached
    doc = cli.json("drift", "profile", str(ref.parent / "missing.parquet"), "--out", str(bad), check=2)
    assert doc["message"].endswith("afile is a file, not a folder")
    cli("drift", "profile", str(ref), "--out", "p.json")
    doc = cli.json("drift", "merge", "p.json", "p.json", "--out", str(bad), check=2)
    assert doc["message"].endswith("afile is a file, not a folder")


def test_a_target_missing_from_the_current_data_says_what_to_do(cli: CLI, files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """Production data often has no labels yet: the error gave no hint."""
    ref = files[0]
    pq.write_table(pq.read_table(ref).drop_columns(["label"]), tmp_path / "nolabel.parquet")
    doc = cli.json("drift", str(ref), str(tmp_path / "nolabel.parquet"), "--target", "label", check=2)
    assert doc["message"] == "the target column 'label' is not in the current data"
    assert doc["hint"].startswith("leave out the target (--target) where the current data has none yet; its columns are: age, income, city")


def test_an_unknown_subcommand_is_not_read_as_a_reference(cli: CLI, tmp_path: Path) -> None:
    """`assay drift spec --help` printed compare's help, "spec" being taken for REFERENCE."""
    for args in (("drift", "spec", "--help"), ("drift", "spec")):
        proc = cli(*args, check=2)
        assert "no command 'spec'" in proc.stderr and "compare, log, merge, profile, show" in proc.stderr
        assert "REFERENCE CURRENT" in proc.stderr
    (tmp_path / "spec").write_text("x\\n1\\n")  # a file of that name is a reference after all
    assert "Missing argument 'CURRENT'" in cli("drift", "spec", check=2, cwd=tmp_path).stderr


def test_profile_of_a_folder_says_which_columns_it_left_out(cli: CLI, tmp_path: Path) -> None:
    """`assay drift` warned of a column only later files of a Parquet folder have (column_left_out);
    `assay drift profile` of the same folder dropped it without a word."""
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(pa.table({"x": np.arange(60.0)}), folder / "a.parquet")
    pq.write_table(pa.table({"x": np.arange(60.0), "late": ["y"] * 60}), folder / "b.parquet")
    proc = cli("drift", "profile", "parts", "--out", "p.json")
    assert "warning: column 'late' of parts is in" in proc.stderr and "b.parquet" in proc.stderr and "left out" in proc.stderr
    doc = cli.json("drift", "profile", "parts", "--out", "like.json", "--like", "p.json")
    assert [(f["type"], f["column"], f["severity"]) for f in doc["findings"]] == [("column_left_out", "late", "warning")]
    # the saved profile keeps it, so a comparison with it says so too (once, though both sides read the folder)
    report = cli.json("drift", "p.json", "parts", "--method", "binned")
    assert [f["column"] for f in report["findings"] if f["type"] == "column_left_out"] == ["late"]
    single = tmp_path / "one.parquet"
    pq.write_table(pa.table({"x": np.arange(120.0)}), single)
    assert cli.json("drift", "profile", str(single), "--out", "q.json")["findings"] == []
    assert "left_out" not in json.loads((tmp_path / "q.json").read_text())


def test_a_wide_tables_text_report_shows_a_screenful_and_every_drifted_column(cli: CLI, tmp_path: Path) -> None:
    """A 2,000-column table printed 2,000 lines of mostly "ok"."""
    from assay.cli._drift import COLUMNS_SHOWN

    rng = np.random.default_rng(3)
    width = COLUMNS_SHOWN + 20
    ref = pa.table({f"f{i}": rng.normal(size=400) for i in range(width)})
    moved = {f"f{i}": rng.normal(size=400) for i in range(width)}
    moved["f7"] = moved["f7"] + 3  # one drifted column
    pq.write_table(ref, tmp_path / "ref.parquet")
    pq.write_table(pa.table(moved), tmp_path / "cur.parquet")
    out = cli("drift", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), "--no-multivariate", "--no-record", check=1).stdout
    lines = [line for line in out.splitlines() if line.startswith("  f")]
    assert len(lines) == COLUMNS_SHOWN and lines[0].split()[0] == "f7" and lines[0].endswith("drift")
    assert "  ... and 20 more columns, none drifted (--json or --report lists every column)" in out
    doc = cli.json("drift", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), "--no-multivariate", "--no-record", check=1)
    assert len(doc["columns"]) == width


def test_a_report_may_not_overwrite_the_workspace_or_an_input(ws: object, cli: CLI, files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """`--report .assay/ledger.db` wrote HTML over the ledger; `--report ref.parquet` over the data."""
    ref, same, _ = files
    (tmp_path / "spec.yaml").write_text("alpha: 0.01\n")
    before = {p: p.read_bytes() for p in (ref, same, tmp_path / "spec.yaml", tmp_path / ".assay" / "config.toml")}
    for path in (".assay/ledger.db", ".assay/config.toml"):
        doc = cli.json("drift", ref.name, same.name, "--report", path, check=2)
        assert "it is inside a workspace's .assay folder" in doc["message"]
    for path in (ref.name, same.name, "spec.yaml"):
        doc = cli.json("drift", ref.name, same.name, "--spec", "spec.yaml", "--report", path, check=2)
        assert doc["message"].startswith(f"cannot write the report {path}: it is ") and "an input of this run" in doc["message"]
    assert {p: p.read_bytes() for p in before} == before
    assert cli.json("drift", "log")["reports"] == []


def test_merge_refuses_an_out_that_is_one_of_its_profiles(cli: CLI, files: tuple[Path, Path, Path]) -> None:
    """`assay drift merge p0.json p1.json --out p0.json` wrote the merged profile over p0.json:
    that partition's own counts were lost, and merging again counted them twice."""
    ref, same, _ = files
    folder = ref.parent
    cli("drift", "profile", str(ref), "--out", str(folder / "ref.json"), "--bins", "50")
    for i, part in enumerate((ref, same)):
        cli("drift", "profile", str(part), "--like", str(folder / "ref.json"), "--out", str(folder / f"p{i}.json"))
    before = (folder / "p0.json").read_bytes()
    doc = cli.json("drift", "merge", str(folder / "p0.json"), str(folder / "p1.json"), "--out", str(folder / "p0.json"), check=2)
    assert "an input of this run" in doc["message"] and "p0.json" in doc["message"]
    assert (folder / "p0.json").read_bytes() == before
    # the same file by another name (a relative path) is refused too
    cli("drift", "merge", str(folder / "p0.json"), "p1.json", "--out", "p1.json", check=2, cwd=folder)
    assert cli.json("drift", "merge", str(folder / "p0.json"), str(folder / "p1.json"), "--out", str(folder / "m.json"))["rows"] == 6000
    # one partition given twice (a glob and its name) was merged twice: 9,000 rows of 6,000
    doc = cli.json("drift", "merge", str(folder / "p0.json"), "p1.json", str(folder / "p1.json"), "--out", "m2.json", check=2, cwd=folder)
    assert doc["message"] == f"{folder / 'p1.json'} is given twice (as p1.json): its counts would be added twice" and not (folder / "m2.json").exists()


def test_profile_refuses_an_out_that_is_its_data_or_like_profile(cli: CLI, files: tuple[Path, Path, Path]) -> None:
    """`assay drift profile part.parquet --like ref.json --out ref.json` overwrote the reference profile."""
    ref, same, _ = files
    folder = ref.parent
    cli("drift", "profile", str(ref), "--out", str(folder / "ref.json"), "--bins", "50")
    before, data = (folder / "ref.json").read_bytes(), same.read_bytes()
    doc = cli.json("drift", "profile", str(same), "--like", str(folder / "ref.json"), "--out", str(folder / "ref.json"), check=2)
    assert "an input of this run" in doc["message"]
    cli("drift", "profile", str(same), "--out", str(same), check=2)
    assert (folder / "ref.json").read_bytes() == before and same.read_bytes() == data


def test_a_column_name_with_a_line_break_stays_on_its_line(cli: CLI, tmp_path: Path) -> None:
    """The text table printed column names as they are: "a\\nb" split its line in two, and a
    column named "" showed as nothing at all."""
    rng = np.random.default_rng(15)
    for name in ("ref", "cur"):
        pq.write_table(pa.table({"a\nb": rng.normal(size=200), "": rng.normal(size=200), "plain": rng.normal(size=200)}), tmp_path / f"{name}.parquet")
    out = cli("drift", "ref.parquet", "cur.parquet", "--no-multivariate", check=0).stdout
    rows = {line.split()[0]: line for line in out.splitlines()[2:5]}
    assert set(rows) == {'"a\\nb"', '""', "plain"} and all("numeric" in line for line in rows.values())
