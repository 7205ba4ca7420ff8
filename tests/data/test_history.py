"""The history that travels with versions: a check of a model pushed with it reaches a
teammate's pull, a version the pull did not fetch is named as the remote names it, and a
remote cannot rewrite what this workspace knows (give a version to a run of this workspace,
or to a run whose record does not list it; plant a check result that does not read)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from assay.checks import Suite, get_result, list_results, run_suite
from assay.data import add, pull, push, repair, resolve
from assay.data._records import rewrite_records
from assay.data._remote import add_remote
from assay.lineage import lineage, run_command
from assay.store import LocalStore
from assay.workspace import Workspace

PY = sys.executable
TRAIN = """\
import sys
import pandas as pd
import skops.io
from sklearn.linear_model import LogisticRegression
frame = pd.read_csv("data/train.csv")
model = LogisticRegression(max_iter=int(sys.argv[1])).fit(frame.drop(columns="label"), frame["label"])
skops.io.dump(model, "model.skops")
"""
SUITE = """\
name: gate
data: evaluation@latest
target: label
task: binary
metrics: [accuracy]
gates:
  - metric: accuracy
    min: 0.5
"""


def _workspace(root: Path, remote: Path, ledger: str | None = None) -> Workspace:
    ws = Workspace.init(root, ledger=ledger)
    add_remote(ws, "origin", str(remote))
    return ws


@pytest.fixture
def alice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A workspace whose model clf@v1 was trained by a run on train@v1 and checked on
    evaluation@v1; everything pushed to ``tmp_path / "remote"``."""
    from sklearn.datasets import load_breast_cancer

    monkeypatch.delenv("ASSAY_HOME", raising=False)
    ws = _workspace(tmp_path / "alice", tmp_path / "remote")
    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"}).iloc[:, -4:]
    (ws.root / "data").mkdir()
    frame.to_csv(ws.root / "data" / "train.csv", index=False)
    frame.to_csv(ws.root / "evaluation.csv", index=False)
    (ws.root / "train.py").write_text(TRAIN)
    add(ws, [ws.root / "data"], name="train")
    add(ws, [ws.root / "evaluation.csv"], name="evaluation")
    run = run_command(ws, [PY, "train.py", "2000"], inputs=["train@v1"], models={"clf": str(ws.root / "model.skops")}, cwd=ws.root)
    assert run.produced and run.produced[0].ref == "clf@v1"
    suite = Suite.from_yaml(SUITE, base_dir=ws.root)
    result = run_suite(suite, candidate="clf@v1", ws=ws)
    assert result.id and result.passed
    push(ws)
    return ws


def test_a_check_travels_with_the_model_it_judged_and_says_where_it_ran(alice: Workspace, tmp_path: Path) -> None:
    bob = _workspace(tmp_path / "bob", tmp_path / "remote")
    result = pull(bob, "clf@v1")
    assert result.records_received == 1, result.notes
    (row,) = list_results(bob)
    (mine,) = list_results(alice)
    assert row["id"] == mine["id"] and row["verdict"] == "pass" and row["remote"] == "origin" and mine["remote"] is None
    doc = get_result(bob, row["id"])
    assert doc["imported"]["remote"] == "origin" and doc["gates"] == get_result(alice, row["id"])["gates"]
    graph = lineage(bob, "clf@v1", up=False)
    assert graph.nodes[f"record:{row['id']}"]["label"] == "check gate (from origin)"
    # pulled again: known, not recorded twice
    assert pull(bob, "clf@v1").records_received == 0 and len(list_results(bob)) == 1


