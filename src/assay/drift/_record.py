"""Drift outcomes in the workspace: reports and profiles as ledger records, tied to dataset versions."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from assay.drift._profile import Profile
from assay.drift._report import DriftReport
from assay.errors import NotFoundError

if TYPE_CHECKING:
    from assay.workspace import Workspace

__all__ = ["KIND", "get_report", "list_reports", "load_stored_profile", "record_report", "save_profile"]

KIND = "drift_report"


def _node(version: Any) -> str:
    return getattr(version, "node", None) or f"version:{version.id}"


def record_report(ws: Any, report: DriftReport, versions: list[Any]) -> str:
    """Store ``report`` as a ``drift_report`` record with a ``judged_by`` edge from each dataset version."""
    from assay.ledger import utcnow
    from assay.lineage._graph import add_edges

    record_id = uuid.uuid4().hex
    body = json.dumps(report.to_dict(), default=str)
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
        out.append({
            "id": rid, "created_at": created, "verdict": verdict, "drift": doc.get("drift"),
            "reference": doc.get("reference"), "current": doc.get("current"),
            "drifted_columns": doc.get("drifted_columns") or [], "columns": len(doc.get("columns") or []),
            "remote": (doc.get("imported") or {}).get("remote"),  # None: run here; else pulled from there
        })  # fmt: skip
    return out


def get_report(ws: Workspace, record_id: str) -> dict[str, Any]:
    """The recorded drift report whose id starts with ``record_id`` (a prefix from
    :func:`list_reports` or `assay drift log`), as ``DriftReport.to_dict()`` wrote it, with
    ``record_id`` set to the full id. Raises :class:`~assay.errors.NotFoundError` when no report
    has that id, :class:`~assay.errors.UsageError` when it is not one, and
    :class:`~assay.errors.InputError` when the prefix names more than one."""
    from assay.ledger import record_by_prefix

    rid, body = record_by_prefix(ws.ledger, KIND, record_id, noun="drift report", lister="assay drift log")
    return {**json.loads(body), "record_id": rid}


def _profile_key(version: Any) -> str:
    return f"drift/profiles/{version.id}.json"


def save_profile(ws: Any, profile: Profile, version: Any) -> str:
    """Keep ``profile`` in the object store as the profile of ``version`` and record it."""
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
    return profile
