"""What every command shares: --json, error reporting and exit codes."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import click

from assay._wording import counted
from assay.errors import AssayError, InputError, NoSpaceError

__all__ = ["NOT_RECORDED", "counted", "echo_err", "emit", "escaped", "fail", "handle_errors", "json_option", "mistyped_command", "quoted",
           "report_usage_error", "shown", "shown_streams", "size_text", "styled", "to_json"]

F = TypeVar("F", bound=Callable[..., Any])

# what `assay check` and `assay drift` say when there is no ledger to keep their result in
NOT_RECORDED = "not recorded: no assay workspace here (run `assay init` to keep a history)"

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


# Control characters in what a command prints come from data (file names, table values, a
# teammate's run command, a version message): on a terminal they could retitle it, clear it,
# move the cursor or hide text. They are shown escaped, as ``\u001b``; that is also a valid
# JSON escape of the same character, so a JSON document means the same after it.
# Bidirectional overrides are escaped too: they can make a name read as another. Kept on a
# terminal: the colours assay's own output uses (:func:`styled`: bold, foreground colours,
# reset; not concealed text or a background that hides it), and on stderr what progress bars
# draw with (\r, cursor up); messages put on stderr (errors, warnings) are escaped whole first
# (:func:`escaped`). Elsewhere assay writes no colours (:func:`styled` gives plain text), so
# every escape sequence there is data's, and is escaped like any other: none is dropped
# (click's own stripping is turned off for the root context: it removed any escape sequence,
# so a file named "e<ESC>[2Jvil" was shown as "evil").
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_SGR = "\x1b\\[[0-9;]*m"
_KEEP_OUT = re.compile(f"({_SGR})|[{_CONTROLS}]")
_KEEP_ERR = re.compile(f"({_SGR}|\x1b\\[A|\r)|[{_CONTROLS}]")
_ANY = re.compile(f"[{_CONTROLS}]")
_OUR_STYLES = frozenset(["", "0", "1", "22", "39", *map(str, range(31, 38)), *map(str, range(91, 98))])


def _code(char: str) -> str:
    return f"\\u{ord(char):04x}"


def _kept(sequence: str) -> bool:
    """Whether a sequence the patterns single out may pass: a progress bar's \\r or cursor-up,
    or a colour of assay's own (every parameter one of ``_OUR_STYLES``)."""
    return not sequence.endswith("m") or all(p in _OUR_STYLES for p in sequence[2:-1].split(";"))


def shown(text: str, *, terminal: bool = False, err: bool = False) -> str:
    """``text`` with its control characters escaped (see above)."""
    def replace(match: re.Match[str]) -> str:
        sequence = match.group(1)
        if sequence and terminal and _kept(sequence):
            return sequence
        return escaped(match.group(0))

    return (_KEEP_ERR if terminal and err else _KEEP_OUT).sub(replace, text)


def escaped(text: str) -> str:
    """``text`` with every control character escaped, colours and carriage returns too: for
    messages, which carry data (paths, names) and no styling of their own."""
    return _ANY.sub(lambda m: _code(m.group(0)), text)


_UNUSUAL = re.compile(f'[{_CONTROLS}\t\n"\\\\]')


def quoted(name: str) -> str:
    """A file name for a text listing, one line and unambiguous: as it is when it holds no
    control character, line break, tab, quote or backslash; else quoted the way `git ls-files`
    quotes such names, as a JSON string (``"d/a\\nb.txt"``), so one name never reads as two
    and an escape in a name never reads as the character it spells."""
    if not _UNUSUAL.search(name):
        return name
    return escaped(json.dumps(name, ensure_ascii=False))  # json leaves C1 controls and bidi marks as they are


def mistyped_command(group: click.Group, ctx: click.Context, args: list[str], default: str) -> None:
    """For a group whose first word may be a path instead of a command (`assay drift A B`,
    `assay check SUITE`): a bare lowercase word that names no file, given alone or with
    ``--help``, is a mistyped command, refused naming the group's commands; without this,
    ``assay drift spec --help`` printed compare's help as if "spec" were a file. ``default``
    says what a path there does."""
    import os
    import re

    word, rest = args[0], args[1:]
    if [a for a in rest if not a.startswith("-")] or not (not rest or any(a in ("-h", "--help") for a in rest)):
        return
    if re.fullmatch(r"[a-z][a-z0-9_-]*", word) and not os.path.exists(word):
        raise click.UsageError(f"{ctx.command_path} has no command {word!r}; its commands are "
                               f"{', '.join(sorted(group.commands))}, and {default}", ctx)


def size_text(n: int | None) -> str:
    """``n`` bytes as people read them: ``512 B``, ``7.8 KiB``, ``1.2 GiB``; ``?`` for None."""
    if n is None:  # a file gone since it was looked at
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def styled(text: str, *, fg: str | None = None, bold: bool = False, err: bool = False) -> str:
    """``text`` in one of assay's own colours where it goes to a terminal (stdout, or stderr
    with ``err``); as it is elsewhere, where an escape sequence could only be data's."""
    stream = sys.stderr if err else sys.stdout
    return click.style(text, fg=fg, bold=bold) if _on_terminal(stream) else text


