"""The check report: one self-contained HTML file (inline CSS and SVG, no network).

Verdict first, then gates with their intervals, slice regressions, discovered slices and
counterexamples. Every piece of user text goes through ``html.escape``.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from assay.report._junit import _atomic_write

__all__ = ["check_html", "write_check_html"]

_COLORS = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#9a6700"}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#1f2328;padding:0 16px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.verdict{padding:14px 18px;border-radius:8px;color:#fff;font-size:20px;font-weight:600;margin:12px 0}
table{border-collapse:collapse;width:100%;font-size:13px} th,td{padding:5px 8px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
.meta{color:#57606a;font-size:13px} code{background:#f6f8fa;padding:1px 4px;border-radius:4px}
.why{color:#57606a;font-size:12px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _n(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return _e(value)


def _badge(status: str) -> str:
    return f'<span class="badge" style="background:{_COLORS.get(status, "#57606a")}">{_e(status)}</span>'


def _forest(gates: list[dict[str, Any]]) -> str:
    """One row per statistical gate: its interval, point estimate and threshold, on a scale
    normalised per row (each gate has its own units)."""
    rows = [g for g in gates if g.get("ci_low") is not None and g.get("ci_high") is not None]
    if not rows:
        return ""
    width, row_h, left = 760, 26, 300
    height = row_h * len(rows) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="gate intervals">']
    plot = width - left - 20
    for i, g in enumerate(rows):
        y = 8 + i * row_h + row_h / 2
        relative = g["kind"] in ("non_inferiority", "superiority", "equivalence")
        est = g.get("delta") if relative else g.get("candidate_value")
        bound = (g.get("details") or {}).get("bound", g.get("threshold"))
        values = [v for v in (g["ci_low"], g["ci_high"], est, bound, -bound if g["kind"] == "equivalence" and bound is not None else None)
                  if isinstance(v, (int, float)) and math.isfinite(v)]
        lo, hi = min(values), max(values)
        pad = (hi - lo) * 0.15 or 0.01
        lo, hi = lo - pad, hi + pad

        def x(v: float, lo: float = lo, hi: float = hi) -> float:
            return left + (v - lo) / (hi - lo) * plot

        color = _COLORS.get(g["status"], "#57606a")
        label = g["name"] + (f" [{g['slice']}]" if g.get("slice") else "")
        parts.append(f'<text x="4" y="{y + 4:.1f}" font-size="12" fill="#1f2328">{_e(label[:44])}</text>')
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot}" y2="{y:.1f}" stroke="#eaeef2"/>')
        bounds = [bound] if g["kind"] != "equivalence" else [bound, -bound]
        for b in bounds:
            if isinstance(b, (int, float)):
                parts.append(f'<line x1="{x(b):.1f}" y1="{y - 10:.1f}" x2="{x(b):.1f}" y2="{y + 10:.1f}" stroke="#57606a" stroke-dasharray="3,2"/>')
        parts.append(f'<line x1="{x(g["ci_low"]):.1f}" y1="{y:.1f}" x2="{x(g["ci_high"]):.1f}" y2="{y:.1f}" stroke="{color}" stroke-width="3"/>')
        if isinstance(est, (int, float)) and math.isfinite(est):
            parts.append(f'<circle cx="{x(est):.1f}" cy="{y:.1f}" r="4" fill="{color}"/>')
    parts.append("</svg>")
    return "".join(parts)


def check_html(doc: dict[str, Any]) -> str:
    """Render a check result document (``CheckResult.to_dict()``) as one HTML page."""
    verdict = "pass" if doc["passed"] else doc.get("verdict", "fail")
    counts = doc.get("counts", {})
    cand, base, data = doc.get("candidate") or {}, doc.get("baseline") or {}, doc.get("data") or {}
    title = (doc.get("suite") or {}).get("name") or "assay check"
    out = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_e(title)}</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>{_e(title)}</h1>",
           f'<div class="verdict" style="background:{_COLORS.get(verdict, "#57606a")}" id="verdict">'
           f'{"PASSED" if doc["passed"] else "NOT PASSED"} — {counts.get("pass", 0)} pass, {counts.get("fail", 0)} fail, '
           f'{counts.get("inconclusive", 0)} inconclusive</div>',
           '<p class="meta">candidate <code>' + _e(cand.get("name")) + "</code> (" + _e(str(cand.get("hash", ""))[:12]) + ")"
           + (" vs baseline <code>" + _e(base.get("name")) + "</code> (" + _e(str(base.get("hash", ""))[:12]) + ")" if base else "")
           + " on <code>" + _e(data.get("ref")) + "</code> (" + _e(data.get("rows")) + " rows, " + _e(str(data.get("hash", ""))[:12])
           + f") · seed {_e(doc.get('seed'))} · confidence {_n(doc.get('confidence'))} · correction {_e(doc.get('correction'))}</p>"]
    gates = doc.get("gates", [])
    out.append("<h2>Gates</h2>")
    out.append(_forest(gates))
    out.append("<table><tr><th>status</th><th>gate</th><th>slice</th><th>candidate</th><th>baseline</th><th>delta</th>"
               "<th>interval</th><th>p pass</th><th>p fail (adj.)</th><th>MDD</th><th>n</th></tr>")
    for g in gates:
        out.append(
            f"<tr><td>{_badge(g['status'])}</td><td>{_e(g['name'])}<div class=\"why\">{_e(g.get('reason'))}</div>"
            f"<div class=\"why\">{_e(g.get('method'))}</div></td><td>{_e(g.get('slice') or 'all')}</td>"
            f"<td class=num>{_n(g.get('candidate_value'))}</td><td class=num>{_n(g.get('baseline_value'))}</td>"
            f"<td class=num>{_n(g.get('delta'))}</td><td class=num>[{_n(g.get('ci_low'))}, {_n(g.get('ci_high'))}]</td>"
            f"<td class=num>{_n(g.get('p_value'), 3)}</td><td class=num>{_n(g.get('p_fail_adjusted'), 3)}</td>"
            f"<td class=num>{_n(g.get('mdd'), 3)}</td><td class=num>{_n(g.get('n'))}</td></tr>")
    out.append("</table>")
    if doc.get("metrics"):
        out.append("<h2>Metrics</h2><table><tr><th>metric</th><th>candidate</th><th>interval</th><th>baseline</th><th>delta</th><th>delta interval</th><th>method</th></tr>")
        for m in doc["metrics"]:
            ci = m.get("candidate_ci") or [None, None]
            dci = m.get("delta_ci") or [None, None]
            out.append(f"<tr><td>{_e(m['metric'])}</td><td class=num>{_n(m.get('candidate'))}</td><td class=num>[{_n(ci[0])}, {_n(ci[1])}]</td>"
                       f"<td class=num>{_n(m.get('baseline'))}</td><td class=num>{_n(m.get('delta'))}</td>"
                       f"<td class=num>[{_n(dci[0])}, {_n(dci[1])}]</td><td>{_e(m.get('method'))}</td></tr>")
        out.append("</table>")
    slices = doc.get("slices") or []
    if slices:
        out.append("<h2>Slice regressions</h2><table><tr><th></th><th>slice</th><th>metric</th><th>rows</th><th>candidate</th>"
                   "<th>baseline</th><th>delta</th><th>interval</th><th>p (worse, adjusted)</th></tr>")
        # a slice too small to test has no p (or a null one): after those that have one
        for s in sorted(slices, key=lambda r: (not r.get("regression"), 2 if r.get("p_adjusted") is None else r["p_adjusted"])):
            flag = _badge("fail") if s.get("regression") else ""
            out.append(f"<tr><td>{flag}</td><td>{_e(s['slice'])}</td><td>{_e(s['metric'])}</td><td class=num>{_n(s.get('rows'))}</td>"
                       f"<td class=num>{_n(s.get('candidate'))}</td><td class=num>{_n(s.get('baseline'))}</td><td class=num>{_n(s.get('delta'))}</td>"
                       f"<td class=num>[{_n(s.get('ci_low'))}, {_n(s.get('ci_high'))}]</td><td class=num>{_n(s.get('p_adjusted'), 3)}</td></tr>")
        out.append("</table>")
    disc = doc.get("discovered_slices") or []
    if disc:
        out.append("<h2>Discovered slices</h2><p class=meta>Regions where the candidate's change is worse than on the rest of the rows: found on one random half, confirmed on the other half (Holm). Deltas are candidate − baseline, as for the gates.</p>"
                   "<table><tr><th></th><th>slice</th><th>metric</th><th>rows</th><th>delta (search half)</th><th>delta (confirm half)</th>"
                   "<th>delta vs the rest</th><th>interval</th><th>p adjusted</th></tr>")
        for s in disc:
            out.append(f"<tr><td>{_badge('fail') if s.get('confirmed') else ''}</td><td>{_e(s['slice'])}</td><td>{_e(s['metric'])}</td>"
                       f"<td class=num>{_n(s.get('rows'))}</td><td class=num>{_n(s.get('delta_search'))}</td><td class=num>{_n(s.get('delta'))}</td>"
                       f"<td class=num>{_n(s.get('delta_vs_rest'))}</td>"
                       f"<td class=num>[{_n(s.get('ci_low'))}, {_n(s.get('ci_high'))}]</td><td class=num>{_n(s.get('p_adjusted'), 3)}</td></tr>")
        out.append("</table>")
    ces = doc.get("counterexamples") or []
    if ces:
        out.append("<h2>Counterexamples</h2><table><tr><th>test</th><th>row</th><th>failure</th><th>minimal change</th></tr>")
        for c in ces:
            change = "; ".join(f"{k}: {v.get('from')!r} → {v.get('to')!r}" for k, v in (c.get("changed") or {}).items())
            out.append(f"<tr><td>{_e(c.get('test'))}</td><td class=num>{_n(c.get('row'))}</td><td>{_e(c.get('failure'))}</td><td>{_e(change)}</td></tr>")
        out.append("</table>")
    if doc.get("notes"):
        out.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in doc["notes"]) + "</ul>")
    # the full result, for tools; <, > and & as JSON escapes so no text in it can close or open markup
    payload = json.dumps(doc, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    out.append(f'<script type="application/json" id="assay-result">{payload}</script></body></html>')
    return "\n".join(out)


def write_check_html(doc: dict[str, Any], path: str | Path) -> Path:
    """Write the check result document ``doc`` as one self-contained HTML file, atomically (temp file, fsync, rename)."""
    return _atomic_write(Path(path), check_html(doc), "report")
