"""Storing check results in the ledger, linked to the model and data versions they judged."""

from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING, Any

from assay.checks._result import CheckResult
from assay.ledger import utcnow

if TYPE_CHECKING:
    from assay.workspace import Workspace

__all__ = ["KIND", "check_edges", "get_result", "list_results", "record_result", "shareable_check"]

KIND = "check"
_VERSION_ID = re.compile(r"[0-9a-f]{32}")  # as the ledger writes version ids; used with fullmatch
_EDGES = (("candidate", "checked_as_candidate"), ("baseline", "checked_as_baseline"), ("data", "checked_on"))


def record_result(ws: Workspace, result: CheckResult, *, suite_name: str = "") -> str:
    """Insert the result as a ``records`` row plus lineage edges; returns the record id."""
    rid = uuid.uuid4().hex
    now = utcnow()
    result.id = rid
    result.created_at = now
    node = f"record:{rid}"
    doc = result.to_dict()
    edges = [(f"version:{version}", node, relation) for version, relation in check_edges(doc)]
    body = json.dumps(doc, default=str)
    with ws.ledger.transaction() as tx:
        tx.execute("INSERT INTO records (id, kind, name, created_at, verdict, body) VALUES (?, ?, ?, ?, ?, ?)",
                   (rid, KIND, suite_name or "", now, "pass" if result.passed else result.verdict, body))
        tx.executemany("INSERT INTO edges (src, dst, relation, created_at) VALUES (?, ?, ?, ?)",
                       [(s, d, r, now) for s, d, r in edges])
    return rid


def check_edges(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``(version id, relation)`` lineage edges of a check result document: the model
    versions it judged as candidate and baseline, and the data version it ran on.

    >>> check_edges({"candidate": {"meta": {"version": "0" * 32}}, "baseline": None, "data": {"version": None}})
    [('00000000000000000000000000000000', 'checked_as_candidate')]
    """
    edges = []
    for part, relation in _EDGES:
        version = _version_of(body, part)
        if version and _VERSION_ID.fullmatch(version):
            edges.append((version, relation))
    return edges


def shareable_check(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of a stored check result document fit to leave this workspace (a push): without
    its local report path and its note of where it was pulled from, and with secrets as ``***``
    as a run record keeps them (:mod:`assay.lineage._redact`): in what names the models, the data
    and the suite, a value under a secret-named key too; everywhere else, a URL's password and
    secret query parameters inside any text, since an HTTP model is named by its URL and its
    errors, which quote that name, reach gate details, counterexamples and notes. A slice on a
    secret-named column reads so too (``token = ***``): its label cannot be told from a secret.

    >>> shareable_check({"candidate": {"name": "https://u:pw@h/x"}, "report": "/home/me/r.html"})
    {'candidate': {'name': 'https://u:***@h/x'}}
    """
    from assay.lineage._redact import redact_params, redact_text

    def text(value: Any) -> Any:  # keys as they are: a result's own keys (``counts.pass``) are no secrets
        if isinstance(value, dict):
            return {k: text(v) for k, v in value.items()}
        if isinstance(value, list):
            return [text(v) for v in value]
        return redact_text(value) if isinstance(value, str) else value

    return {k: redact_params(v) if k in ("candidate", "baseline", "data", "suite") else text(v)
            for k, v in body.items() if k not in ("report", "imported")}


def list_results(ws: Workspace, *, limit: int = 20) -> list[dict[str, Any]]:
    """Past check results, newest first (summaries, not the full bodies)."""
    rows = ws.ledger.query(
        "SELECT id, name, created_at, verdict, body FROM records WHERE kind = ? ORDER BY created_at DESC LIMIT ?", (KIND, limit))
    docs = [(rid, name, created, verdict, json.loads(body)) for rid, name, created, verdict, body in rows]
    # A body keeps each reference as it was typed (``clf@latest``); shown is the version it
    # resolved to, by the version id kept beside it (a file, or a version not here: as typed).
    refs = _version_refs(ws, {_version_of(doc, part) for *_, doc in docs for part in ("candidate", "baseline", "data")})
    return [_summary(rid, name, created, verdict, doc, refs) for rid, name, created, verdict, doc in docs]


def _summary(rid: str, name: str, created: str, verdict: str | None, doc: dict[str, Any], refs: dict[str, str]) -> dict[str, Any]:
    """One row of :func:`list_results`: ``refs`` maps version ids to ``NAME@vN``."""
    return {
        "id": rid, "suite": name, "created_at": created, "verdict": verdict, "passed": doc.get("passed"),
        # the version here, else as the remote named it (a check pulled from there), else as typed
        "candidate": _shown(refs, doc, "candidate", "name"), "baseline": _shown(refs, doc, "baseline", "name"),
        "data": _shown(refs, doc, "data", "ref"), "counts": doc.get("counts"),
        "remote": (doc.get("imported") or {}).get("remote"),  # None: run here; else pulled from there
    }


def _version_of(doc: dict[str, Any], part: str) -> str | None:
    """The id of the version a result's ``part`` (a model, or its data) was, if it was one."""
    found = doc.get(part)
    if part != "data":
        found = found.get("meta") if isinstance(found, dict) else None
    version = found.get("version") if isinstance(found, dict) else None
    return version if isinstance(version, str) else None


def _version_refs(ws: Workspace, ids: set[str | None]) -> dict[str, str]:
    """``NAME@vN`` of each version in ``ids`` that this workspace holds."""
    wanted = sorted(i for i in ids if i)
    refs = {}
    for start in range(0, len(wanted), 500):  # (a database takes only so many values in one IN list)
        batch = wanted[start:start + 500]
        rows = ws.ledger.query(f"SELECT id, dataset, number FROM versions WHERE id IN ({', '.join('?' * len(batch))})", batch)
        refs.update({vid: f"{dataset}@v{number}" for vid, dataset, number in rows})
    return refs


def _shown(refs: dict[str, str], doc: dict[str, Any], part: str, key: str) -> str | None:
    """How a check names the version its ``part`` was: as it is named here; else, for a check
    pulled from a remote, as the remote named it (``clf@v1 (on origin)``: the same name may be
    another version here); else as it was written in the result."""
    version = _version_of(doc, part)
    if version and version in refs:
        return refs[version]
    imported = doc.get("imported") if isinstance(doc.get("imported"), dict) else {}
    named = (imported.get("refs") or {}).get(version) if version and isinstance(imported.get("refs"), dict) else None
    if isinstance(named, str):
        return f"{named} (on {imported.get('remote')})"
    found = doc.get(part)
    return found.get(key) if isinstance(found, dict) else None


def get_result(ws: Workspace, record_id: str) -> dict[str, Any]:
    """The stored result document whose id starts with ``record_id``."""
    from assay.ledger import record_by_prefix

    _, body = record_by_prefix(ws.ledger, KIND, record_id, noun="check result", lister="assay check log")
    return json.loads(body)
