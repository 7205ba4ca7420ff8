"""The JSON API under ``/api/v1``: every call needs a bearer token with the right scope."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from assay._wording import noun_for
from assay.errors import InputError, NotFoundError
from assay.monitor import (
    create_monitor,
    create_token,
    delete_monitor,
    get_monitor,
    get_window,
    list_alerts,
    list_monitors,
    list_windows,
    store_labels,
    window_labels,
)
from assay.monitor._performance import check_labels
from assay.monitor._schema import MalformedPayload, UnsupportedMediaType
from assay.monitor._webhooks import deliveries
from assay.server._auth import SESSION_COOKIE, Principal, still_valid

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")
MAX_LIMIT = 5000  # windows or alerts one call lists; a limit past it, or under 1, is a 422, not clamped without a word


def _error(status: int, message: str, hint: str | None = None, error: str = "ApiError", headers: dict[str, str] | None = None) -> Exception:
    from assay.server._app import ApiError

    return ApiError(status, message, hint, error, headers)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _too_many(wait: int) -> Exception:
    return _error(429, f"too many failed authentications from this address; retry in {wait} s",
                  "check the token (assay token list); each further failure doubles the wait", "TooManyRequests", {"Retry-After": str(wait)})  # fmt: skip


async def authorize(request: Request, scope: str) -> Principal:
    header = request.headers.get("authorization", "")
    principal: Principal | None = None
    if header[:7].lower() == "bearer ":
        token = header[7:].strip()
        tokens = request.app.state.tokens
        known, principal = tokens.cached(token)
        if not known or principal is None:  # a token verified valid moments ago never meets the throttle
            throttle, address = request.app.state.throttle, client_address(request)
            wait = throttle.retry_after(address)
            if wait and not tokens.recently_valid(token):
                raise _too_many(wait)
            if not known:
                principal = await run_in_threadpool(tokens.lookup, token)
            if principal is None:
                throttle.failed(address)
                raise _error(401, "the bearer token is unknown or revoked", "create one with `assay token create --scope ...`", "Unauthorized")
    else:
        # a dashboard session may read the API from the browser; writes always need a bearer token (no CSRF surface)
        principal = request.app.state.sessions.verify(request.cookies.get(SESSION_COOKIE)) if request.method in ("GET", "HEAD") else None
        if principal is not None and not await run_in_threadpool(still_valid, request.app.state.ws, principal):
            principal = None  # signed in with a token since revoked, or as a user since removed (as the pages judge it)
        if principal is None:
            raise _error(401, "authentication required", "send Authorization: Bearer <token> (assay token create)", "Unauthorized")
    if not principal.can(scope):
        raise _error(403, f"this token lacks the {scope!r} scope", f"create a token with `assay token create --scope {scope}`", "Forbidden")
    return principal


async def read_body(request: Request) -> bytes:
    """The request body, refusing more than the configured limit before reading it all."""
    limit = request.app.state.settings.max_body
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise _error(400, "invalid Content-Length") from None
        if declared > limit:
            raise _error(413, f"the body is {declared:,} bytes, more than the limit of {limit:,}", "send smaller batches, or start assay serve with a larger --max-body", "PayloadTooLarge")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _error(413, f"the body is more than the limit of {limit:,} bytes", "send smaller batches, or start assay serve with a larger --max-body", "PayloadTooLarge")
        chunks.append(chunk)
    return b"".join(chunks)


async def _json(request: Request) -> dict[str, Any]:
    body = await read_body(request)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _error(400, f"the body is not valid JSON: {exc}", error="BadRequest") from None
    except RecursionError:  # [[[[... a few thousand deep: it escaped as a 500
        raise _error(400, "the body is not valid JSON: it is nested too deeply", error="BadRequest") from None
    if not isinstance(doc, dict):
        raise _error(400, "the body must be a JSON object", error="BadRequest")
    return doc


@router.get("/health")
async def health() -> dict[str, Any]:
    return {"ok": True}


@router.get("/monitors")
async def monitors(request: Request) -> dict[str, Any]:
    await authorize(request, "read")
    found = await run_in_threadpool(list_monitors, request.app.state.ws)
    return {"monitors": [m.to_dict() for m in found]}


@router.post("/monitors", status_code=201)
async def new_monitor(request: Request) -> dict[str, Any]:
    await authorize(request, "admin")
    doc = await _json(request)
    allowed = {"name", "reference", "columns", "window", "rules", "webhooks", "drift", "task", "min_labels", "notify"}
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise _error(422, f"unknown {noun_for(len(unknown), 'field')} {', '.join(unknown)}", f"fields: {', '.join(sorted(allowed))}", "InputError")
    for key in ("name", "reference"):
        if not isinstance(doc.get(key), str):
            raise _error(422, f'"{key}" must be a string', error="InputError")
    for key in ("columns", "rules", "webhooks"):
        if doc.get(key) is not None and not (isinstance(doc[key], list) and all(isinstance(v, str) for v in doc[key])):
            raise _error(422, f'"{key}" must be a list of strings', error="InputError")
    if doc.get("drift") is not None and not isinstance(doc["drift"], dict):
        raise _error(422, '"drift" must be an object', error="InputError")
    if doc.get("task") is not None and not isinstance(doc["task"], str):
        raise _error(422, '"task" must be "classification" or "regression"', error="InputError")
    if doc.get("min_labels") is not None and (not isinstance(doc["min_labels"], int) or isinstance(doc["min_labels"], bool)):
        raise _error(422, '"min_labels" must be an integer', error="InputError")
    if doc.get("notify") is not None and not isinstance(doc["notify"], str):
        raise _error(422, '"notify" must be "every" or "change"', error="InputError")
    def create() -> Any:
        return create_monitor(request.app.state.ws, doc["name"], doc["reference"], columns=doc.get("columns"),
                              window=str(doc.get("window") or "10000rows"), rules=doc.get("rules"), webhooks=doc.get("webhooks"),
                              drift=doc.get("drift"), task=doc.get("task"), min_labels=50 if doc.get("min_labels") is None else doc["min_labels"],
                              notify="every" if doc.get("notify") is None else doc["notify"])  # fmt: skip

    monitor = await run_in_threadpool(create)
    return monitor.to_dict()


@router.get("/monitors/{name}")
async def monitor(request: Request, name: str) -> dict[str, Any]:
    await authorize(request, "read")
    found = await run_in_threadpool(get_monitor, request.app.state.ws, name)
    return found.to_dict()


@router.post("/monitors/{name}/events")
async def events(request: Request, name: str) -> JSONResponse:
    """Append a batch (JSON rows or an Arrow IPC stream): 201 once it is durable, 200 for a batch
    sent again with the same Idempotency-Key (``duplicate``); 400, 415 or 422 refused, 503 not stored."""
    await authorize(request, "ingest")
    service = request.app.state.service
    body = await read_body(request)
    content_type = request.headers.get("content-type", "application/json")
    batch_id = request.headers.get("idempotency-key")

    def parse() -> tuple[Any, str, Any]:
        monitor = service.monitor(name)
        return (monitor, *service.parse(monitor, body, content_type, batch_id))

    for attempt in (0, 1):
        try:
            monitor, bid, table = await run_in_threadpool(parse)
        except NotFoundError:
            raise
        except InputError as exc:
            status = 400 if isinstance(exc, MalformedPayload) else 415 if isinstance(exc, UnsupportedMediaType) else 422
            raise _error(status, exc.message, exc.hint, "InputError") from None
        future = service.log.submit(monitor.id, bid, table)
        try:
            ack = await asyncio.wait_for(asyncio.wrap_future(future), timeout=60)
        except NotFoundError:
            # the monitor was deleted: look its name up afresh once (404 unless it was created again)
            service.forget(name)
            if attempt:
                raise _error(404, f"no monitor named {name!r}", "it was deleted; list them with `assay monitor list`", "NotFoundError") from None
            continue
        except InputError as exc:  # the batch id was used for another batch: retrying cannot help (a 503 said to retry)
            raise _error(422, exc.message, exc.hint, "InputError") from None
        except Exception as exc:  # noqa: BLE001 - not durable: the client must retry with the same batch id
            raise _error(503, f"the batch was not stored: {exc}", "retry with the same batch id", "Unavailable") from None
        return JSONResponse(ack.to_dict(), status_code=200 if ack.duplicate else 201)
    raise AssertionError("unreachable")  # pragma: no cover


@router.delete("/monitors/{name}")
async def remove_monitor(request: Request, name: str) -> dict[str, Any]:
    """Delete a monitor with its windows, alerts, labels, pending webhook deliveries and events (admin)."""
    await authorize(request, "admin")
    doc = await run_in_threadpool(delete_monitor, request.app.state.ws, name)
    request.app.state.service.forget(name)
    return doc


@router.post("/monitors/{name}/labels")
async def labels(request: Request, name: str) -> dict[str, Any]:
    """Ground truth joined later by event id: ``{"labels": [{"event_id": "...", "label": "..."}]}``; idempotent.

    With a prediction column, the windows the labels fall in are judged again (accuracy, or MAE and RMSE)."""
    await authorize(request, "ingest")
    doc = await _json(request)
    try:
        items = check_labels(doc.get("labels"))
    except InputError as exc:
        raise _error(422, exc.message, exc.hint, "InputError") from None
    ws = request.app.state.ws
    stored = await run_in_threadpool(lambda: store_labels(ws, get_monitor(ws, name), items))
    request.app.state.service.wake()
    return {"stored": stored}


@router.get("/monitors/{name}/windows")
async def windows(request: Request, name: str, limit: int = Query(500, ge=1, le=MAX_LIMIT), before: int | None = None) -> dict[str, Any]:
    """The last ``limit`` closed windows (1 to 5000), oldest first; with ``before=N``, the last ``limit`` before
    window N. ``next_before`` is what pages further back (null when no older window is left)."""
    await authorize(request, "read")
    ws = request.app.state.ws
    found = await run_in_threadpool(get_monitor, ws, name)
    page = await run_in_threadpool(lambda: list_windows(ws, found, limit=limit, before=before))
    older = bool(page) and bool(await run_in_threadpool(lambda: list_windows(ws, found, limit=1, before=page[0]["window"])))
    return {"monitor": name, "windows": page, "next_before": page[0]["window"] if older else None}


@router.get("/monitors/{name}/windows/{index}")
async def window(request: Request, name: str, index: int) -> dict[str, Any]:
    await authorize(request, "read")
    ws = request.app.state.ws
    found = await run_in_threadpool(get_monitor, ws, name)
    return await run_in_threadpool(get_window, ws, found, index)


@router.get("/monitors/{name}/windows/{index}/labels")
async def labels_of_window(request: Request, name: str, index: int) -> dict[str, Any]:
    """The labels received so far for a closed window's events, joined by event id."""
    await authorize(request, "read")
    ws = request.app.state.ws
    return await run_in_threadpool(lambda: window_labels(ws, get_monitor(ws, name), index))


