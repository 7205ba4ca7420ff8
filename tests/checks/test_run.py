"""A check end to end: the library call, the command line, the outputs and the ledger."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from assay.checks import Suite, run_suite
from assay.errors import InputError
from assay.models import Features, from_function

SUITE = """\
name: cancer gate
data: test.parquet
target: label
task: binary
features: [{features}]
metrics: [accuracy, roc_auc, log_loss, f1]
gates:
  - metric: accuracy
    non_inferiority: 0.02
  - metric: roc_auc
    min: 0.80
"""


def _suite_text(cancer: dict, extra: str = "") -> str:
    return SUITE.format(features=", ".join(cancer["names"])) + extra


@pytest.fixture
def world(cancer: dict, tmp_path: Path) -> Path:
    for name in ("baseline.skops", "candidate.skops", "same.skops", "test.parquet"):
        shutil.copy(cancer["dir"] / name, tmp_path / name)
    (tmp_path / "suite.yaml").write_text(_suite_text(cancer))
    return tmp_path


def test_worse_candidate_fails_and_same_model_passes(world: Path, cancer: dict) -> None:
    suite = Suite.load(world / "suite.yaml")
    bad = run_suite(suite, candidate=str(world / "candidate.skops"), baseline=str(world / "baseline.skops"))
    gate = bad.gates[0]
    assert gate.metric == "accuracy" and gate.status == "fail" and not bad.passed and bad.exit_code == 1
    assert gate.candidate_value == pytest.approx(cancer["acc_cand"])
    assert gate.baseline_value == pytest.approx(cancer["acc_base"])
    assert gate.ci_high < -0.02 and "below -0.02" in gate.reason
    assert gate.details["mcnemar"]["p_value"] < 0.05
    good = run_suite(suite, candidate=str(world / "same.skops"), baseline=str(world / "baseline.skops"))
    assert good.passed and [g.status for g in good.gates] == ["pass", "pass"]
    # each model predicted each row exactly once, whatever the number of metrics and gates
    assert good.data["rows_predicted"] == 2 * cancer["n"]


def test_small_data_is_inconclusive_not_pass(world: Path, cancer: dict) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(world / "test.parquet").slice(0, 40)
    pq.write_table(table, world / "small.parquet")
    suite = Suite.load(world / "suite.yaml")
    r = run_suite(suite, candidate=str(world / "same.skops"), baseline=str(world / "baseline.skops"), data=str(world / "small.parquet"))
    gate = r.gates[0]
    assert gate.status == "inconclusive" and not r.passed
    assert gate.mdd > 0.02 and "smallest difference" in gate.reason
    r2 = run_suite(suite, candidate=str(world / "same.skops"), baseline=str(world / "baseline.skops"),
                   data=str(world / "small.parquet"), allow_inconclusive=True)
    assert r2.passed


def test_cli_json_junit_html_and_exit_codes(world: Path, cli) -> None:  # noqa: ANN001
    proc = cli("check", "suite.yaml", "--candidate", "candidate.skops", "--baseline", "baseline.skops", "--json",
               "--junit", "junit.xml", "--report", "report.html", "--seed", "7", cwd=world, check=1)
    doc = json.loads(proc.stdout)  # exactly one JSON document
    assert doc["passed"] is False and doc["seed"] == 7
    for key in ("candidate", "baseline", "data"):
        assert len(doc[key]["hash"]) == 64
    gate = doc["gates"][0]
    for key in ("name", "metric", "slice", "candidate_value", "baseline_value", "delta", "ci_low", "ci_high", "p_value", "status"):
        assert key in gate
    assert gate["slice"] is None and gate["status"] == "fail"
    xml = ET.parse(world / "junit.xml").getroot()
    cases = xml.findall(".//testcase")
    assert len(cases) == len(doc["gates"]) == 2
    assert cases[0].find("failure") is not None and cases[1].find("failure") is None
    html = (world / "report.html").read_text()
    assert "NOT PASSED" in html and "<svg" in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    ok = cli("check", "suite.yaml", "--candidate", "same.skops", "--baseline", "baseline.skops", cwd=world, check=0)
    assert "PASSED" in ok.stdout
    # no workspace here: said in the text too, not only among the --json document's notes
    assert ok.stdout.splitlines()[-1] == "not recorded: no assay workspace here (run `assay init` to keep a history)"
    assert doc["notes"][-1] == ok.stdout.splitlines()[-1]
    # same seed → same report
    again = cli.json("check", "suite.yaml", "--candidate", "candidate.skops", "--baseline", "baseline.skops", "--seed", "7", cwd=world, check=1)
    assert again["gates"] == doc["gates"]


def test_cli_bad_input_exits_2_with_a_clear_message(world: Path, cli) -> None:  # noqa: ANN001
    (world / "bad.yaml").write_text(_suite_text({"names": ["f00"]}).replace("task: binary", "task: nope"))
    p = cli("check", "bad.yaml", "--candidate", "same.skops", cwd=world, check=2)
    assert "bad.yaml:4" in p.stderr and "unknown task" in p.stderr
    p = cli("check", "suite.yaml", "--candidate", "missing.skops", "--baseline", "nope.onnx", cwd=world, check=2)
    assert "candidate" in p.stderr and "baseline" in p.stderr
    (world / "fewer.yaml").write_text(_suite_text({"names": ["f00", "f01"]}))
    p = cli("check", "fewer.yaml", "--candidate", "same.skops", "--baseline", "baseline.skops", "--json", cwd=world, check=2)
    doc = json.loads(p.stdout)
    assert "expects 30 features but the data has 2" in doc["message"]
    assert "candidate model" in doc["message"] and "baseline model" in doc["message"]


def test_models_that_misbehave_are_reported_per_model(world: Path, cancer: dict) -> None:
    suite = Suite.load(world / "suite.yaml")
    nan_model = from_function(lambda X: np.full(len(X), np.nan), name="nan-model")
    from assay.models import ModelError

    with pytest.raises(ModelError) as info:
        run_suite(suite, candidate=nan_model, baseline=str(world / "baseline.skops"))
    assert "candidate model: nan-model" in info.value.message and "NaN" in info.value.message

    def wrong_labels(X: np.ndarray) -> np.ndarray:
        return np.full(len(X), 7)

    with pytest.raises(ModelError, match="predicts label 7 that is not a class of 'label'"):
        run_suite(suite, candidate=from_function(wrong_labels, name="sevens"), baseline=str(world / "baseline.skops"))


def test_registered_models_data_refs_ledger_and_log(world: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(world)
    cli("init", cwd=world)
    added = cli.json("model", "add", "cancer", "baseline.skops", cwd=world)
    assert added["ref"] == "cancer@v1" and added["flavor"] == "sklearn"
    cli.json("model", "add", "cancer", "candidate.skops", cwd=world)
    cli("data", "add", "test.parquet", "--name", "cancer-test", cwd=world)
    doc = cli.json("check", "suite.yaml", "--candidate", "cancer@v2", "--baseline", "cancer@v1", "--data", "cancer-test@v1",
                   cwd=world, check=1)
    assert doc["candidate"]["meta"]["ref"] == "cancer@v2" and doc["data"]["ref"] == "cancer-test@v1"
    assert doc["id"]
    log = cli.json("check", "log", cwd=world)
    assert log["results"][0]["id"] == doc["id"] and log["results"][0]["verdict"] == "fail"
    shown = cli.json("check", "show", doc["id"][:8], "--report", "again.html", cwd=world)
    assert shown["gates"] == doc["gates"] and (world / "again.html").is_file()
    (world / "afile").write_text("x")  # a --junit that cannot be written: refused before the report is written
    refused = cli("check", "show", doc["id"][:8], "--report", "third.html", "--junit", "afile/junit.xml", "--json", cwd=world, check=2)
    assert "afile is a file, not a folder" in refused.stdout and not (world / "third.html").exists()
    text = cli("check", "suite.yaml", "--candidate", "cancer@v2", "--baseline", "cancer@v1", "--data", "cancer-test@v1",
               cwd=world, check=1).stdout
    assert "recorded as check " in text and "not recorded" not in text
    cli("check", "show", "ffffffffff", cwd=world, check=2)
    models = cli.json("model", "list", cwd=world)
    assert [m["name"] for m in models["models"]] == ["cancer"]
    from assay.workspace import Workspace

    ws = Workspace.open(world)
    edges = ws.ledger.query("SELECT src, relation FROM edges WHERE dst = ?", (f"record:{doc['id']}",))
    relations = sorted(r for _, r in edges)
    assert relations == ["checked_as_baseline", "checked_as_candidate", "checked_on"]
    ws.close()


def test_the_log_shows_the_versions_references_resolved_to(world: Path, cli) -> None:  # noqa: ANN001
    cli("init", cwd=world)
    cli("model", "add", "cancer", "baseline.skops", cwd=world)
    cli("model", "add", "cancer", "candidate.skops", cwd=world)
    cli("data", "add", "test.parquet", "--name", "cancer-test", cwd=world)
    doc = cli.json("check", "suite.yaml", "--candidate", "cancer@latest", "--baseline", "cancer@v1", "--data", "cancer-test",
                   cwd=world, check=1)
    # the result names the versions read; what was typed is kept beside them
    assert (doc["candidate"]["name"], doc["candidate"]["meta"]["ref"]) == ("cancer@v2", "cancer@latest")
    assert doc["data"]["ref"] == "cancer-test@v1" and doc["data"]["version"]
    row = cli.json("check", "log", cwd=world)["results"][0]
    assert (row["candidate"], row["baseline"], row["data"]) == ("cancer@v2", "cancer@v1", "cancer-test@v1")
    assert "cancer@v2 vs cancer@v1 on cancer-test@v1" in cli("check", "log", cwd=world).stdout
    # a model file is shown as it was typed; a version this workspace does not hold, as it was named then
    cli("check", "suite.yaml", "--candidate", "same.skops", "--baseline", "cancer@v1", cwd=world, check=None)
    from assay.workspace import Workspace

    ws = Workspace.open(world)
    with ws.ledger.transaction() as tx:
        tx.execute("UPDATE records SET body = REPLACE(body, ?, 'gone') WHERE id = ?", (doc["candidate"]["meta"]["version"], doc["id"]))
    ws.close()
    rows = cli.json("check", "log", cwd=world)["results"]
    assert (rows[0]["candidate"], rows[0]["baseline"]) == ("same.skops", "cancer@v1")
    assert (rows[1]["candidate"], rows[1]["baseline"]) == ("cancer@v2", "cancer@v1")


def test_cli_reports_a_hanging_model(world: Path, cli) -> None:  # noqa: ANN001
    (world / "slow_model.py").write_text("import time\ndef predict(X):\n    time.sleep(60)\n    return X[:, 0] > 0\n")
    p = cli("check", "suite.yaml", "--candidate", "slow_model.py:predict", "--baseline", "baseline.skops", "--timeout", "1",
            cwd=world, check=2, timeout=60)
    assert "did not return within 1 s" in p.stderr and "candidate" in p.stderr


def test_a_suite_may_leave_its_data_to_the_run(world: Path, cancer: dict, cli) -> None:  # noqa: ANN001
    # the README's Python API passes data= (a DataFrame, a dict of arrays): the suite need not name a file
    text = _suite_text(cancer).replace("data: test.parquet\n", "")
    suite = Suite.from_yaml(text)
    assert suite.data is None and "data" not in suite.to_dict() and Suite.from_yaml(suite.to_yaml()) == suite
    import pyarrow.parquet as pq

    table = pq.read_table(world / "test.parquet")
    columns = {name: table.column(name).to_numpy() for name in table.column_names}
    r = run_suite(suite, candidate=str(world / "same.skops"), baseline=str(world / "baseline.skops"), data=columns)
    assert r.passed and r.data["rows"] == cancer["n"]
    with pytest.raises(InputError, match="names no data") as info:
        run_suite(suite, candidate=str(world / "same.skops"))
    assert "--data" in (info.value.hint or "")
    (world / "nodata.yaml").write_text(text)
    cli("check", "nodata.yaml", "--candidate", "same.skops", "--baseline", "baseline.skops", "--data", "test.parquet",
        cwd=world, check=0)
    p = cli("check", "nodata.yaml", "--candidate", "same.skops", "--baseline", "baseline.skops", cwd=world, check=2)
    assert "names no data" in p.stderr


def test_a_model_that_does_not_load_keeps_its_hint_apart_in_json(world: Path, cli) -> None:  # noqa: ANN001
    p = cli("check", "suite.yaml", "--candidate", "missing.skops", "--baseline", "baseline.skops", "--json", cwd=world, check=2)
    doc = json.loads(p.stdout)
    assert doc["message"].startswith("candidate: missing.skops: no such model file") and "hint" not in doc["message"]
    assert doc["hint"].startswith("give a path to a .onnx/.skops/.joblib file")


def test_a_negative_seed_is_a_usage_error(world: Path, cli) -> None:  # noqa: ANN001
    p = cli("check", "suite.yaml", "--candidate", "same.skops", "--baseline", "baseline.skops", "--seed", "-1", cwd=world, check=2)
    assert "the seed must be an integer ≥ 0, got -1" in p.stderr  # was "internal error: expected non-negative integer"


def test_a_long_model_error_is_cut_at_a_word_and_says_so(world: Path) -> None:
    from assay.models import ModelError

    words = " ".join(f"column_{i:03d}_is_wrong" for i in range(60))  # 1,139 characters, no word of them cut

    def raises(X: np.ndarray) -> np.ndarray:
        raise ValueError(words)

    with pytest.raises(ModelError) as info:
        run_suite(Suite.load(world / "suite.yaml"), candidate=from_function(raises, name="long"),
                  baseline=str(world / "baseline.skops"))
    said = info.value.message.split("predict raised ValueError: ", 1)[1]
    head, tail = said.split(" … ", 1)
    assert words.startswith(head) and words[len(head)] == " " and len(head) <= 500  # was cut mid-word at 500, unmarked
    assert tail == f"[cut: {len(words) - len(head):,} more characters]"


def test_data_that_names_no_dataset_speaks_of_datasets_not_models(world: Path) -> None:
    from assay.errors import NotFoundError
    from assay.models import register_model
    from assay.workspace import Workspace

    ws = Workspace.init(world)
    register_model(ws, "cancer", world / "baseline.skops")
    suite = Suite.load(world / "suite.yaml")
    with pytest.raises(NotFoundError) as info:
        run_suite(suite, candidate=str(world / "same.skops"), baseline=str(world / "baseline.skops"), data="nosuch@v1", ws=ws)
    # was "no dataset or model named 'nosuch'", hint "known models: cancer"
    assert info.value.message == "no dataset named 'nosuch'" and "model" not in (info.value.hint or "")
    assert "assay data add" in (info.value.hint or "")
    with pytest.raises(NotFoundError) as info:  # it went on to read the model's files as data
        run_suite(suite, candidate=str(world / "same.skops"), baseline=str(world / "baseline.skops"), data="cancer@v1", ws=ws)
    assert info.value.message == "'cancer' is a model, not a dataset"


def test_trust_given_at_registration_is_not_remembered_and_the_error_says_why(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import skops.io as sio
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from assay.models import ModelError, register_model
    from assay.workspace import Workspace

    (world / "shifts.py").write_text("def shift(X):\n    return X + 1.0\n")
    monkeypatch.syspath_prepend(str(world))
    from shifts import shift  # type: ignore[import-not-found]

    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(FunctionTransformer(shift), StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    sio.dump(model, world / "custom.skops")  # skops does not trust `shifts.shift`: loading it runs its code
    ws = Workspace.init(world)
    register_model(ws, "custom", world / "custom.skops", trust=True)
    suite = Suite.load(world / "suite.yaml")
    with pytest.raises(ModelError) as info:
        run_suite(suite, candidate="custom@v1", baseline=str(world / "baseline.skops"), ws=ws)
    assert "types skops does not trust: shifts.shift" in info.value.message
    # was only "pass --trust ... only if you trust its author", which the user had just done at registration
    assert "The --trust given to `assay model add` is not remembered" in (info.value.hint or "")
    r = run_suite(suite, candidate="custom@v1", baseline=str(world / "baseline.skops"), ws=ws, trust=True)
    assert "custom@v1" in str(r.candidate)  # it loads once this run says it trusts the file


def test_check_show_exits_0_whatever_the_verdict_says_so_and_does_not_record_again(world: Path, cli) -> None:  # noqa: ANN001
    cli("init", cwd=world)
    doc = cli.json("check", "suite.yaml", "--candidate", "candidate.skops", "--baseline", "baseline.skops", cwd=world, check=1)
    assert doc["passed"] is False
    shown = cli("check", "show", doc["id"][:8], "--report", "again.html", cwd=world, check=0).stdout
    # was "... report: ...again.html / recorded as check <id>", as if this show had recorded it
    assert "recorded as check" not in shown and f"check {doc['id'][:12]}, recorded {doc['created_at'][:10]}" in shown
    assert "report: " in shown and (world / "again.html").is_file()
    assert "exit 0 whatever its verdict" in " ".join(cli("check", "show", "--help", cwd=world).stdout.split())


def test_an_unknown_subcommand_is_not_read_as_a_suite(cli, tmp_path: Path) -> None:  # noqa: ANN001
    """`assay check nosuch --help` printed `check run`'s help, "nosuch" being taken for SUITE."""
    for args in (("check", "nosuch", "--help"), ("check", "nosuch")):
        err = cli(*args, check=2).stderr
        assert "no command 'nosuch'" in err and "log, run, schema, show" in err and "runs a suite" in err
    (tmp_path / "suite").write_text("gates: []\n")  # a file of that name is a suite after all
    assert "no command" not in cli("check", "suite", check=2, cwd=tmp_path).stderr
    assert "Usage: assay check run" in cli("check", "suite.yaml", "--help").stdout  # a suite's name with --help: run's help


