"""Drift outcomes in the workspace: reports and profiles as ledger records, tied to dataset versions."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.drift._profile import Profile
from assay.drift._report import DriftReport
from assay.errors import InputError, NotFoundError

if TYPE_CHECKING:
    from assay.workspace import Workspace

__all__ = ["KIND", "drawable_chart", "get_report", "list_reports", "load_stored_profile", "readable_report", "record_report",
           "save_profile", "write_recorded_report_html"]

KIND = "drift_report"


def _node(version: Any) -> str:
    return getattr(version, "node", None) or f"version:{version.id}"


def record_report(ws: Workspace, report: DriftReport, versions: list[Any]) -> str:
    """Store ``report`` as a ``drift_report`` record with a ``judged_by`` edge from each dataset
    version in ``versions`` (``None`` entries, for plain files, are skipped); returns the record
    id, also set as ``report.record_id``. ``compare_sources`` hands back ``versions``."""
    from assay.ledger import utcnow
    from assay.lineage._graph import add_edges

    record_id = uuid.uuid4().hex
    doc = report.to_dict(charts=True)  # (kept so that `assay drift show ID --report FILE` draws them again)
    for column in doc["columns"]:
        column["chart"] = drawable_chart(column.get("chart")) or {}
    body = json.dumps(doc, default=str)
    name = f"{report.reference_label} vs {report.current_label}"
    with ws.ledger.transaction() as tx:
        tx.execute(
            "INSERT INTO records (id, kind, name, created_at, verdict, body) VALUES (?, ?, ?, ?, ?, ?)",
            (record_id, KIND, name, utcnow(), "drift" if report.drift else "no_drift", body),
        )
        add_edges(tx, [(_node(v), f"record:{record_id}", "judged_by") for v in versions if v is not None])
    report.record_id = record_id
    return record_id


def list_reports(ws: Workspace, *, limit: int = 20) -> list[dict[str, Any]]:
    """The drift reports recorded in ``ws``, newest first, at most ``limit``: summaries (``id``,
    ``created_at``, ``verdict``, ``drift``, ``reference``, ``current``, ``drifted_columns``,
    ``columns`` (how many), ``remote`` (where a pulled one ran; None: here)), not the full bodies.

    Example::

        from assay.drift import get_report, list_reports
        from assay.workspace import Workspace
        ws = Workspace.open()
        latest = get_report(ws, list_reports(ws, limit=1)[0]["id"])
    """
    rows = ws.ledger.query(
        "SELECT id, created_at, verdict, body FROM records WHERE kind = ? ORDER BY created_at DESC LIMIT ?", (KIND, limit))
    out = []
    for rid, created, verdict, body in rows:
        doc = json.loads(body)
        why = readable_report(doc)  # (one pulled before a pull read its body: `drift show` refuses it)
        shown = doc if why is None else {}
        imported = doc.get("imported") if isinstance(doc, dict) else None
        out.append({
            "id": rid, "created_at": created, "verdict": verdict, "drift": shown.get("drift"),
            "reference": shown.get("reference"), "current": shown.get("current"),
            "drifted_columns": shown.get("drifted_columns") or [], "columns": len(shown.get("columns") or []),
            "remote": imported.get("remote") if isinstance(imported, dict) else None,  # None: run here
            "unreadable": why,
        })  # fmt: skip
    return out


def get_report(ws: Workspace, record_id: str, *, charts: bool = False) -> dict[str, Any]:
    """The recorded drift report whose id starts with ``record_id`` (a prefix from
    :func:`list_reports` or `assay drift log`), as ``DriftReport.to_dict()`` wrote it, with
    ``record_id`` set to the full id; with ``charts``, each column's ``chart`` too, as
    ``DriftReport.from_dict`` takes them to draw the HTML report again (a report recorded
    before charts were kept has none; a chart that does not read is left out). Raises
    :class:`~assay.errors.NotFoundError` when no report has that id,
    :class:`~assay.errors.UsageError` when it is not one, and
    :class:`~assay.errors.InputError` when the prefix names more than one."""
    from assay.ledger import record_by_prefix

    rid, body = record_by_prefix(ws.ledger, KIND, record_id, noun="drift report", lister="assay drift log")
    doc = json.loads(body)
    why = readable_report(doc)
    if why:  # (one pulled before a pull read its body: a remote's copy may be of another shape)
        imported = doc.get("imported") if isinstance(doc, dict) else None
        remote = imported.get("remote") if isinstance(imported, dict) else None
        raise InputError(f"drift report {rid[:12]} does not read as one ({why})"
                         + (f": it was pulled from remote {remote}" if isinstance(remote, str) else ""),
                         hint="`assay drift log` lists the others")
    for column in doc["columns"]:
        if charts and "chart" in column:
            column["chart"] = drawable_chart(column["chart"]) or {}
        elif not charts:
            column.pop("chart", None)
    return {**doc, "record_id": rid}


def drawable_chart(chart: Any) -> dict[str, Any] | None:
    """``chart`` (a column's, as the HTML report draws it) if it reads as one: its bars and
    edges finite numbers, as many as they should be; else None. A recorded report may come
    from a remote: what it holds is checked before anything is drawn from it."""
    if not isinstance(chart, dict):
        return None
    ref, cur = chart.get("reference"), chart.get("current")
    if not (_finite_numbers(ref) and _finite_numbers(cur) and 0 < len(ref) == len(cur)):
        return None
    if chart.get("type") == "numeric":
        return chart if _finite_numbers(chart.get("edges")) and len(chart["edges"]) == len(ref) + 1 else None
    if chart.get("type") == "categorical":
        return chart if isinstance(chart.get("categories"), list) and len(chart["categories"]) == len(ref) else None
    return None


def _finite_numbers(v: Any) -> bool:
    return isinstance(v, list) and all(_number(x, none=False) and math.isfinite(x) for x in v)


def _number(v: Any, *, none: bool = True) -> bool:
    if v is None:
        return none
    return not isinstance(v, bool) and isinstance(v, (int, float))  # (NaN prints: the report's own may hold one)


def _text(v: Any, *, none: bool = False) -> bool:
    return (v is None and none) or isinstance(v, str)


def _findings(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(f, dict) and _text(f.get("severity")) and isinstance(f.get("message"), str)
                                       for f in v)


def write_recorded_report_html(ws: Workspace, record_id: str, path: str | Path) -> list[str]:
    """Draw the recorded drift report ``record_id`` (an id prefix, as :func:`get_report` takes)
    again as a self-contained HTML file at ``path``; returns the notes worth telling the user
    (a report recorded before charts were kept is drawn without them)::

        notes = write_recorded_report_html(ws, "3f2a9c", "drift.html")

    Raises :class:`~assay.errors.InputError`, writing nothing, when the recorded report cannot
    be drawn (one pulled from a remote may lack or mistype a field)."""
    from assay.report import render_drift_html, write_drift_html

    full = get_report(ws, record_id, charts=True)
    try:
        report = DriftReport.from_dict(full)
        render_drift_html(report)  # (drawn once before anything is written: a report that does not draw writes nothing)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        where = f" (pulled from remote {full['imported'].get('remote')})" if isinstance(full.get("imported"), dict) else ""
        raise InputError(f"drift report {full['record_id'][:12]}{where} cannot be drawn as HTML: it lacks or mistypes {exc}",
                         hint="`assay drift show ID --json` prints what it holds") from None
    write_drift_html(report, path)
    if full["columns"] and not any("chart" in c for c in full["columns"]):
        return ["this report was recorded before drift reports kept their charts: the HTML report draws none"]
    return []


def readable_report(doc: Any) -> str | None:
    """Why ``doc`` (a drift report as :meth:`DriftReport.to_dict` writes it, read from elsewhere,
    such as a remote) cannot be shown by `assay drift show` and `assay drift log`; None if it
    can. Never raises: what it checks is what those read.

    >>> readable_report({"drift": True})
    'no columns'
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("drift"), bool):
        return "no verdict"
    columns = doc.get("columns")
    if not isinstance(columns, list) or not all(isinstance(c, dict) for c in columns):
        return "no columns"
    for c in columns:
        if not (_text(c.get("name")) and _text(c.get("kind")) and _text(c.get("role")) and _text(c.get("test"), none=True)
                and isinstance(c.get("drifted"), bool) and all(_number(c.get(k)) for k in ("effect", "p_adjusted", "threshold"))
                and _findings(c.get("findings", []))):
            return "a column that does not read"
    drifted = doc.get("drifted_columns")
    if not isinstance(drifted, list) or not all(_text(n) for n in drifted):
        return "no list of drifted columns"
    method = doc.get("method")
    if not (isinstance(method, dict) and _text(method.get("correction_name")) and _number(method.get("alpha"), none=False)
            and _text(method.get("mode"))):
        return "no method"
    if not (_number(doc.get("share_drifted"), none=False) and all(
            isinstance(doc.get(k), int) and not isinstance(doc.get(k), bool) for k in ("reference_rows", "current_rows"))):
        return "no counts"
    if not (_text(doc.get("reference"), none=True) and _text(doc.get("current"), none=True)):
        return "no names of what it compared"
    if not _findings(doc.get("findings", [])):
        return "findings that do not read"
    mv = doc.get("multivariate") or {}
    if not isinstance(mv, dict):
        return "a multivariate result that does not read"
    classifier, mmd = mv.get("classifier") or {}, mv.get("mmd")
    if not isinstance(classifier, dict) or (classifier.get("auc") is not None and not (
            all(_number(classifier.get(k), none=False) for k in ("auc", "ci_low", "ci_high")) and "drifted" in classifier)):
        return "a domain classifier result that does not read"
    if mmd and not (isinstance(mmd, dict) and all(_number(mmd.get(k), none=False) for k in ("mmd2", "p_value"))):
        return "an MMD result that does not read"
    return None


