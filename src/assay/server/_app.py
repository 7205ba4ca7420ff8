"""The ASGI app: JSON API, dashboard pages, static files, and the monitoring service's lifecycle."""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from assay.errors import (
    AssayError,
    ConcurrencyError,
    InputError,
    NotFoundError,
    UsageError,
)
from assay.monitor import MonitorService
from assay.server._auth import LoginRequired, SessionSigner, TokenCache
from assay.server._throttle import Throttle

__all__ = ["ServerSettings", "create_app", "serve"]

log = logging.getLogger("assay.server")
HERE = Path(__file__).parent
CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    max_body: int = 16 << 20  # bytes per request
    segment_bytes: int = 64 << 20
    segment_seconds: float = 30.0
    webhook_timeout: float = 5.0
    webhook_base_delay: float = 0.5
    webhook_max_delay: float = 300.0
    background: str = "process"  # windows and webhooks in a child process ("thread": in this one)
    auth_free_failures: int = 5  # failed sign-ins (dashboard or bearer token) an address may make before back-off
    auth_base_delay: float = 1.0  # seconds of the first lock-out; doubled by each further failure
    auth_max_delay: float = 300.0

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


class ApiError(Exception):
    def __init__(self, status: int, message: str, hint: str | None = None, error: str = "ApiError", headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.hint, self.error, self.headers = status, message, hint, error, headers


def _status_for(exc: AssayError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConcurrencyError):
        return 409
    if isinstance(exc, InputError):
        return 422
    if isinstance(exc, UsageError):
        return 400
    return 500


class _SecurityHeaders:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware on the ingestion path): security headers on every
    response, and a 413 for any declared body over the limit, forms included, before it is read."""

    _HEADERS = ((b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin"))  # fmt: skip

    def __init__(self, app: Any, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body:
            response = JSONResponse({"error": "PayloadTooLarge", "message": f"the body is {int(length):,} bytes, more than the limit of {self.max_body:,}",
                                     "hint": "send smaller batches, or start assay serve with a larger --max-body"}, status_code=413)  # fmt: skip
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                present = {k.lower() for k, _ in message["headers"]}
                message["headers"] = list(message["headers"]) + [(k, v) for k, v in self._HEADERS if k not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(ws: Any, settings: ServerSettings | None = None, *, service: MonitorService | None = None) -> FastAPI:
    """The app over workspace ``ws``; it starts the monitoring service on startup and stops it on shutdown."""
    settings = settings or ServerSettings()
    service = service or MonitorService(
        ws, base_url=settings.base_url, segment_bytes=settings.segment_bytes, segment_seconds=settings.segment_seconds,
        webhook_timeout=settings.webhook_timeout, webhook_base_delay=settings.webhook_base_delay, webhook_max_delay=settings.webhook_max_delay,
        background=settings.background,
    )  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(title="assay", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url="/api/v1/openapi.json")
    app.state.ws = ws
    app.state.settings = settings
    app.state.service = service
    app.state.tokens = TokenCache(ws)
    app.state.sessions = SessionSigner(ws)
    app.state.throttle = Throttle(free=settings.auth_free_failures, base=settings.auth_base_delay, cap=settings.auth_max_delay)
    app.add_middleware(_SecurityHeaders, max_body=settings.max_body)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {**({"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}), **(exc.headers or {})}
        return JSONResponse({"error": exc.error, "message": exc.message, "hint": exc.hint}, status_code=exc.status, headers=headers)

    @app.exception_handler(AssayError)
    async def _assay_error(request: Request, exc: AssayError) -> Any:
        status = _status_for(exc)
        if not request.url.path.startswith("/api/"):
            from assay.server._pages import render_error

            return render_error(request, status, exc.message, exc.hint)
        return JSONResponse(exc.to_dict(), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Any:
        # a bad path or query parameter (windows/abc, ?limit=x) answers in the API's own error shape, or as a page
        first = next(iter(exc.errors()), {})
        loc = [str(part) for part in first.get("loc", ())]
        where = f"{loc[0]} parameter {'.'.join(loc[1:])!r}" if len(loc) > 1 else "the request"
        message = f"{where}: {str(first.get('msg', 'is not valid')).lower()}" + (f", got {first['input']!r}" if isinstance(first.get("input"), str) else "")
        if not request.url.path.startswith("/api/"):
            from assay.server._pages import render_error

            return render_error(request, 422, message, None)
        return JSONResponse({"error": "InputError", "message": message, "hint": None}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Any:
        # no such route, a method the route does not take, a form that does not parse: the API's own error
        # shape (it was {"detail": ...}, with no "message" for a client to show), or a page on the dashboard
        message = {404: f"no such address: {request.url.path}", 405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
        api = request.url.path.startswith("/api/")
        hint = ("/api/v1/openapi.json lists the API's addresses and their methods" if api else None) if exc.status_code in (404, 405) else None
        if not api:
            from assay.server._pages import render_error

            response = render_error(request, exc.status_code, message, hint)
        else:
            name = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "BadRequest" if exc.status_code == 400 else "ApiError")
            response = JSONResponse({"error": name, "message": message, "hint": hint}, status_code=exc.status_code)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: Exception) -> RedirectResponse:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    from assay.server._api import router as api_router
    from assay.server._pages import router as page_router

    app.include_router(api_router)
    app.include_router(page_router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app


def serve(ws: Any, settings: ServerSettings | None = None, *, on_ready: Any = None) -> None:
    """Run the service until interrupted (SIGINT / SIGTERM stop it cleanly)."""
    import uvicorn

    settings = settings or ServerSettings()
    app = create_app(ws, settings)
    # Both checked here, before uvicorn runs: in its startup either one was a logged traceback and exit 3.
    sock = _bind(settings.host, settings.port)
    try:
        app.state.service.lock()
    except BaseException:
        sock.close()
        raise
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                            limit_concurrency=1000, timeout_keep_alive=30, lifespan="on")  # fmt: skip
    server = uvicorn.Server(config)
    if on_ready is not None:
        original = server.startup

        async def startup(sockets: Any = None) -> None:
            await original(sockets=sockets)
            if server.started:
                on_ready(settings)

        server.startup = startup  # type: ignore[method-assign]
    # uvicorn stops gracefully on SIGINT and SIGTERM only: a SIGHUP (the terminal closed, an ssh session
    # dropped) ended the process at once, the window process's semaphores "leaked" on stderr. It stops the
    # service as SIGTERM does, then ends the process by itself as it was set to (exit 129 by default).
    import signal
    import threading

    hung_up: list[int] = []
    hangup = getattr(signal, "SIGHUP", None)
    previous = None
    if hangup is not None and threading.current_thread() is threading.main_thread():
        def on_hangup(number: int, frame: Any) -> None:
            hung_up.append(number)
            server.should_exit = True

        previous = signal.signal(hangup, on_hangup)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        app.state.service.stop()  # idempotent; lets the lock go should uvicorn end before its lifespan did
        if previous is not None:
            signal.signal(hangup, previous)
    if hung_up:
        signal.raise_signal(hung_up[0])


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (as uvicorn binds one), or a UsageError naming what is in the way."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {host} is in use", hint="stop what listens there, or pick another port with --port") from None
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", hint="check --host (an address of this machine) and --port") from None
    sock.set_inheritable(True)
    return sock