def test_a_report_or_junit_path_that_cannot_be_written_is_refused_before_the_check_runs(world: Path, cli) -> None:  # noqa: ANN001
    """It was found only after the check ran and was recorded in the ledger (exit 2, a result kept)."""
    cli("init", cwd=world)
    (world / "afile").write_text("")
    run = ("check", "suite.yaml", "--candidate", "candidate.skops", "--baseline", "baseline.skops", "--json")
    doc = cli.json(*run, "--report", "afile/r.html", cwd=world, check=2)
    assert doc["message"] == "cannot write the report afile/r.html: afile is a file, not a folder"
    doc = cli.json(*run, "--report", "new/r.html", "--junit", "afile/deeper/j.xml", cwd=world, check=2)
    assert doc["message"] == "cannot write the JUnit file afile/deeper/j.xml: afile is a file, not a folder"
    assert not (world / "new").exists()  # nothing made either
    # (a folder given as the file is refused by the option itself, before the command: exit 2 too)
    assert cli.json("check", "log", cwd=world)["results"] == []


def test_a_suite_with_a_setting_that_decides_nothing_is_refused_before_anything_runs(world: Path, cli) -> None:  # noqa: ANN001
    """`min: .nan` was always inconclusive and `batch_size: 0` an internal error (exit 3) once the models had run."""
    cli("init", cwd=world)
    text = (world / "suite.yaml").read_text()
    for bad, setting in (("bootstrap: 50000000\n", "bootstrap"), ("robustness:\n  - {generator: gaussian_noise, batch_size: 0}\n",
                                                                  "robustness[0].batch_size")):
        (world / "bad.yaml").write_text(text + bad)
        doc = cli.json("check", "bad.yaml", "--candidate", "candidate.skops", "--baseline", "baseline.skops", cwd=world, check=2)
        line = len(text.splitlines()) + (1 if setting == "bootstrap" else 2)
        assert doc["message"].startswith(f"bad.yaml:{line}: {setting}: "), doc["message"]
    assert cli.json("check", "log", cwd=world)["results"] == []  # nothing recorded