def _on_terminal(stream: Any) -> bool:
    if isinstance(stream, _Shown):
        return stream.terminal
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class _Shown:
    """A text stream that writes what it is given through :func:`shown`."""

    def __init__(self, raw: Any, err: bool) -> None:
        self._raw, self._err = raw, err
        try:
            self.terminal = bool(raw.isatty())
        except (AttributeError, ValueError, OSError):
            self.terminal = False

    def write(self, text: str) -> int:
        self._raw.write(shown(text, terminal=self.terminal, err=self._err))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, errors, ...
        if name == "buffer":  # writers go through write(), never around it
            raise AttributeError(name)
        return getattr(self._raw, name)


@contextlib.contextmanager
def shown_streams() -> Iterator[None]:
    """Escape control characters on stdout and stderr while a command runs."""
    saved = sys.stdout, sys.stderr
    if sys.stdout is not None and not isinstance(sys.stdout, _Shown):
        sys.stdout = _Shown(sys.stdout, err=False)  # type: ignore[assignment]
    if sys.stderr is not None and not isinstance(sys.stderr, _Shown):
        sys.stderr = _Shown(sys.stderr, err=True)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def emit(document: Any, as_json: bool, render: Callable[[], None]) -> None:
    """Print ``document`` as JSON on stdout, or call ``render`` for people."""
    if as_json:
        click.echo(to_json(document))
    else:
        render()


def echo_err(message: str) -> None:
    click.echo(escaped(message), err=True)


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
        # Abort (Ctrl-D or Ctrl-C at a prompt) is no ClickException: the command line's contracts judge it
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit, KeyboardInterrupt):
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
    known = _no_space(exc) or _denied(exc)
    if known is None:
        _internal(exc, as_json)
    _report(known.to_dict(), str(known), as_json)
    sys.exit(known.exit_code)


_FULL = (errno.ENOSPC, errno.EDQUOT)


def _no_space(exc: Exception) -> NoSpaceError | None:
    """The error to show for a full disk: an OS error saying so, or SQLite's (which says
    "disk is full", or only "disk I/O error" when it cannot even map its shared-memory
    file: then the workspace's file system is looked at)."""
    if isinstance(exc, OSError) and exc.errno in _FULL:
        where = f" writing {exc.filename}" if exc.filename else ""
        ours = not exc.filename or _in_workspace_store(str(exc.filename))
        side = (" (this workspace's store)" if exc.filename and ours
                else " (this workspace's disk)" if not exc.filename and _workspace_disk_full() else "")
        return NoSpaceError(
            f"no space left on the device{where}{side}",
            hint="free some space there" + (" (`assay data gc` deletes chunks no version uses; those written "
                                            "within its grace time, as by this command, with "
                                            "ASSAY_GC_GRACE_SECONDS=0)"
                                            if ours else "")
                 + ", then rerun: the interrupted command recorded nothing it had not finished")
    if type(exc).__module__.startswith("sqlite3") and ("disk is full" in str(exc) or
                                                       ("disk I/O error" in str(exc) and _workspace_disk_full())):
        return NoSpaceError(
            "the workspace's disk is full: its database cannot even be read",
            hint="free some space on that disk by other means first (assay itself needs a little room to "
                 "open the ledger), then rerun")
    return None


def _in_workspace_store(path: str) -> bool:
    """Whether ``path`` is in a workspace's own folder (where gc can free space), not a
    remote's or a checkout's."""
    from assay._root import WORKSPACE_DIR

    return f"{os.sep}{WORKSPACE_DIR}{os.sep}" in os.path.realpath(path)


_DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)


def _denied(exc: Exception) -> InputError | None:
    """The error to show for a file or folder this user may not read or write (also a
    read-only ledger, which SQLite reports in words): exit 2, naming it, not an internal error."""
    if isinstance(exc, OSError) and exc.errno in _DENIED:
        what = exc.filename or "a file"
        why = "is on a read-only file system" if exc.errno == errno.EROFS else "cannot be accessed by this user"
        return InputError(f"{what} {why} ({exc.strerror})",
                          hint="check the permissions of that file and of the folders above it, then rerun")
    text = str(exc)
    if type(exc).__module__.startswith("sqlite3") and ("readonly database" in text or "unable to open database" in text):
        return InputError(f"the workspace's database cannot be written: {text}",
                          hint="this user needs write access to .assay/ledger.db (and .assay/cache/stat.db), to "
                               "their -wal and -shm files, and to the folders holding them")
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
    debug = bool(os.environ.get("ASSAY_DEBUG"))
    if debug:
        traceback.print_exc()
    hint = "report it with the traceback above" if debug else "rerun with ASSAY_DEBUG=1 for the traceback and report it"
    doc = {"error": "InternalError", "message": f"{type(exc).__name__}: {exc}", "hint": hint}
    _report(doc, f"internal error: {type(exc).__name__}: {exc}\n  hint: {doc['hint']}", as_json)
    sys.exit(3)


def _report(doc: dict[str, Any], text: str, as_json: bool) -> None:
    # Each stream on its own: the error may be that one of them cannot be written.
    for line, err in ((f"error: {escaped(text)}", True), *(((to_json(doc), False),) if as_json else ())):
        try:
            click.echo(line, err=err)
        except OSError:
            pass
