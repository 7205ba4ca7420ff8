"""The terminal rendering of a check result: what `assay check` and `assay check show` print."""

from __future__ import annotations

from typing import Any

from assay._wording import counted

__all__ = ["render_lines"]

_STATUS_MARK = {"pass": "PASS", "fail": "FAIL", "inconclusive": "????"}


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def _size(v: Any) -> Any:
    """How much worse, as a positive number: a delta is candidate − baseline, negative when a
    greater-is-better metric is worse, positive when a lower-is-better one (MAE) is."""
    return abs(v) if isinstance(v, (int, float)) else v


def render_lines(doc: dict[str, Any], *, recorded: bool = False) -> list[str]:
    """The lines that show a check result document (``CheckResult.to_dict()``) on a terminal.

    ``recorded``: the document is read back from the ledger (`assay check show`), so its last line
    names the record and when it was made, not "recorded as check ID" as if it had just been."""
    lines = []
    verdict = "PASSED" if doc["passed"] else "NOT PASSED"
    c = doc["counts"]
    lines.append(f"{verdict}: {c['pass']} pass, {c['fail']} fail, {c['inconclusive']} inconclusive"
                 f"  (candidate {doc['candidate']['name']}"
                 + (f", baseline {doc['baseline']['name']}" if doc.get("baseline") else "") + f", {doc['data']['rows']} rows)")
    for g in doc["gates"]:
        where = f" [{g['slice']}]" if g.get("slice") else ""
        ci = f", CI [{_fmt(g.get('ci_low'))}, {_fmt(g.get('ci_high'))}]" if g.get("ci_low") is not None else ""
        # an absolute gate's interval is of the candidate's value, a relative gate's of the delta: print it beside that
        absolute = g.get("kind") in ("min", "max")
        lines.append(f"  {_STATUS_MARK[g['status']]}  {g['name']}{where}: candidate {_fmt(g.get('candidate_value'))}"
                     + (ci if absolute else "")
                     + (f", baseline {_fmt(g.get('baseline_value'))}, delta {_fmt(g.get('delta'))}" if g.get("baseline_value") is not None else "")
                     + ("" if absolute else ci))
        if g["status"] != "pass" and g.get("reason"):
            lines.append(f"        {g['reason']}")
    regressions = [s for s in doc.get("slices", []) if s.get("regression")]
    for s in regressions:
        lines.append(f"  slice regression: {s['slice']} {s['metric']} delta {_fmt(s.get('delta'))} (p adj {_fmt(s.get('p_adjusted'))})")
    found = doc.get("discovered_slices", [])
    for s in found:
        if s.get("confirmed"):
            lines.append(f"  discovered slice: {s['slice']} {s['metric']} worse than the rest by {_fmt(_size(s.get('delta_vs_rest')))} (confirmed on the held-out half)")
    if (doc.get("suite") or {}).get("discover") is not None and not any(s.get("confirmed") for s in found):
        # else a suite asking for discovery prints nothing about it, whether it ran, found nothing or was skipped
        skipped = [n for n in doc.get("notes", []) if n.startswith("slice discovery")]
        lines.append(f"  {skipped[0]}" if skipped else f"  slice discovery: {counted(len(found), 'region')} worse on one half of the "
                     "rows, none confirmed on the other" if found else "  slice discovery: no region where the candidate "
                     "does worse than on the rest")
    for ce in doc.get("counterexamples", [])[:3]:
        lines.append(f"  counterexample ({ce['test']}): {ce['failure']}; change {ce.get('changed')}")
    if doc.get("report"):
        lines.append(f"report: {doc['report']}")
    if doc.get("id") and recorded:
        lines.append(f"check {doc['id'][:12]}, recorded {str(doc.get('created_at') or '?')[:19].replace('T', ' ')}")
    elif doc.get("id"):
        lines.append(f"recorded as check {doc['id'][:12]}")
    if isinstance(doc.get("imported"), dict):
        lines.append(f"pulled from remote {doc['imported'].get('remote')}: the check ran in another workspace")
    return lines