MODS = """\
import sys
import numpy as np

def exits(X):
    sys.exit(0)

def exits_3(X):
    sys.exit(3)

def exits_on_nan(X):
    # fine on the real rows; ends the process on the generated ones (robustness)
    if np.isnan(X).any():
        sys.exit(0)
    p = np.where(X[:, 20] < 17, 0.9, 0.1)
    return np.column_stack([1 - p, p])
"""


def test_a_model_that_calls_sys_exit_is_an_input_error_not_assay_s_exit_code(world: Path, cli) -> None:  # noqa: ANN001
    """sys.exit(0) in a model ended assay with exit 0 and no output, report or record: a silent pass in CI."""
    cli("init", cwd=world)
    (world / "mods.py").write_text(MODS)
    run = ("check", "suite.yaml", "--baseline", "baseline.skops", "--junit", "j.xml", "--report", "r.html")
    doc = cli.json(*run, "--candidate", "mods.py:exits", cwd=world, check=2)
    assert doc["error"] == "ModelError"
    assert "candidate model: mods.py:exits called sys.exit(0) while predicting; a model must return predictions, not end the process" in doc["message"]
    assert "sys.exit" in doc["hint"]
    err = cli(*run, "--candidate", "mods.py:exits_3", cwd=world, check=2).stderr
    assert "called sys.exit(3) while predicting" in err
    # on generated inputs only: the robustness test stops the check rather than count a failure,
    # in this process and in forked workers (see test_forked_workers_end_the_check_when_a_batch_raises_or_a_process_dies)
    for name, workers in (("inline.yaml", ""), ("forked.yaml", ", batch_size: 100, workers: 2")):
        (world / name).write_text((world / "suite.yaml").read_text() + f"robustness:\n  - {{generator: missing_values, n: 400{workers}}}\n")
        doc = cli.json(*run[:1], name, *run[2:], "--candidate", "mods.py:exits_on_nan", cwd=world, check=2, timeout=120)
        assert "mods.py:exits_on_nan called sys.exit(0) while predicting" in doc["message"]
    # at import: refused while loading, by check and by model add
    (world / "impexit.py").write_text("import sys\nsys.exit(0)\ndef f(X):\n    return X[:, 0] > 0\n")
    doc = cli.json(*run, "--candidate", "impexit.py:f", cwd=world, check=2)
    assert "candidate: impexit.py:f called sys.exit(0) while loading; a model must load, not end the process" in doc["message"]
    doc = cli.json("model", "add", "m", "impexit.py:f", cwd=world, check=2)
    assert "called sys.exit(0) while loading" in doc["message"]
    assert cli.json("model", "list", cwd=world)["models"] == []
    assert cli.json("check", "log", cwd=world)["results"] == []
    assert not (world / "j.xml").exists() and not (world / "r.html").exists()


