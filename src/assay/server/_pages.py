"""Server-rendered dashboard pages (Jinja, autoescaped); charts are ECharts options embedded as JSON."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from assay._wording import counted
from assay.monitor import (
    breaching_rules,
    get_monitor,
    get_window,
    list_alerts,
    list_monitors,
    list_resolutions,
    list_windows,
    verify_password,
    window_labels,
)
from assay.report import check_chart_option as check_chart
from assay.server._auth import SESSION_COOKIE, LoginRequired, Principal, still_valid

__all__ = ["render_error", "router"]

router = APIRouter()
_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(default=True, default_for_string=True))


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.{digits}g}"
    return str(value)


_env.filters["num"] = _fmt
_env.filters["counted"] = lambda count, noun: counted(int(count), noun, grouped=True)  # "1 monitor", "20,000 events", not "monitor(s)"


def _render(request: Request, template: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(request=request, principal=getattr(request.state, "principal", None), **context)
    return HTMLResponse(html, status_code=http_status)


def render_error(request: Request, status: int, message: str, hint: str | None) -> HTMLResponse:
    return _render(request, "error.html", http_status=status, status_code=status, message=message, hint=hint)


def _session(request: Request) -> Principal:
    principal = request.app.state.sessions.verify(request.cookies.get(SESSION_COOKIE))
    if principal is None or not principal.can("read"):
        raise LoginRequired()
    if not still_valid(request.app.state.ws, principal):
        raise LoginRequired()
    request.state.principal = principal
    return principal


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    return target


# -- login -----------------------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return _render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
async def login(request: Request) -> Any:
    form = await request.form()
    target = _safe_next(str(form.get("next") or "/"))
    token = str(form.get("token") or "").strip()
    user = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    principal: Principal | None = None
    throttle, address = request.app.state.throttle, request.client.host if request.client else "unknown"
    wait = throttle.retry_after(address)
    if wait and not (token and request.app.state.tokens.recently_valid(token)):
        response = _render(request, "login.html", http_status=429, next=target,
                           error=f"Too many failed sign-ins from your address. Try again in {wait} seconds.")  # fmt: skip
        response.headers["Retry-After"] = str(wait)
        return response
    if token:
        principal = await run_in_threadpool(request.app.state.tokens.lookup, token)
    elif user and password and await run_in_threadpool(verify_password, request.app.state.ws, user, password):
        principal = Principal(f"user:{user}", ("read",))
    if principal is None and (token or user or password):
        throttle.failed(address)  # unknown credentials; a valid token without the read scope is no guess
    if principal is None or not principal.can("read"):
        return _render(request, "login.html", http_status=401, next=target, error="Those credentials are not valid (a token needs the read or admin scope).")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, request.app.state.sessions.sign(principal), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=12 * 3600, path="/")  # fmt: skip
    return response


@router.post("/logout")
async def logout(request: Request) -> RedirectResponse:
    # The session is revoked, not only its cookie deleted: a copy of the cookie opens nothing afterwards.
    await run_in_threadpool(request.app.state.sessions.sign_out, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- pages -------------------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
async def overview(request: Request) -> HTMLResponse:
    await run_in_threadpool(_session, request)
    ws = request.app.state.ws

    def gather() -> dict[str, Any]:
        from assay.data import list_datasets

        monitors = list_monitors(ws)
        status, breaching = {}, {}
        for m in monitors:
            last = list_windows(ws, m, limit=1)
            status[m.name] = last[0] if last else None
            breaching[m.name] = breaching_rules(ws, m)
        checks = ws.ledger.query("SELECT COUNT(*) FROM records WHERE kind = 'check'")[0][0]
        return {"monitors": monitors, "status": status, "breaching": breaching, "alerts": list_alerts(ws, limit=10), "datasets": list_datasets(ws),
                "checks": checks}

    return _render(request, "overview.html", **await run_in_threadpool(gather))


@router.get("/datasets", response_class=HTMLResponse)
async def datasets(request: Request) -> HTMLResponse:
    await run_in_threadpool(_session, request)
    from assay.data import list_datasets

    found = await run_in_threadpool(list_datasets, request.app.state.ws)
    return _render(request, "datasets.html", datasets=found)


@router.get("/datasets/{name}", response_class=HTMLResponse)
async def dataset(request: Request, name: str) -> HTMLResponse:
    await run_in_threadpool(_session, request)
    from assay.data import log

    versions = await run_in_threadpool(log, request.app.state.ws, name)
    ordered = list(reversed(versions))
    chart = {
        "tooltip": {"trigger": "axis"}, "legend": {"data": ["bytes", "files"]},
        "xAxis": {"type": "category", "data": [f"v{v.number}" for v in ordered]},
        "yAxis": [{"type": "value", "name": "bytes"}, {"type": "value", "name": "files"}],
        "series": [{"name": "bytes", "type": "bar", "data": [v.bytes for v in ordered]},
                   {"name": "files", "type": "line", "yAxisIndex": 1, "data": [v.files for v in ordered]}],
    }  # fmt: skip
    return _render(request, "dataset.html", name=name, versions=versions, chart=chart)


@router.get("/lineage", response_class=HTMLResponse)
async def lineage(request: Request) -> HTMLResponse:
    await run_in_threadpool(_session, request)
    ws = request.app.state.ws

    def gather() -> dict[str, Any]:
        edges = ws.ledger.query("SELECT src, dst, relation FROM edges ORDER BY created_at DESC LIMIT 2000")
        names: dict[str, str] = {}
        for vid, dataset, number in ws.ledger.query("SELECT id, dataset, number FROM versions"):
            names[f"version:{vid}"] = f"{dataset}@v{number}"
        for mid, mname in ws.ledger.query("SELECT id, name FROM monitors"):
            names[f"monitor:{mid}"] = f"monitor {mname}"
        for rid, kind, rname in ws.ledger.query("SELECT id, kind, name FROM records"):
            names[f"record:{rid}"] = f"{kind} {rname}".strip()
        for aid, rule, idx in ws.ledger.query("SELECT id, rule, window_idx FROM monitor_alerts"):
            names[f"alert:{aid}"] = f"alert {rule} (window {idx})"
        nodes: dict[str, dict[str, Any]] = {}
        kinds = ["version", "run", "record", "monitor", "alert"]
        for src, dst, _ in edges:
            for node in (src, dst):
                kind = node.split(":", 1)[0]
                nodes.setdefault(node, {"id": node, "name": names.get(node, node), "category": kinds.index(kind) if kind in kinds else 0,
                                        "symbolSize": 14})  # fmt: skip
        chart = {
            "tooltip": {}, "legend": [{"data": kinds}],
            "series": [{"type": "graph", "layout": "force", "roam": True, "draggable": True, "label": {"show": len(nodes) <= 60, "position": "right"},
                        "force": {"repulsion": 160, "edgeLength": 80}, "categories": [{"name": k} for k in kinds],
                        "edgeSymbol": ["none", "arrow"], "data": list(nodes.values()),
                        "links": [{"source": s, "target": d, "value": r} for s, d, r in edges]}],
        }  # fmt: skip
        return {"chart": chart, "edges": [(names.get(s, s), r, names.get(d, d)) for s, d, r in edges[:200]], "count": len(edges)}

    return _render(request, "lineage.html", **await run_in_threadpool(gather))


@router.get("/checks", response_class=HTMLResponse)
async def checks(request: Request) -> HTMLResponse:
    await run_in_threadpool(_session, request)
    rows = await run_in_threadpool(request.app.state.ws.ledger.query,
                                   "SELECT id, name, created_at, verdict FROM records WHERE kind = 'check' ORDER BY created_at DESC LIMIT 200")  # fmt: skip
    return _render(request, "checks.html", results=rows)


@router.get("/checks/{record_id}", response_class=HTMLResponse)
async def check(request: Request, record_id: str) -> HTMLResponse:
    await run_in_threadpool(_session, request)
    rows = await run_in_threadpool(request.app.state.ws.ledger.query,
                                   "SELECT id, name, created_at, verdict, body FROM records WHERE kind = 'check' AND id = ?", (record_id,))  # fmt: skip
    if not rows:
        return render_error(request, 404, f"no check result {record_id}", None)
    doc = json.loads(rows[0][4])
    chart = check_chart(doc)
    return _render(request, "check.html", record=rows[0], doc=doc, chart=chart)


@router.get("/monitors", response_class=HTMLResponse)
async def monitors(request: Request) -> HTMLResponse:
    await run_in_threadpool(_session, request)
    found = await run_in_threadpool(list_monitors, request.app.state.ws)
    return _render(request, "monitors.html", monitors=found)


@router.get("/monitors/{name}", response_class=HTMLResponse)
async def monitor(request: Request, name: str) -> HTMLResponse:
    await run_in_threadpool(_session, request)
    ws = request.app.state.ws

    def gather() -> dict[str, Any]:
        found = get_monitor(ws, name)
        windows = list_windows(ws, found, limit=500)
        return {"monitor": found, "windows": windows, "alerts": list_alerts(ws, found, limit=50), "resolved": list_resolutions(ws, found, limit=50)}

    data = await run_in_threadpool(gather)
    windows = data["windows"]
    columns = data["monitor"].spec.columns
    x = [w["window"] for w in windows]
    series = []
    for col in columns:
        points = []
        for w in windows:
            c = w["columns"].get(col, {})
            effect = c.get("effect")
            point: dict[str, Any] = {"value": effect if effect is None or math.isfinite(effect) else None}
            if c.get("drifted"):
                point["symbolSize"] = 11
                point["itemStyle"] = {"color": "#d62728"}
            points.append(point)
        series.append({"name": col, "type": "line", "data": points, "showSymbol": True, "symbolSize": 5})
    chart = {
        "tooltip": {"trigger": "axis"}, "legend": {"type": "scroll", "data": columns},
        "xAxis": {"type": "category", "name": "window", "data": x}, "yAxis": {"type": "value", "name": "effect size"},
        "dataZoom": [{"type": "inside"}, {"type": "slider"}], "series": series,
    }  # fmt: skip
    share = {
        "tooltip": {"trigger": "axis"}, "xAxis": {"type": "category", "data": x}, "yAxis": [{"type": "value", "name": "share drifted", "max": 1}, {"type": "value", "name": "rows"}],
        "series": [{"name": "share drifted", "type": "bar", "data": [w["share"] for w in windows]},
                   {"name": "rows", "type": "line", "yAxisIndex": 1, "data": [w["rows"] for w in windows]}],
    }  # fmt: skip
    links = [f"/monitors/{quote(name, safe='')}/windows/{w['window']}" for w in windows]
    performance = _performance_chart(data["monitor"], windows)
    return _render(request, "monitor.html", chart=chart, share_chart=share, window_links=links, performance_chart=performance, **data)


def _performance_chart(monitor: Any, windows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The model's metric per window from the labels, with its 95% interval as a band and the rule's threshold."""
    task = monitor.spec.task
    if not monitor.spec.prediction or task is None:
        return None
    metric = "accuracy" if task == "classification" else "mae"
    values, lows, spans, extra = [], [], [], []
    for w in windows:
        perf = w.get("performance") or {}
        value, ci = perf.get(metric), perf.get(f"{metric}_ci")
        values.append({"value": value, "labelled": perf.get("n", 0)} if value is not None else None)
        lows.append(ci[0] if ci else None)
        spans.append(ci[1] - ci[0] if ci else None)
        extra.append(perf.get("rmse"))
    name = "accuracy" if metric == "accuracy" else "MAE"
    rules = [r for r in monitor.spec.rules if r.kind == metric and r.value is not None]
    line: dict[str, Any] = {"name": name, "type": "line", "data": values, "showSymbol": True, "symbolSize": 6, "connectNulls": False, "z": 3}
    if rules:
        line["markLine"] = {"symbol": "none", "lineStyle": {"color": "#d62728", "type": "dashed"}, "label": {"formatter": rules[0].text},
                            "data": [{"yAxis": rules[0].value}]}  # fmt: skip
    series: list[dict[str, Any]] = [
        {"name": "95% interval", "type": "line", "data": lows, "stack": "ci", "symbol": "none", "lineStyle": {"opacity": 0}, "tooltip": {"show": False}},
        {"name": "95% interval", "type": "line", "data": spans, "stack": "ci", "symbol": "none", "lineStyle": {"opacity": 0},
         "areaStyle": {"opacity": 0.25, "color": "#5470c6"}, "tooltip": {"show": False}},
        line,
    ]  # fmt: skip
    legend = ["95% interval", name]
    if metric == "mae":
        series.append({"name": "RMSE", "type": "line", "data": extra, "showSymbol": True, "symbolSize": 4, "connectNulls": False})
        legend.append("RMSE")
    return {
        "tooltip": {"trigger": "axis"}, "legend": {"data": legend},
        "xAxis": {"type": "category", "name": "window", "data": [w["window"] for w in windows]},
        "yAxis": {"type": "value", "name": name if metric == "accuracy" else "error", "scale": True, **({"max": 1} if metric == "accuracy" else {})},
        "dataZoom": [{"type": "inside"}], "series": series,
    }  # fmt: skip


