from __future__ import annotations

import ipaddress
import json
import os
import sys

import click

from assay.cli._output import echo_err, handle_errors, json_option
from assay.workspace import Workspace


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; loopback unless you mean to expose it.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--max-body", default=16 << 20, show_default=True, type=click.IntRange(1024, 1 << 30), help="Largest request body in bytes.")
@click.option("--auth-free-failures", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="Failed sign-ins (dashboard login or bearer token) a client address may make before it must wait.")
@click.option("--auth-max-delay", default=300.0, show_default=True, type=click.FloatRange(1, 86400),
              help="Longest wait in seconds; the first is 1 s, doubled by each further failure (429 with Retry-After).")
@json_option
@handle_errors
def serve(host: str, port: int, max_body: int, auth_free_failures: int, auth_max_delay: float, as_json: bool) -> None:
    """Run the monitoring service and dashboard over this workspace.

    Ingestion: POST /api/v1/monitors/NAME/events with a bearer token (scope ingest).
    Dashboard: http://HOST:PORT/ (log in with a token or `assay user add`). Stop with Ctrl-C.
    With --json, one line {"url": ..., "pid": ...} is printed once the service accepts connections.
    """
    from assay.server import ServerSettings
    from assay.server import serve as run

    if not _loopback(host):
        echo_err(f"warning: binding {host}, not loopback; anyone who can reach it can try tokens. Put TLS in front of it.")
    ws = Workspace.open()
    settings = ServerSettings(host=host, port=port, max_body=max_body, auth_free_failures=auth_free_failures, auth_max_delay=auth_max_delay)

    started: list[bool] = []

    def ready(s: ServerSettings) -> None:
        started.append(True)
        if as_json:
            click.echo(json.dumps({"url": s.base_url, "pid": os.getpid(), "workspace": str(ws.root)}))
            sys.stdout.flush()
        echo_err(f"assay serve: listening on {s.base_url} (workspace {ws.root})")

    # The server stops gracefully on SIGTERM itself, then raises the signal again as it was
    # before it started: left to its default here, the process then ends as a stopped service
    # does (by the signal), not as an interrupted command (exit 143, an error document).
    import signal

    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None and getattr(signal.getsignal(number), "assay_default", False):
            signal.signal(number, signal.SIG_DFL)
    try:
        run(ws, settings, on_ready=ready)
    except KeyboardInterrupt:
        if not started:
            raise  # interrupted while starting: as any command is
        # Ctrl-C, the documented stop, after the server shut down gracefully: exit 130 as the CLI's
        # codes say, without a second JSON document after the {"url": ...} line.
        echo_err("assay serve: stopped")
        sys.exit(130)