def test_forked_workers_end_the_check_when_a_batch_raises_or_a_process_dies(world: Path) -> None:
    """A multiprocessing.Pool hung `assay check`: its terminate() on busy workers, about one run in
    thirty (a worker killed while sending its result), and always when the model ended its worker
    process (os._exit, a crash, the OOM killer): the pool replaced it and waited for its result."""
    import os

    from assay.models import ModelError, ModelExitError

    (world / "mods.py").write_text(MODS + "\n\ndef ends_process_on_nan(X):\n    if np.isnan(X).any():\n        import os\n"
                                   "        os._exit(7)\n    return exits_on_nan(X)\n")
    # 200 batches of 10 rows, each of which ends the model: both workers are busy when the first ends
    (world / "forked.yaml").write_text((world / "suite.yaml").read_text()
                                       + "robustness:\n  - {generator: missing_values, n: 2000, batch_size: 10, workers: 2}\n")
    suite = Suite.load(world / "forked.yaml")
    for _ in range(5):
        with pytest.raises(ModelExitError, match="exits_on_nan called sys.exit"):
            run_suite(suite, candidate=f"{world / 'mods.py'}:exits_on_nan", baseline=str(world / "baseline.skops"))
        with pytest.raises(ChildProcessError):
            os.waitpid(-1, os.WNOHANG)  # every worker ended and was reaped, none left behind
    with pytest.raises(ModelError) as caught:
        run_suite(suite, candidate=f"{world / 'mods.py'}:ends_process_on_nan", baseline=str(world / "baseline.skops"))
    assert caught.value.message.startswith("robustness missing_values: a process running the model ") and \
        "died without a result (exit status 7): the model ended it (os._exit), crashed, or it was killed for memory" in caught.value.message
    assert "workers: 1" in (caught.value.hint or "")
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_only_sys_exit_is_taken_from_a_model_not_keyboard_interrupt(world: Path) -> None:
    from assay.models import ModelExitError, guarded_predict

    def interrupted(X: np.ndarray) -> np.ndarray:
        raise KeyboardInterrupt

    def exits(X: np.ndarray) -> np.ndarray:
        raise SystemExit("bye")

    features = Features.from_numpy(np.zeros((4, 2)))
    with pytest.raises(KeyboardInterrupt):
        guarded_predict(from_function(interrupted), features)
    with pytest.raises(ModelExitError, match=r"function called sys.exit\('bye'\) while predicting"):
        guarded_predict(from_function(exits), features, timeout_s=10)  # in the timeout's thread too