def test_a_check_made_after_the_push_goes_with_the_next_one(alice: Workspace, tmp_path: Path) -> None:
    suite = Suite.from_yaml(SUITE.replace("min: 0.5", "min: 0.99"), base_dir=alice.root)
    later = run_suite(suite, candidate="clf@v1", ws=alice)
    assert not later.passed
    again = push(alice)
    assert again.records_sent == 1 and not again.versions_transferred
    bob = _workspace(tmp_path / "bob", tmp_path / "remote")
    pull(bob)
    assert sorted(r["verdict"] for r in list_results(bob)) == ["fail", "pass"]
    # bob pushes what he pulled to a remote of his own: the checks go too, without bob's note
    # of where he learned of them; carol's pull keeps her own
    add_remote(bob, "backup", str(tmp_path / "backup"))
    assert push(bob, remote="backup").records_sent == 2
    for copy in (tmp_path / "backup" / "records").glob("*/*.json"):
        assert "imported" not in json.loads(copy.read_text())["body"]
    carol = Workspace.init(tmp_path / "carol")
    add_remote(carol, "backup", str(tmp_path / "backup"))
    pull(carol)
    assert {r["remote"] for r in list_results(carol)} == {"backup"}


def test_a_record_of_a_version_not_pulled_waits_for_it(alice: Workspace, tmp_path: Path) -> None:
    bob = _workspace(tmp_path / "bob", tmp_path / "remote")
    assert pull(bob, "train@v1").records_received == 0 and list_results(bob) == []
    assert pull(bob, "evaluation@v1").records_received == 1  # the check's data
    # the model it checked is not here: named as on the remote (bob's own clf@v1 could be another)
    assert list_results(bob)[0]["candidate"] == "clf@v1 (on origin)"


def test_a_check_leaves_the_workspace_without_secrets_or_local_paths(alice: Workspace, tmp_path: Path) -> None:
    (rid, body), = alice.ledger.query("SELECT id, body FROM records")
    doc = json.loads(body)
    doc["baseline"] = {"name": "http://127.0.0.1:9/predict?access_token=SECRET123", "flavor": "http"}
    doc["report"] = str(alice.root / "private" / "report.html")
    with alice.ledger.transaction() as tx:
        tx.execute("UPDATE records SET body = ? WHERE id = ?", (json.dumps(doc), rid))
    add_remote(alice, "elsewhere", str(tmp_path / "elsewhere"))
    assert push(alice, remote="elsewhere").records_sent == 1
    for copy in (tmp_path / "elsewhere" / "records").glob("*/*.json"):
        text = copy.read_text()
        assert "SECRET123" not in text and "private" not in text and "access_token=***" in text


def test_a_version_the_pull_did_not_fetch_is_named_as_on_the_remote_with_how_to_fetch_it(
        alice: Workspace, tmp_path: Path) -> None:
    bob = _workspace(tmp_path / "bob", tmp_path / "remote")
    pull(bob, "clf@v1")
    train = resolve(alice, "train@v1")
    graph = lineage(bob, "clf@v1", down=False)
    node = graph.nodes[train.node]
    assert node["label"] == "train@v1 on origin (not pulled)" and node["missing"]
    assert node["pull"] == f"assay data pull train@{train.id[:12]} --remote origin"
    assert any(node["pull"] in note for note in graph.notes), graph.notes
    pull(bob, f"train@{train.id[:12]}")  # the command the note gives
    assert lineage(bob, "clf@v1", down=False).nodes[train.node]["label"] == "train@v1"


def _forge(remote: Path, dataset: str, run_id: str) -> str:
    """Make the remote's only version of ``dataset`` claim ``run_id`` as its maker; its id."""
    (ref,) = (remote / "versions" / dataset).glob("*.json")
    entry = json.loads(ref.read_text())
    entry["run_id"] = run_id
    ref.write_text(json.dumps(entry))
    return str(entry["id"])


def test_a_remote_cannot_give_a_version_to_a_run_of_this_workspace(alice: Workspace, tmp_path: Path) -> None:
    bob = _workspace(tmp_path / "bob", tmp_path / "remote")
    (bob.root / "d").mkdir()
    (bob.root / "d" / "f").write_text("bob's")
    mine = run_command(bob, [PY, "-c", "open('out.txt', 'w').write('made')"], outputs={"out": str(bob.root / "out.txt")}, cwd=bob.root)
    forged = _forge(tmp_path / "remote", "evaluation", mine.id)
    result = pull(bob, "evaluation@v1")
    assert any("evaluation@v1" in n and mine.id[:12] in n and "did not make it" in n for n in result.notes), result.notes
    assert resolve(bob, "evaluation@v1").run_id is None
    down = lineage(bob, f"run:{mine.id}", up=False)
    assert f"version:{forged}" not in down.nodes and [v.ref for v in mine.produced] == ["out@v1"]


