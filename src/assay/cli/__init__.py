"""The `assay` command line: parse, call one library function, render."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing itself is not loaded for this (see assay/__init__.py)
if TYPE_CHECKING:
    from typing import NoReturn

__all__ = ["main"]


def main() -> None:
    """Run the `assay` command line. Exit codes: 0 ok, 1 negative verdict, 2 usage or input
    error, 3 internal error, 130 interrupted (Ctrl-C) wherever the interrupt lands, 143 and
    129 for SIGTERM and SIGHUP (ended as an interrupt is: temp files removed, nothing half
    recorded)."""
    args = sys.argv[1:]
    try:
        if _head_start(args):
            return
        _end_as_interrupted()
        from assay.cli._app import cli

        cli(prog_name="assay")
    except KeyboardInterrupt:  # start-up, or a moment click does not cover
        interrupted(as_json=wants_json(args))


def wants_json(args: list[str]) -> bool:
    """Whether ``--json`` is among assay's own arguments (those after ``--`` are a command's)."""
    return "--json" in (args[:args.index("--")] if "--" in args else args)


_ended_by: list[int] = []  # the signal (SIGTERM, SIGHUP) that _end_as_interrupted turned into an interrupt
_installed_in: list[int] = []  # the process that set the handler: forked workers inherit it


def _signalled(signum: int, frame: object) -> None:
    import os

    if _installed_in and os.getpid() != _installed_in[0]:
        # A forked worker (a pool's, which its parent ends with SIGTERM): it ends as it would
        # have without assay's handler, not with a traceback of an interrupt.
        import _signal

        _signal.signal(signum, _signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _ended_by.append(signum)
    raise KeyboardInterrupt


_signalled.assay_default = True  # type: ignore[attr-defined]  # (assay.lineage passes such signals on to a run's command)


def _end_as_interrupted() -> None:
    """SIGTERM and SIGHUP (``timeout``, ``docker stop``, a cancelled CI job, a closed
    terminal) end a command as Ctrl-C does: the code unwinds, removing its temp files and
    recording nothing half done. By default they would end Python on the spot. A handler
    set before assay started (``nohup``'s) is left alone."""
    import _signal
    import os

    _installed_in[:] = [os.getpid()]
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(_signal, name, None)
        if number is not None and _signal.getsignal(number) == _signal.SIG_DFL:
            _signal.signal(number, _signalled)


def interrupted(*, as_json: bool) -> NoReturn:
    """End an interrupted command: exit 130 (as a shell does for SIGINT; 128 + N for the
    signal N that :func:`_end_as_interrupted` turned into an interrupt), one line on stderr,
    no traceback; 1 would read as a negative verdict. A second signal while the interpreter
    winds down ends it at once, quietly."""
    import _signal  # the C module behind `signal`: nothing more to load
    import os

    code = 128 + _ended_by[0] if _ended_by else 130
    said = {128 + getattr(_signal, "SIGTERM", 15): "terminated", 128 + getattr(_signal, "SIGHUP", 1): "hung up"}.get(
        code, "interrupted")
    try:
        if as_json and sys.stdout is not None:  # stdout stays one JSON document, as for every error
            sys.stdout.write(f'{{"error": "Interrupted", "message": "{said}", "hint": null}}\n')
            sys.stdout.flush()
    except OSError:
        pass
    try:
        if sys.stderr is not None:  # (a terminal shows ^C without a newline)
            sys.stderr.write(("\n" if sys.stderr.isatty() and code == 130 else "") + f"assay: {said}\n")
            sys.stderr.flush()
    except OSError:
        pass
    try:
        for number in (_signal.SIGINT, *(getattr(_signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(_signal, n))):
            _signal.signal(number, lambda *_: os._exit(code))
    except ValueError:  # not the main thread: only it may set a handler
        pass
    raise SystemExit(code)


def _head_start(args: list[str]) -> bool:
    """Work a command can do before the command line loads (the imports are most of a quick
    command's time), for ``data status [NAME] [--json]`` only: print the recorded answer if
    nothing it was computed from has changed (see `assay.data._replay`), and whether it
    did; else start walking the tree for its stat signature (see `assay.data._prefetch`).
    Anything else, or any other option, does nothing."""
    if args[:2] != ["data", "status"]:
        return False
    words = [a for a in args[2:] if a != "--json"]
    if len(words) > 1 or any(w.startswith("-") for w in words):
        return False
    from assay.data._replay import replay_status

    answer = replay_status(words[0] if words else None, as_json="--json" in args)
    if answer is not None and sys.stdout is not None:
        _print(answer, as_json="--json" in args)
        return True
    # Only now: it loads the fork helper, which the answer does without.
    from assay.data._prefetch import prefetch_status

    prefetch_status(words or None)
    return False


def _print(text: str, *, as_json: bool) -> None:
    """Write a command's whole output, failing as the full command would."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # a reader that went away is no error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
    except OSError as exc:
        from assay.cli._output import fail

        fail(exc, as_json=as_json)