@router.get("/alerts")
async def alerts(request: Request, monitor: str | None = None, limit: int = Query(200, ge=1, le=MAX_LIMIT)) -> dict[str, Any]:
    await authorize(request, "read")
    ws = request.app.state.ws

    def fetch() -> list[dict[str, Any]]:
        return list_alerts(ws, get_monitor(ws, monitor) if monitor else None, limit=limit)

    return {"alerts": await run_in_threadpool(fetch)}


@router.get("/alerts/{alert_id}/deliveries")
async def alert_deliveries(request: Request, alert_id: str) -> dict[str, Any]:
    await authorize(request, "read")
    ws = request.app.state.ws

    def fetch() -> list[dict[str, Any]]:
        # an unknown id (a typo, a deleted monitor's alert) is a 404, as a monitor's is: it answered an empty list, "not delivered yet"
        if not ws.ledger.query("SELECT 1 FROM monitor_alerts WHERE id = ?", (alert_id,)):
            raise NotFoundError(f"no alert {alert_id!r}", hint="list them with GET /api/v1/alerts (or `assay monitor show NAME`)")
        return deliveries(ws, alert_id)

    return {"deliveries": await run_in_threadpool(fetch)}


@router.post("/tokens", status_code=201)
async def tokens(request: Request) -> dict[str, Any]:
    await authorize(request, "admin")
    doc = await _json(request)
    unknown = sorted(set(doc) - {"scopes", "name"})
    if unknown:  # as POST /monitors answers: a misspelt "nmae" was dropped without a word
        raise _error(422, f"unknown {noun_for(len(unknown), 'field')} {', '.join(unknown)}", "fields: name, scopes", "InputError")
    scopes = doc.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise _error(422, '"scopes" must be a list of strings', error="InputError")
    name = doc.get("name", "")
    if not isinstance(name, str) or len(name) > 200:  # {"name": null} was kept as "None", a list as "[]"
        raise _error(422, '"name" must be a string of at most 200 characters', error="InputError")
    return await run_in_threadpool(lambda: create_token(request.app.state.ws, scopes, name=name))