def test_a_remote_cannot_give_a_version_to_a_pulled_run_whose_record_does_not_list_it(
        alice: Workspace, tmp_path: Path) -> None:
    bob = _workspace(tmp_path / "bob", tmp_path / "remote")
    pull(bob, "clf@v1")  # learns the run that made clf@v1 from its record
    maker = resolve(bob, "clf@v1").run_id
    assert maker
    _forge(tmp_path / "remote", "evaluation", maker)
    result = pull(bob, "evaluation@v1")
    assert any("does not list it" in n for n in result.notes), result.notes
    assert resolve(bob, "evaluation@v1").run_id is None
    assert resolve(bob, "evaluation@v1").node not in lineage(bob, f"run:{maker}", up=False).nodes


def test_a_run_recorded_by_an_older_assay_still_takes_its_other_outputs(alice: Workspace, tmp_path: Path) -> None:
    """Runs recorded before runs were marked carry no mark: a version that names one as its
    maker is joined to it, as before (their lineage would be lost otherwise)."""
    bob = _workspace(tmp_path / "bob", tmp_path / "remote")
    pull(bob, "clf@v1")
    maker = resolve(bob, "clf@v1").run_id
    (env,), = bob.ledger.query("SELECT env FROM runs WHERE id = ?", (maker,))
    old = {k: v for k, v in json.loads(env).items() if k not in ("imported", "ledger")}
    with bob.ledger.transaction() as tx:
        tx.execute("UPDATE runs SET env = ? WHERE id = ?", (json.dumps(old), maker))
    _forge(tmp_path / "remote", "evaluation", maker)
    pull(bob, "evaluation@v1")
    assert resolve(bob, "evaluation@v1").run_id == maker


@pytest.mark.parametrize(("damage", "problem"), [
    (lambda doc: doc["body"]["gates"][0].update(status="great"), "does not read as a check result"),
    (lambda doc: doc["body"].update(counts="all good"), "does not read as a check result"),
    (lambda doc: doc.update(kind="drift_profile"), "kind this assay does not take"),
    (lambda doc: [doc["body"][p].update(version="0" * 32) if p == "data" else doc["body"][p]["meta"].update(version="0" * 32)
                  for p in ("candidate", "data")], "which it does not name"),
    (lambda doc: doc.update(id="f" * 32), "does not read as a record"),
])
def test_a_record_from_a_remote_that_does_not_read_is_skipped_with_a_note(  # type: ignore[no-untyped-def]
        alice: Workspace, tmp_path: Path, damage, problem: str) -> None:
    for copy in (tmp_path / "remote" / "records").glob("*/*.json"):
        doc = json.loads(copy.read_text())
        damage(doc)
        copy.write_text(json.dumps(doc))
    bob = _workspace(tmp_path / "bob", tmp_path / "remote")
    result = pull(bob)
    assert result.records_received == 0 and list_results(bob) == []
    assert any(problem in n for n in result.notes), result.notes


def test_a_record_filed_under_a_version_it_does_not_name_is_skipped(alice: Workspace, tmp_path: Path) -> None:
    records = tmp_path / "remote" / "records"
    copy = next(records.glob("*/*.json"))
    doc = copy.read_text()
    for folder in list(records.iterdir()):
        shutil.rmtree(folder)
    train = resolve(alice, "train@v1").id  # the check names the model and the evaluation data, not this
    (records / train).mkdir()
    (records / train / copy.name).write_text(doc)
    bob = _workspace(tmp_path / "bob", tmp_path / "remote")
    result = pull(bob, "train@v1")
    assert result.records_received == 0 and list_results(bob) == []
    assert any(f"is filed under version {train[:12]}, which it does not name" in n for n in result.notes), result.notes