def test_a_folder_that_takes_no_new_file_is_refused_before_the_check_is_recorded(world: Path, cli) -> None:  # noqa: ANN001
    """/proc reads as writable to root (os.access), so the check ran and was recorded, then the write failed."""
    cli("init", cwd=world)
    run = ("check", "suite.yaml", "--candidate", "candidate.skops", "--baseline", "baseline.skops")
    doc = cli.json(*run, "--report", "/proc/nope/r.html", cwd=world, check=2)
    assert doc["message"] == "cannot write the report /proc/nope/r.html: this user cannot write in the folder /proc"
    doc = cli.json(*run, "--junit", "/proc/nope/j.xml", cwd=world, check=2)
    assert doc["message"] == "cannot write the JUnit file /proc/nope/j.xml: this user cannot write in the folder /proc"
    assert cli.json("check", "log", cwd=world)["results"] == []


def test_outputs_may_not_overwrite_the_workspace_an_input_or_each_other(world: Path, cli) -> None:  # noqa: ANN001
    """--report .assay/ledger.db wrote HTML over the ledger (every later command: exit 3, "malformed");
    the suite, data, models and the other output were overwritten as silently."""
    cli("init", cwd=world)
    (world / "mods.py").write_text(MODS)
    (world / "link").symlink_to(world / ".assay")
    before = {p: p.read_bytes() for p in world.rglob("*") if p.is_file() and "tmp" not in p.parts}
    run = ("check", "suite.yaml", "--candidate", "candidate.skops", "--baseline", "baseline.skops")
    for option in ("--report", "--junit"):
        for path in (".assay/ledger.db", ".assay/config.toml", "link/config.toml", ".assay/new/r.html"):
            doc = cli.json(*run, option, path, cwd=world, check=2)
            assert doc["message"].endswith(f"{path}: it is inside a workspace's .assay folder, which holds its ledger, config and store")
        for path in ("suite.yaml", "test.parquet", "baseline.skops", "candidate.skops", "./suite.yaml", str(world / "test.parquet")):
            doc = cli.json(*run, option, path, cwd=world, check=2)
            assert "an input of this run, which it would overwrite" in doc["message"], path
    doc = cli.json(*run, "--data", "test.parquet", "--report", "test.parquet", cwd=world, check=2)
    assert "test.parquet, an input of this run" in doc["message"]
    doc = cli.json("check", "suite.yaml", "--candidate", "mods.py:exits", "--report", "mods.py", cwd=world, check=2)
    assert "mods.py, an input of this run" in doc["message"]
    doc = cli.json(*run, "--report", "x.out", "--junit", "./x.out", cwd=world, check=2)
    assert doc["message"] == "the report and the JUnit file are the same file x.out: each would overwrite the other"
    assert cli.json("check", "log", cwd=world)["results"] == []  # refused before the check ran
    doc = cli.json(*run, cwd=world, check=1)  # one recorded, to show
    for args in (("--report", ".assay/config.toml"), ("--junit", "link/ledger.db"), ("--report", "x.out", "--junit", "x.out")):
        assert cli("check", "show", doc["id"][:8], *args, cwd=world, check=2).stderr
    after = {p: p.read_bytes() for p in before}
    assert after == before or [p for p in before if before[p] != after[p]] == [world / ".assay" / "ledger.db"]
    assert not (world / "x.out").exists() and not (world / ".assay" / "new").exists()
    assert len(cli.json("check", "log", cwd=world)["results"]) == 1