def _profile_key(version: Any) -> str:
    return f"drift/profiles/{version.id}.json"


def save_profile(ws: Workspace, profile: Profile, version: Any) -> str:
    """Keep ``profile`` in the object store as the profile of dataset ``version`` (as
    ``profile_source`` hands it back) and record it; returns the store key. Compare with it
    later as ``profile:NAME@REF``."""
    from assay.ledger import utcnow
    from assay.lineage._graph import add_edges

    key = _profile_key(version)
    ws.store.put_bytes(key, json.dumps(profile.to_dict(), separators=(",", ":")).encode())
    record_id = uuid.uuid4().hex
    with ws.ledger.transaction() as tx:
        tx.execute(
            "INSERT INTO records (id, kind, name, created_at, verdict, body) VALUES (?, ?, ?, ?, ?, ?)",
            (record_id, "drift_profile", version.ref if hasattr(version, "ref") else str(version.id), utcnow(), None,
             json.dumps({"key": key, "rows": profile.rows, "columns": sorted(profile.columns)})),
        )  # fmt: skip
        add_edges(tx, [(_node(version), f"record:{record_id}", "profiled_by")])
    return key


def load_stored_profile(ws: Any, ref: str) -> Profile:
    """The profile saved for dataset version ``ref`` (``assay drift profile NAME@REF --save``)."""
    from assay import data as data_pillar

    if ws is None:
        from assay.workspace import Workspace

        ws = Workspace.open()
    version = data_pillar.resolve(ws, ref)
    key = _profile_key(version)
    if not ws.store.exists(key):
        raise NotFoundError(f"no drift profile stored for {ref}", hint=f"run `assay drift profile {ref} --save` first")
    profile = Profile.from_dict(json.loads(ws.store.get_bytes(key)))
    profile.label = profile.label or ref
    profile.version = version  # type: ignore[attr-defined]  # as a checked-out source has it: the report is recorded against it
    return profile