@router.get("/monitors/{name}/windows/{index}", response_class=HTMLResponse)
async def window(request: Request, name: str, index: int) -> HTMLResponse:
    await run_in_threadpool(_session, request)
    ws = request.app.state.ws

    def gather() -> dict[str, Any]:
        found = get_monitor(ws, name)
        doc = get_window(ws, found, index)
        alerts = [a for a in list_alerts(ws, found, limit=5000) if a["window"] == index]
        ended = [r for r in list_resolutions(ws, found, limit=5000) if r["window"] == index]  # what a resolved post's url leads to
        has_labels = bool(ws.ledger.query("SELECT 1 FROM monitor_labels WHERE monitor = ? LIMIT 1", (found.id,)))
        return {"monitor": found, "window": doc, "alerts": alerts, "resolved": ended, "labels": window_labels(ws, found, index) if has_labels else None}

    data = await run_in_threadpool(gather)
    charts = []
    for col in data["window"]["report"].get("columns", []):
        spec = col.get("chart")
        if not spec:
            continue
        if spec["type"] == "numeric":
            edges = spec["edges"]
            cats = [f"{(a + b) / 2:.4g}" for a, b in itertools.pairwise(edges)]
        else:
            cats = spec["categories"]
        option = {
            "title": {"text": col["name"], "textStyle": {"fontSize": 13}}, "tooltip": {"trigger": "axis"}, "legend": {"data": ["reference", "current"], "right": 0},
            "xAxis": {"type": "category", "data": cats}, "yAxis": {"type": "value"},
            "series": [{"name": "reference", "type": "bar", "data": spec["reference"]}, {"name": "current", "type": "bar", "data": spec["current"]}],
        }  # fmt: skip
        charts.append((col["name"], option))
    return _render(request, "window.html", charts=charts, **data)


@router.get("/alerts", response_class=HTMLResponse)
async def alerts(request: Request, monitor: str | None = None) -> HTMLResponse:
    """The latest 500 alerts, or one monitor's (``?monitor=NAME``; an unknown name is a 404, as the API answers)."""
    await run_in_threadpool(_session, request)
    ws = request.app.state.ws
    found = await run_in_threadpool(lambda: list_alerts(ws, get_monitor(ws, monitor) if monitor else None, limit=500))
    return _render(request, "alerts.html", alerts=found, monitor=monitor, limit=500)
