"""What every command shares: --json, error reporting and exit codes."""

from __future__ import annotations

import errno
import functools
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from assay.errors import AssayError, NoSpaceError

__all__ = ["echo_err", "emit", "fail", "handle_errors", "json_option", "report_usage_error", "to_json"]

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")


def to_json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=False, default=_default, ensure_ascii=False)


def _default(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


def emit(document: Any, as_json: bool, render: Callable[[], None]) -> None:
    """Print ``document`` as JSON on stdout, or call ``render`` for people."""
    if as_json:
        click.echo(to_json(document))
    else:
        render()


def echo_err(message: str) -> None:
    click.echo(message, err=True)


def handle_errors(func: F) -> F:
    """Turn assay errors into their exit codes; anything unexpected exits 3."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return func(*args, **kwargs)
        except AssayError as exc:
            _report(exc.to_dict(), str(exc), as_json)
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            sys.exit(0)
        except Exception as exc:  # the one place that catches everything: exit 3 with evidence
            fail(exc, as_json=as_json)

    return wrapper  # type: ignore[return-value]


def report_usage_error(exc: click.ClickException, *, as_json: bool) -> NoReturn:
    """Report what click found wrong with the command line and exit 2: click's own text on
    stderr, and with --json the error document on stdout as for every other error."""
    try:
        exc.show()
    except OSError:
        pass
    if as_json:
        ctx = getattr(exc, "ctx", None)
        hint = f"`{ctx.command_path} --help` lists its arguments and options" if ctx is not None else "`assay --help`"
        doc = {"error": "UsageError", "message": exc.format_message(), "hint": hint}
        try:
            click.echo(to_json(doc))
        except OSError:
            pass
    sys.exit(2)  # a usage error whatever click's own code for it (1 would read as a negative verdict)


def fail(exc: Exception, *, as_json: bool) -> NoReturn:
    """Report an error no assay code raised and exit: 2 for a full disk, else 3 with evidence."""
    full = _no_space(exc)
    if full is None:
        _internal(exc, as_json)
    _report(full.to_dict(), str(full), as_json)
    sys.exit(full.exit_code)


_FULL = (errno.ENOSPC, errno.EDQUOT)


def _no_space(exc: Exception) -> NoSpaceError | None:
    """The error to show for a full disk: an OS error saying so, or SQLite's (which says
    "disk is full", or only "disk I/O error" when it cannot even map its shared-memory
    file: then the workspace's file system is looked at)."""
    if isinstance(exc, OSError) and exc.errno in _FULL:
        where = f" writing {exc.filename}" if exc.filename else ""
        return NoSpaceError(
            f"no space left on the device{where}",
            hint="free some space there (`assay data gc` deletes chunks no version uses), then rerun: "
                 "the interrupted command recorded nothing it had not finished")
    if type(exc).__module__.startswith("sqlite3") and ("disk is full" in str(exc) or
                                                       ("disk I/O error" in str(exc) and _workspace_disk_full())):
        return NoSpaceError(
            "the workspace's disk is full: its database cannot even be read",
            hint="free some space on that disk by other means first (assay itself needs a little room to "
                 "open the ledger), then rerun")
    return None


def _workspace_disk_full() -> bool:
    from assay._root import find_root

    try:
        st = os.statvfs(find_root())
    except Exception:  # noqa: BLE001 - only a better message is at stake
        return False
    return st.f_bavail * st.f_frsize < 64 << 10


def _internal(exc: Exception, as_json: bool) -> NoReturn:
    """Exit 3 with evidence: the one place that reports what nothing else caught."""
    if os.environ.get("ASSAY_DEBUG"):
        traceback.print_exc()
    doc = {"error": "InternalError", "message": f"{type(exc).__name__}: {exc}", "hint": "rerun with ASSAY_DEBUG=1 for the traceback and report it"}
    _report(doc, f"internal error: {type(exc).__name__}: {exc}\n  hint: {doc['hint']}", as_json)
    sys.exit(3)


def _report(doc: dict[str, Any], text: str, as_json: bool) -> None:
    # Each stream on its own: the error may be that one of them cannot be written.
    for line, err in ((f"error: {text}", True), *(((to_json(doc), False),) if as_json else ())):
        try:
            click.echo(line, err=err)
        except OSError:
            pass
