"""Check results from elsewhere (a remote): a real one reads, hostile ones are refused before
any reader trips on them, the lineage edges of a body, and what a push may send of it."""

from __future__ import annotations

import copy
import json
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.checks import CheckResult, GateResult, Suite, check_edges, readable_check, record_result, run_suite, shareable_check
from assay.checks._record import _summary
from assay.report import check_chart_option as check_chart
from assay.report import render_check_html as check_html
from assay.report import render_check_junit as check_junit
from assay.report import render_check_lines as render_lines
from tests.checks.test_slices_behaviour import BASE, CAND, SUITE, _world

# every reader of a stored check result, as the workspace runs it
READERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "show": render_lines,
    "log": lambda d: _summary("r", "s", "2026-01-01", None, d, {}),
    "html": check_html,
    "junit": lambda d: ET.fromstring(check_junit(d)),  # as a CI system reads it
    "dashboard": lambda d: json.dumps(check_chart(json.loads(json.dumps(d)))),  # the page loads the stored body
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    """A real result with gates per slice, slice regressions, discovered slices and counterexamples."""
    suite = Suite.from_yaml(SUITE + "robustness:\n  - {generator: gaussian_noise, n: 500, scale: 2.0}\n")
    found = json.loads(json.dumps(run_suite(suite, candidate=CAND, baseline=BASE, data=_world(2000)).to_dict()))
    assert found["slices"] and found["discovered_slices"] and found["counterexamples"]
    return found


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _no_bound(g: dict[str, Any]) -> None:
    g["details"].pop("bound")  # the report's chart then scales by the threshold
    g["threshold"] = 10**400


HOSTILE: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    # edit, and the reader it crashes where readable_check lets it through
    "threshold beyond a float": (lambda d: _no_bound(d["gates"][0]), "html"),
    "data without rows": (lambda d: d["data"].pop("rows"), "show"),
    "an empty counterexample": (lambda d: d.update(counterexamples=[{}]), "show"),
    "a numeric id": (lambda d: d.update(id=5), "show"),
    "a model meta that is text": (lambda d: d["candidate"].update(meta="x"), None),  # `check log` reads it now
    "a p that is text": (lambda d: d["slices"][0].update(p_adjusted="x"), "html"),
    "a suite named by a number": (lambda d: d["suite"].update(name=7), "junit"),
    "a NUL in a gate name": (lambda d: d["gates"][0].update(name="acc\x00uracy"), None),  # JUnit writes it as \x00 now
    "a suite nested 100 deep": (lambda d: d["suite"].update(deep=_nested(100)), None),
}


def test_a_real_result_reads_everywhere(doc: dict[str, Any]) -> None:
    assert readable_check(doc) is None
    for read in READERS.values():
        read(doc)
    assert render_lines(doc)[0].startswith("NOT PASSED: ") and check_chart(doc) is not None


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_body_is_refused(doc: dict[str, Any], name: str) -> None:
    edit, crashes = HOSTILE[name]
    hostile = copy.deepcopy(doc)
    edit(hostile)
    assert isinstance(readable_check(hostile), str)
    if crashes:  # what it would do to a workspace that took it
        with pytest.raises(Exception):  # noqa: B017, PT011 - each reader fails in its own way
            READERS[crashes](hostile)


def test_depth_is_capped_well_below_what_json_can_read_back(doc: dict[str, Any]) -> None:
    hostile = copy.deepcopy(doc)
    hostile["suite"]["deep"] = _nested(sys.getrecursionlimit() + 10)
    with pytest.raises(RecursionError):
        READERS["dashboard"](hostile)
    assert readable_check(hostile) == "nested deeper than 32 levels"
    hostile["suite"]["deep"] = _nested(20)
    assert readable_check(hostile) is None


def test_the_readers_themselves_are_the_last_guard(doc: dict[str, Any]) -> None:
    """A body whose every field is of the right kind can still be one a reader cannot show:
    ints within a float's range whose difference is not."""
    hostile = copy.deepcopy(doc)
    g = hostile["gates"][0]
    g.update(ci_low=-(10**308), ci_high=10**308)
    with pytest.raises(OverflowError):
        check_html(hostile)
    assert readable_check(hostile) == "its HTML report cannot show it (OverflowError)"


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=10)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), value=JSON)
def test_any_value_anywhere_is_an_answer_never_an_error(doc: dict[str, Any], data: st.DataObject, value: Any) -> None:
    hostile = copy.deepcopy(doc)
    at: Any = hostile
    for _ in range(data.draw(st.integers(0, 4))):  # walk down to a random place, and put the value there
        keys = list(at) if isinstance(at, dict) else list(range(len(at)))
        if not keys:
            break
        key = data.draw(st.sampled_from(keys))
        if not isinstance(at[key], (dict, list)):
            break
        at = at[key]
    keys = list(at) if isinstance(at, dict) else list(range(len(at)))
    if keys:
        at[data.draw(st.sampled_from(keys))] = value
    why = readable_check(hostile)
    assert why is None or isinstance(why, str)
    if why is None:
        for read in READERS.values():
            read(hostile)


