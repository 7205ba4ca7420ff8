"""A drift report as one self-contained HTML file: inline CSS and inline SVG charts, no scripts, no network.

Every piece of user text (column names, categories, file labels) goes through
``html.escape``; the charts are SVG drawn here, so the file opens anywhere offline.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (annotations only: importing the report writers does not load the drift pillar)
    from assay.drift import ColumnResult, DriftReport

__all__ = ["render_drift_html", "write_drift_html"]

REF, CUR = "#3b6fb6", "#e07b28"
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d232b}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 8px} h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid #d9dde3;padding-bottom:4px}
.badge{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600;color:#fff}
.drift{background:#c0392b}.ok{background:#2e8b57}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:10px 14px}
.card b{display:block;font-size:20px}
table{border-collapse:collapse;width:100%;background:#fff}th,td{padding:5px 8px;border-bottom:1px solid #e6e9ed;text-align:left}
th{background:#eef1f5;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.drifted td{background:#fdf0ee}
.cols{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:12px}
.col h3{font-size:15px;margin:0 0 4px;word-break:break-all}.muted{color:#69727d;font-size:12px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;border-radius:2px}
ul.findings{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:8px 28px}
.warning{color:#a15c00}.sev-drift{color:#c0392b}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "–"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.2e}"
    return f"{value:.{digits}g}"


def _numeric_svg(chart: dict[str, Any], w: int = 340, h: int = 130) -> str:
    edges, ref, cur = chart["edges"], chart["reference"], chart["current"]
    top = max(max(ref, default=0), max(cur, default=0)) or 1.0
    pad_l, pad_b, pad_t = 6, 18, 6
    x0, x1 = edges[0], edges[-1]
    span = (x1 - x0) or 1.0

    def sx(x: float) -> float:
        return pad_l + (x - x0) / span * (w - 2 * pad_l)

    def sy(y: float) -> float:
        return h - pad_b - y / top * (h - pad_b - pad_t)

    def path(series: list[float]) -> str:
        pts = [f"M{sx(edges[0]):.1f},{sy(0):.1f}"]
        for i, y in enumerate(series):
            pts.append(f"L{sx(edges[i]):.1f},{sy(y):.1f}L{sx(edges[i + 1]):.1f},{sy(y):.1f}")
        pts.append(f"L{sx(edges[-1]):.1f},{sy(0):.1f}Z")
        return "".join(pts)

    return (
        f'<svg class="chart chart-numeric" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="distributions">'
        f'<path class="dist-ref" d="{path(ref)}" fill="{REF}" fill-opacity="0.35" stroke="{REF}" stroke-width="1.2"/>'
        f'<path class="dist-cur" d="{path(cur)}" fill="{CUR}" fill-opacity="0.35" stroke="{CUR}" stroke-width="1.2"/>'
        f'<line x1="{pad_l}" x2="{w - pad_l}" y1="{sy(0):.1f}" y2="{sy(0):.1f}" stroke="#888"/>'
        f'<text x="{pad_l}" y="{h - 4}" font-size="10" fill="#555">{_e(_fmt(x0))}</text>'
        f'<text x="{w - pad_l}" y="{h - 4}" font-size="10" fill="#555" text-anchor="end">{_e(_fmt(x1))}</text></svg>'
    )


def _bars_svg(labels: list[str], series: list[tuple[list[float], str, str]], w: int = 340, css: str = "chart-categorical") -> str:
    row = 8 * len(series) + 8
    h = row * len(labels) + 4
    label_w = 110
    top = max((v for values, _, _ in series for v in values), default=0) or 1.0
    parts = [f'<svg class="chart {css}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="bars">']
    for i, label in enumerate(labels):
        y = i * row + 2
        text = label if len(label) <= 16 else label[:15] + "…"
        parts.append(f'<text x="{label_w - 4}" y="{y + row / 2 + 3:.1f}" font-size="10" text-anchor="end" fill="#333"><title>{_e(label)}</title>{_e(text)}</text>')
        for j, (values, color, cls) in enumerate(series):
            bw = max(values[i], 0) / top * (w - label_w - 6)
            parts.append(f'<rect class="{cls}" x="{label_w}" y="{y + j * 8:.1f}" width="{bw:.1f}" height="7" fill="{color}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _column_card(c: ColumnResult) -> str:
    chart = c.chart
    if chart.get("type") == "numeric":
        svg = _numeric_svg(chart)
    elif chart.get("type") == "categorical":
        svg = _bars_svg([str(x) for x in chart["categories"]], [(chart["reference"], REF, "bar-ref"), (chart["current"], CUR, "bar-cur")])
    else:
        svg = '<p class="muted">no values to draw</p>'
    verdict = ('<span class="badge drift">drift</span>' if c.drifted else f'<span class="badge">not judged: {_e(c.not_judged)}</span>' if c.not_judged
               else '<span class="badge ok">ok</span>')  # fmt: skip
    reasons = "; ".join(c.reasons)
    ref, cur = c.reference, c.current
    notes = "".join(f'<li class="{_e(f.severity)}">{_e(f.message)}</li>' for f in c.findings)
    return (
        f'<div class="card col" id="col-{_e(c.name)}"><h3>{_e(c.name)} {verdict}</h3>'
        f'<div class="muted">{_e(c.kind)} · {_e(c.role)} · {_e(c.test)}: {_e(c.effect_name)} {_e(_fmt(c.effect))} (threshold {_e(_fmt(c.threshold))})'
        f'{" · adjusted p " + _e(_fmt(c.p_adjusted)) if c.p_adjusted is not None else ""}</div>'
        f'{svg}<div class="muted">missing {ref.get("missing_rate", 0):.2%} → {cur.get("missing_rate", 0):.2%}'
        f'{" · " + _e(reasons) if reasons else ""}</div>{"<ul>" + notes + "</ul>" if notes else ""}</div>'
    )


def _table(columns: list[ColumnResult]) -> str:
    from assay.drift._report import found_by

    head = "<tr><th>column</th><th>kind</th><th>role</th><th>test</th><th>statistic</th><th>p</th><th>p adjusted</th><th>effect</th><th>threshold</th><th>verdict</th></tr>"
    rows = []
    for c in columns:
        rows.append(
            f'<tr class="{"drifted" if c.drifted else ""}"><td><a href="#col-{_e(c.name)}">{_e(c.name)}</a></td><td>{_e(c.kind)}</td><td>{_e(c.role)}</td>'
            f"<td>{_e(c.test)}</td><td class=num>{_e(_fmt(c.statistic))}</td><td class=num>{_e(_fmt(c.p_value))}</td>"
            f"<td class=num>{_e(_fmt(c.p_adjusted))}</td><td class=num>{_e(_fmt(c.effect))}</td><td class=num>{_e(_fmt(c.threshold))}</td>"
            f'<td>{"drift" + _e(found_by(c.missing_rate, c.unseen, c.nonfinite_rate)) if c.drifted else "not judged" if c.not_judged else "ok"}</td></tr>'
        )
    return f'<table class="columns">{head}{"".join(rows)}</table>'


def _multivariate(mv: dict[str, Any] | None) -> str:
    if not mv:
        return '<p class="muted">not run</p>'
    if mv.get("skipped"):
        return f'<p class="muted">skipped: {_e(mv["skipped"])}</p>'
    out = []
    cl = mv.get("classifier", {})
    if cl.get("skipped"):
        out.append(f'<p class="muted">domain classifier skipped: {_e(cl["skipped"])}</p>')
    elif cl:
        out.append(
            f'<p>Domain classifier (gradient boosting, out-of-fold, {cl["rows"]["reference"]:,} + {cl["rows"]["current"]:,} sampled rows): '
            f'AUC <b>{cl["auc"]:.3f}</b>, {cl["confidence"]:.0%} DeLong interval [{cl["ci_low"]:.3f}, {cl["ci_high"]:.3f}]; '
            f'drift when the lower bound exceeds {cl["threshold"]:g}: <b>{"yes" if cl["drifted"] else "no"}</b>.</p>'
        )
        drivers = cl.get("drivers", [])
        if drivers:
            out.append("<p class=muted>Features that drive it (AUC lost when the feature is shuffled):</p>")
            out.append(_bars_svg([d["feature"] for d in drivers], [([max(d["auc_drop"], 0) for d in drivers], "#7a5fb0", "bar-driver")], w=420, css="chart-drivers"))
    mmd = mv.get("mmd")
    if mmd:
        out.append(
            f'<p>MMD (Gaussian kernel, bandwidth {mmd["bandwidth"]:.3g}, {mmd["rows"]["reference"]} + {mmd["rows"]["current"]} rows): '
            f'MMD² {mmd["mmd2"]:.4g}, permutation p {mmd["p_value"]:.3g} ({mmd["permutations"]} permutations).</p>'
        )
    return "".join(out)


def render_drift_html(report: DriftReport) -> str:
    """The report as one HTML document (summary first, columns sorted by effect)."""
    cols = sorted(report.columns, key=lambda c: (not c.drifted, -(c.effect if c.effect is not None else -1.0)))
    m = report.method
    badge = '<span class="badge drift">DRIFT</span>' if report.drift else '<span class="badge ok">no drift</span>'
    findings = report.findings + [f for c in cols for f in c.findings]
    roles = [c for c in cols if c.role in ("target", "prediction")]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        f"<title>assay drift report: {_e(report.reference_label)} vs {_e(report.current_label)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>Drift report {badge}</h1>",
        f'<p class="muted">reference <b>{_e(report.reference_label)}</b> vs current <b>{_e(report.current_label)}</b></p>',
        '<div class="cards summary">',
        f"<div class=card>columns drifted<b>{len(report.drifted_columns)} / {len(report.columns)}</b>{report.share_drifted:.0%}</div>",
        f"<div class=card>reference rows<b>{report.reference_rows:,}</b></div>",
        f"<div class=card>current rows<b>{report.current_rows:,}</b></div>",
        f"<div class=card>rule<b>{_e(m['fail_on'])}</b>{_e(m['correction_name'])}, α = {m['alpha']:g}</div></div>",
        f'<h2>Method</h2><p>{_e(m["rule"])}. Correction: {_e(m["correction_name"])} over {m["family_size"]} p-values. '
        f'Mode: {_e(m["mode"])}{" (" + str(m["bins"]) + " reference-quantile bins per column)" if m.get("bins") else " (exact, all rows)"}. Seed {m["seed"]}.</p>',
        "<ul>" + "".join(f"<li><b>{_e(n)}</b>: effect = {_e(t['effect'])}, default threshold {t['default_threshold']:g}, "
                         f"{'with' if t['p_value'] else 'no'} p-value</li>" for n, t in m["tests"].items()) + "</ul>",  # fmt: skip
    ]
    if findings:
        parts.append("<h2>Findings</h2><ul class=findings>" + "".join(f'<li class="sev-{_e(f.severity)}">{_e(f.severity)}: {_e(f.message)}</li>' for f in findings) + "</ul>")
    if roles:
        parts.append("<h2>Label and prediction drift</h2><div class=cols>" + "".join(_column_card(c) for c in roles) + "</div>")
    parts.append("<h2>Columns</h2>" + _table(cols))
    parts.append(f"<h2>Multivariate drift</h2>{_multivariate(report.multivariate)}")
    parts.append(
        f'<h2>Distributions</h2><p class="legend muted"><span style="background:{REF}"></span>reference<span style="background:{CUR}"></span>current</p>'
        '<div class="cols">' + "".join(_column_card(c) for c in cols if c.role == "feature") + "</div>"
    )
    parts.append("<p class=muted>Generated by assay. This file is self-contained: no scripts, no network.</p></main></body></html>")
    return "".join(parts)


def write_drift_html(report: DriftReport, path: Path | str) -> Path:
    """Write the report atomically (temp file, fsync, rename); a path that cannot be written is an
    :class:`~assay.errors.InputError` saying why."""
    from assay.report._files import write_report_file

    return write_report_file(path, render_drift_html(report))