def test_junit_holds_only_characters_xml_allows(world: Path, cli) -> None:  # noqa: ANN001
    """A slice value with an escape character was written raw: expat rejected the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(world / "test.parquet")
    sizes = ["\x1b[31mred" if v == "large" else "\ufffe" for v in table.column("size").to_pylist()]
    pq.write_table(table.set_column(table.schema.get_field_index("size"), "size", pa.array(sizes)), world / "test.parquet")
    (world / "suite.yaml").write_text((world / "suite.yaml").read_text().replace("min: 0.80\n", "min: 0.80\n    slices: all\n")
                                      + "slices:\n  - column: size\n")
    cli("check", "suite.yaml", "--candidate", "same.skops", "--baseline", "baseline.skops", "--junit", "j.xml", cwd=world, check=None)
    names = [case.get("name") for case in ET.parse(world / "j.xml").getroot().iter("testcase")]
    assert any("\\x1b[31mred" in name for name in names) and any("\\ufffe" in name for name in names), names


def test_the_bootstrap_and_timeout_options_are_bounded_as_the_suite_s_fields_are(world: Path, cli) -> None:  # noqa: ANN001
    """--bootstrap 200000 was refused as "the suite: bootstrap: ...", a field the user never wrote."""
    from assay.checks._suite_parse import MAX_BOOTSTRAP

    cli("init", cwd=world)
    run = ("check", "suite.yaml", "--candidate", "same.skops", "--baseline", "baseline.skops", "--no-record")
    err = cli(*run, "--bootstrap", str(MAX_BOOTSTRAP + 1), cwd=world, check=2).stderr
    assert "--bootstrap" in err and "100000" in err and "the suite" not in err, err
    err = cli(*run, "--timeout", "inf", cwd=world, check=2).stderr
    assert "--timeout" in err and "the suite" not in err, err