def test_a_damaged_record_is_found_by_verify_and_mended_by_push_repair(alice: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    copy = next((tmp_path / "remote" / "records").glob("*/*.json"))
    good = copy.read_text()
    copy.write_text(good[: len(good) // 2])
    report = cli.json("data", "verify", "--remote", "origin", cwd=alice.root, check=1)
    key = f"records/{copy.parent.name}/{copy.name}"
    assert [d["object"] for d in report["damaged"]] == [f"check or drift record {key}"], report
    mended = cli.json("data", "push", "--repair", cwd=alice.root)
    assert f"check or drift record {key}" in mended["repaired"], mended
    assert json.loads(copy.read_text()) == json.loads(good)
    cli("data", "verify", "--remote", "origin", cwd=alice.root)


def test_a_run_that_reproduced_a_version_travels_with_it(alice: Workspace, tmp_path: Path) -> None:
    """A run whose output was identical to a version made none; what it confirms (that version
    comes again from its inputs) goes with the version, and the version's maker is unchanged."""
    same = run_command(alice, ["cp", "model.skops", "copy.skops"], inputs=["train@v1"],
                       models={"clf": str(alice.root / "copy.skops")}, cwd=alice.root)
    assert [v.ref for v in same.unchanged] == ["clf@v1"] and not same.produced
    push(alice)
    bob = _workspace(tmp_path / "bob", tmp_path / "remote")
    result = pull(bob, "clf@v1")
    assert not result.notes, result.notes
    graph = lineage(bob, "clf@v1")
    clf = resolve(bob, "clf@v1")
    assert (f"run:{same.id}", clf.node, "reproduced") in graph.edges
    assert clf.run_id == resolve(alice, "clf@v1").run_id != same.id
    assert graph.nodes[f"run:{same.id}"]["pulled_from"] == "origin"
    assert pull(bob, "clf@v1").notes == []  # pulled again: nothing more to say


def test_the_history_travels_into_a_postgresql_ledger_and_out_again(alice: Workspace, tmp_path: Path,
                                                                     pg_database: str) -> None:
    same = run_command(alice, ["cp", "model.skops", "copy.skops"], inputs=["train@v1"],
                       models={"clf": str(alice.root / "copy.skops")}, cwd=alice.root)
    push(alice)
    bob = _workspace(tmp_path / "bob", tmp_path / "remote", ledger=pg_database)
    mine = run_command(bob, [PY, "-c", "open('out.txt', 'w').write('made')"], outputs={"out": str(bob.root / "out.txt")},
                       cwd=bob.root)
    _forge(tmp_path / "remote", "evaluation", mine.id)
    result = pull(bob)
    assert result.records_received == 1 and any("did not make it" in n for n in result.notes), result.notes
    assert resolve(bob, "evaluation@v1").run_id is None and list_results(bob)[0]["remote"] == "origin"
    assert (f"run:{same.id}", resolve(bob, "clf@v1").node, "reproduced") in lineage(bob, "clf@v1").edges
    add_remote(bob, "backup", str(tmp_path / "backup"))
    assert push(bob, remote="backup").records_sent == 1


def test_a_teammate_who_pulled_one_output_of_a_run_passes_on_all_it_made(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """bob pulled only a@v1 of a run that made a@v1 and b@v1, and pushes it on to his backup:
    the run's record there still lists b@v1, so whoever pulls b@v1 from it learns its maker."""
    monkeypatch.delenv("ASSAY_HOME", raising=False)
    alice = _workspace(tmp_path / "alice", tmp_path / "remote")
    script = "open('a.txt', 'w').write('a'); open('b.txt', 'w').write('b')"
    run = run_command(alice, [PY, "-c", script], outputs={"a": str(alice.root / "a.txt"), "b": str(alice.root / "b.txt")},
                      cwd=alice.root)
    push(alice)
    bob = _workspace(tmp_path / "bob", tmp_path / "remote")
    pull(bob, "a@v1")
    add_remote(bob, "backup", str(tmp_path / "backup"))
    push(bob, remote="backup")
    bob_b = pull(bob, "b@v1")  # bob now has b@v1 too, from origin, and pushes it on
    assert not bob_b.notes and resolve(bob, "b@v1").run_id == run.id
    push(bob, remote="backup")
    for who, first in (("carol", "a@v1"), ("dave", None)):
        ws = Workspace.init(tmp_path / who)
        add_remote(ws, "backup", str(tmp_path / "backup"))
        if first:
            pull(ws, first)
        result = pull(ws, "b@v1")
        assert not result.notes and resolve(ws, "b@v1").run_id == run.id, (who, result.notes)


def test_a_drift_report_travels_with_the_versions_it_judged(alice: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (alice.root / "current.csv").write_text((alice.root / "evaluation.csv").read_text())
    add(alice, [alice.root / "current.csv"], name="current")
    cli("drift", "evaluation@v1", "current@v1", cwd=alice.root, check=None)
    (made,) = alice.ledger.query("SELECT id, verdict FROM records WHERE kind = 'drift_report'")
    assert push(alice).records_sent == 1
    bob = _workspace(tmp_path / "bob", tmp_path / "remote")
    assert pull(bob, "current@v1").records_received == 1
    assert bob.ledger.query("SELECT id, verdict FROM records WHERE kind = 'drift_report'") == [made]
    graph = lineage(bob, "current@v1", up=False)
    assert graph.nodes[f"record:{made[0]}"]["remote"] == "origin"


def test_a_drift_report_on_a_remote_that_drift_show_cannot_read_is_not_pulled(alice: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Only its verdict was read: one without its columns was recorded, and `assay drift show`
    # of it then ended in an internal error.
    (alice.root / "current.csv").write_text((alice.root / "evaluation.csv").read_text())
    add(alice, [alice.root / "current.csv"], name="current")
    cli("drift", "evaluation@v1", "current@v1", cwd=alice.root, check=None)
    assert push(alice).records_sent == 1
    for copy in (tmp_path / "remote" / "records").glob("*/*.json"):
        doc = json.loads(copy.read_text())
        if doc["kind"] == "drift_report":
            del doc["body"]["columns"]
            copy.write_text(json.dumps(doc))
    bob = _workspace(tmp_path / "bob", tmp_path / "remote")
    result = pull(bob, "current@v1")
    assert result.records_received == 0 and not bob.ledger.query("SELECT id FROM records WHERE kind = 'drift_report'")
    assert any("does not read as a drift report (no columns): skipped" in n for n in result.notes), result.notes


def test_what_a_remote_says_of_a_check_is_read_from_the_check_itself(alice: Workspace, tmp_path: Path) -> None:
    """Its verdict comes from its body, not the remote's column; its edges are the versions its
    body names (an edge the remote adds to another version is not taken); its time and name
    cannot forge a line of output or sit on top of the log for ever."""
    bob = _workspace(tmp_path / "bob", tmp_path / "remote")
    (bob.root / "mine.txt").write_text("bob's")
    mine = add(bob, [bob.root / "mine.txt"], name="mine").version
    for copy in (tmp_path / "remote" / "records").glob("*/*.json"):
        doc = json.loads(copy.read_text())
        doc["verdict"] = "fail"  # the body says it passed
        doc["edges"].append({"src": mine.node, "relation": "checked_as_baseline", "ref": "mine@v1"})
        copy.write_text(json.dumps(doc))
    assert pull(bob, "clf@v1").records_received == 1
    assert [r["verdict"] for r in list_results(bob)] == ["pass"]
    assert not [n for n in lineage(bob, "mine@v1").nodes if n.startswith("record:")]
    copies = {copy: copy.read_text() for copy in (tmp_path / "remote" / "records").glob("*/*.json")}
    for field, value in (("created_at", "9999-12-31T00:00:00+00:00"), ("name", "gate\n0000  forged line"),
                         ("name", "\ud800"), ("created_at", "yesterday")):
        carol = _workspace(tmp_path / f"carol-{len(list(tmp_path.iterdir()))}", tmp_path / "remote")
        for copy, text in copies.items():  # each case on its own
            doc = json.loads(text)
            doc[field] = value
            copy.write_text(json.dumps(doc))
        result = pull(carol, "clf@v1")
        assert result.records_received == 0 and any("skipped" in n for n in result.notes), result.notes


def test_a_record_copy_no_workspace_can_mend_is_kept_aside_by_repair(alice: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "remote" / "records" / resolve(alice, "clf@v1").id / ("ab" * 16 + ".json")
    junk.write_text("garbage")
    cli("data", "verify", "--remote", "origin", cwd=alice.root, check=1)
    mended = cli.json("data", "push", "--repair", cwd=alice.root)
    assert any(junk.name in k for k in mended["kept_aside"]), mended
    assert not junk.exists() and list((tmp_path / "remote" / "lost" / "records" / junk.parent.name).glob(f"{junk.name}.*"))
    cli("data", "verify", "--remote", "origin", cwd=alice.root)
    # a damaged copy of a record a workspace does not have is mended from a good copy elsewhere
    first, *others = sorted((tmp_path / "remote" / "records").glob("*/*.json"))
    assert others
    first.write_text("{}")
    key = f"records/{first.parent.name}/{first.name}"
    assert rewrite_records(_workspace(tmp_path / "bob", tmp_path / "remote"), LocalStore(tmp_path / "remote"),
                           [key]) == ([key], [])
    assert json.loads(first.read_text()) == json.loads(others[0].read_text())


def test_the_command_line_says_what_travelled(alice: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    suite = Suite.from_yaml(SUITE.replace("min: 0.5", "min: 0.99"), base_dir=alice.root)
    run_suite(suite, candidate="clf@v1", ws=alice)
    pushed = cli("data", "push", cwd=alice.root).stdout
    assert pushed.strip() == "remote origin has all 3 versions already; sent 1 check or drift record of these versions"
    bob = _workspace(tmp_path / "bob", tmp_path / "remote")
    pulled = cli("data", "pull", "clf@v1", cwd=bob.root).stdout
    assert pulled.rstrip().endswith("; recorded 2 check or drift records of these versions"), pulled
    log = cli("check", "log", cwd=bob.root).stdout.splitlines()
    assert len(log) == 2 and all(line.endswith("  from origin") for line in log), log
    shown = cli("check", "show", log[0].split()[0], cwd=bob.root).stdout
    assert "pulled from remote origin: the check ran in another workspace" in shown
    maker = resolve(bob, "clf@v1").run_id
    text = cli("lineage", f"run:{maker}", cwd=bob.root).stdout
    assert "pulled from: remote origin (the run ran in another workspace)" in text and "imported=" not in text


def test_no_remote_record_stops_a_pull_or_a_push(alice: Workspace, tmp_path: Path) -> None:
    """A run record with text no database stores (a lone surrogate) or a status that would
    forge a line is skipped with a note; a folder where a record copy goes is said, and the
    versions still go; a time in another ISO form is stored in the one this workspace writes."""
    (run,) = (tmp_path / "remote" / "runs").glob("*.json")
    for status in ("\ud800", "succeeded\nforged: yes"):
        doc = json.loads(run.read_text())
        doc["status"] = status
        run.write_text(json.dumps(doc))
        bob = _workspace(tmp_path / f"bob-{len(status)}", tmp_path / "remote")
        result = pull(bob, "clf@v1")
        assert any("missing or damaged" in n for n in result.notes), result.notes
    for copy in (tmp_path / "remote" / "records").glob("*/*.json"):
        doc = json.loads(copy.read_text())
        doc["created_at"] = "20260101T000000Z"
        copy.write_text(json.dumps(doc))
    carol = _workspace(tmp_path / "carol", tmp_path / "remote")
    assert pull(carol, "clf@v1").records_received == 1
    assert list_results(carol)[0]["created_at"] == "2026-01-01T00:00:00.000000+00:00"
    # a folder where a new record's copy goes: the push says so and sends the rest
    suite = Suite.from_yaml(SUITE, base_dir=alice.root)
    later = run_suite(suite, candidate="clf@v1", ws=alice)
    blocked = tmp_path / "remote" / "records" / resolve(alice, "clf@v1").id / f"{later.id}.json"
    (blocked / "x").mkdir(parents=True)
    result = push(alice)
    assert result.records_sent == 0 and any(later.id in n for n in result.notes), result.notes


def test_a_relayed_check_keeps_the_names_of_versions_the_relay_lacks(alice: Workspace, tmp_path: Path) -> None:
    bob = _workspace(tmp_path / "bob", tmp_path / "remote")
    pull(bob, "clf@v1")  # not the evaluation data the check ran on
    add_remote(bob, "backup", str(tmp_path / "backup"))
    push(bob, remote="backup")
    carol = Workspace.init(tmp_path / "carol")
    add_remote(carol, "backup", str(tmp_path / "backup"))
    pull(carol, "clf@v1")
    assert list_results(carol)[0]["data"] == "evaluation@v1 (on backup)"
    # a damaged copy filed under that version, which bob does not have, is mended by bob's repair
    copy = tmp_path / "backup" / "records" / resolve(alice, "evaluation@v1").id
    (copy,) = copy.glob("*.json")
    good = copy.read_text()
    copy.write_text("{}")
    mended = repair(bob, remote="backup", on_remote=True)
    assert f"check or drift record records/{copy.parent.name}/{copy.name}" in mended.repaired
    assert json.loads(copy.read_text()) == json.loads(good)


def test_a_check_whose_listed_edges_do_not_read_is_still_read_from_its_body(alice: Workspace, tmp_path: Path) -> None:
    for edges in ("junk", [1, {"src": 5}, {"ref": "x@v1"}]):
        for copy in (tmp_path / "remote" / "records").glob("*/*.json"):
            doc = json.loads(copy.read_text())
            doc["edges"] = edges
            copy.write_text(json.dumps(doc))
        bob = _workspace(tmp_path / f"bob-{type(edges).__name__}", tmp_path / "remote")
        assert pull(bob, "clf@v1").records_received == 1
        assert list_results(bob)[0]["candidate"] == "clf@v1"


def test_a_reproducing_run_a_pull_would_skip_is_found_by_verify_and_mended_by_push_repair(
        alice: Workspace, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    same = run_command(alice, ["cp", "model.skops", "copy.skops"], inputs=["train@v1"],
                       models={"clf": str(alice.root / "copy.skops")}, cwd=alice.root)
    push(alice)
    remote, clf = tmp_path / "remote", resolve(alice, "clf@v1").id
    record = remote / "runs" / f"{same.id}.json"
    good = json.loads(record.read_text())
    stray = remote / "reproduced" / clf / ("cd" * 16)  # a run no workspace here knows, and no record of it
    stray.write_bytes(b"")
    record.unlink()
    report = cli.json("data", "verify", "--remote", "origin", cwd=alice.root, check=1)
    assert sorted(d["object"] for d in report["damaged"]) == sorted([
        f"reproducing run marker reproduced/{clf}/{same.id}", f"reproducing run marker reproduced/{clf}/{'cd' * 16}"])
    assert report["damaged"][0]["affected"], report
    mended = cli.json("data", "push", "--repair", cwd=alice.root)
    assert f"run record runs/{same.id}.json" in mended["repaired"], mended
    assert f"reproducing run marker reproduced/{clf}/{'cd' * 16}" in mended["kept_aside"], mended
    assert json.loads(record.read_text()) == good and not stray.exists()
    cli("data", "verify", "--remote", "origin", cwd=alice.root)
    # a record that names what is not a version: a pull skips it, so verify names it too
    record.write_text(json.dumps({**good, "inputs": [{"node": "run:" + "ef" * 16, "ref": ""}]}))
    report = cli.json("data", "verify", "--remote", "origin", cwd=alice.root, check=1)
    assert [d["object"] for d in report["damaged"]] == [f"run record runs/{same.id}.json"], report
    assert f"run record runs/{same.id}.json" in cli.json("data", "push", "--repair", cwd=alice.root)["repaired"]
    assert json.loads(record.read_text()) == good
    # a record that reads but does not list the version it is filed under
    record.write_text(json.dumps({**good, "reproduced": []}))
    report = cli.json("data", "verify", "--remote", "origin", cwd=alice.root, check=1)
    assert [d["object"] for d in report["damaged"]] == [f"reproducing run marker reproduced/{clf}/{same.id}"], report
    cli("data", "push", "--repair", cwd=alice.root)
    assert json.loads(record.read_text()) == good
    cli("data", "verify", "--remote", "origin", cwd=alice.root)