@pytest.mark.parametrize("value", [None, 1, "x", [], 10**400, float("nan"), {}, [{}]])
def test_not_a_result_at_all(value: Any) -> None:
    assert isinstance(readable_check(value), str)


def _result(candidate: str | None, baseline: str | None, data: str | None) -> CheckResult:
    gate = GateResult(name="accuracy min 0.5", metric="accuracy", kind="min", threshold=0.5, slice=None, candidate_value=0.9,
                      baseline_value=None, delta=None, ci_low=0.85, ci_high=0.95, p_value=0.001, status="pass", n=100)
    return CheckResult(passed=True, candidate={"name": "clf@v2", **({"meta": {"version": candidate}} if candidate else {})},
                       baseline={"name": "clf@v1", "meta": {"version": baseline}}, data={"ref": "eval@v1", "rows": 100, "version": data},
                       gates=[gate], suite={"name": "gate"}, suite_hash="h", seed=0, confidence=0.95, correction="holm")


@pytest.mark.parametrize("parts", [(True, True, True), (True, False, True), (False, False, False)])
def test_check_edges_are_the_edges_record_result_writes(ws: Any, parts: tuple[bool, bool, bool]) -> None:
    ids = [uuid.uuid4().hex if on else None for on in parts]
    rid = record_result(ws, _result(*ids), suite_name="gate")
    stored = ws.ledger.query("SELECT body FROM records WHERE id = ?", (rid,))[0][0]
    edges = ws.ledger.query("SELECT src, relation FROM edges WHERE dst = ?", (f"record:{rid}",))
    assert sorted(check_edges(json.loads(stored))) == sorted((s[len("version:"):], r) for s, r in edges)
    assert len(edges) == sum(parts)
    assert readable_check(json.loads(stored)) is None


def test_check_edges_take_only_well_formed_version_ids() -> None:
    good = uuid.uuid4().hex
    body = _result(good, "not-an-id", good.upper()).to_dict()
    assert check_edges(body) == [(good, "checked_as_candidate")]
    assert check_edges({"candidate": {"meta": "x"}, "baseline": [], "data": {"version": 5}}) == []


def test_a_shared_body_keeps_no_secret_and_no_local_path(doc: dict[str, Any]) -> None:
    body = copy.deepcopy(doc)
    body["candidate"].update(name="http://h/predict?access_token=SECRET123",
                             meta={"version": uuid.uuid4().hex, "ref": "https://u:pw@h/x", "url": "https://u:pw@h/x?sig=S2"})
    body["baseline"]["name"] = "https://u:pw@h/x"
    body["data"]["ref"] = "s3://k:pw@bucket/eval.parquet"
    body["suite"].update(name="gate", auth={"api_key": "K3"})
    body["gates"][-1]["details"]["errors"] = ["http://h/predict?access_token=SECRET123 answered HTTP 500"]
    body.update(report="/home/me/check.html", imported={"remote": "origin"}, notes=["slow: https://u:pw@h/x"])
    before = copy.deepcopy(body)
    shared = shareable_check(body)
    assert body == before  # a copy
    text = json.dumps(shared)
    for secret in ("SECRET123", ":pw@", "S2", "K3"):
        assert secret not in text
    assert shared["candidate"]["name"] == "http://h/predict?access_token=***"
    assert shared["baseline"]["name"] == "https://u:***@h/x" and "report" not in shared and "imported" not in shared
    assert shared["candidate"]["meta"]["version"] == body["candidate"]["meta"]["version"]
    assert readable_check(shared) is None and check_edges(shared) == check_edges(body)


def test_a_real_body_is_shared_as_it_is_less_its_report(doc: dict[str, Any]) -> None:
    assert shareable_check({**doc, "report": "/tmp/r.html"}) == {k: v for k, v in doc.items() if k != "report"}
