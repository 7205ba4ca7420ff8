from __future__ import annotations

import pytest

from assay.errors import UsageError
from assay.monitor import MonitorSpec, Rule, WindowSpec, parse_rule, parse_window


@pytest.mark.parametrize(("text", "kind", "size"), [("10000rows", "rows", 10000), ("10 rows", "rows", 10), ("90s", "time", 90),
                                                     ("15m", "time", 900), ("1h", "time", 3600), ("2d", "time", 172800)])  # fmt: skip
def test_windows_parse(text: str, kind: str, size: int) -> None:
    window = parse_window(text)
    assert (window.kind, window.size) == (kind, size)
    assert parse_window(window.to_text()) == window


@pytest.mark.parametrize("text", ["", "1", "1w", "5rows", "0s", "-1h", "1e3rows", "31d"])
def test_bad_windows_say_what_to_write(text: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_window(text)
    assert err.value.exit_code == 2


def test_rules_parse_and_judge() -> None:
    summary = {"window": 3, "rows": 50, "drift": True, "share": 0.5, "drifted": ["age"]}
    assert parse_rule("drift").breached(summary) == "drift in window 3: age"
    assert parse_rule("share>=0.5").breached(summary)
    assert parse_rule("share>=0.6").breached(summary) is None
    assert parse_rule("column:age", ["age", "x"]).breached(summary)
    assert parse_rule("column:x", ["age", "x"]).breached(summary) is None
    assert parse_rule("rows<100").breached(summary)
    assert parse_rule("rows<10").breached(summary) is None
    for text in ("drift", "share>=0.5", "column:age", "rows<100"):
        assert parse_rule(text, ["age"]).text == text
    quiet = {**summary, "drift": False, "share": 0.0, "drifted": []}
    assert parse_rule("drift").breached(quiet) is None


@pytest.mark.parametrize("text", ["drifty", "share>=2", "share>=0", "column:nope", "rows<x"])
def test_bad_rules(text: str) -> None:
    with pytest.raises(UsageError):
        parse_rule(text, ["age"])


def test_spec_round_trips_and_hashes() -> None:
    spec = MonitorSpec(["a", "b"], {"a": "numeric", "b": "categorical"}, WindowSpec("time", 3600), [Rule("drift"), Rule("share", 0.3)], ["http://x/h"])
    again = MonitorSpec.from_dict(spec.to_dict())
    assert again == spec
    assert again.digest() == spec.digest()
