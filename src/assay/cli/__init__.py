"""The `assay` command line: parse, call one library function, render."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing itself is not loaded for this (see assay/__init__.py)
if TYPE_CHECKING:
    from typing import NoReturn

__all__ = ["main"]


def main() -> None:
    """Run the `assay` command line. Exit codes: 0 ok, 1 negative verdict, 2 usage or input
    error, 3 internal error, 130 interrupted (Ctrl-C) wherever the interrupt lands."""
    args = sys.argv[1:]
    try:
        if _head_start(args):
            return
        from assay.cli._app import cli

        cli(prog_name="assay")
    except KeyboardInterrupt:  # start-up, or a moment click does not cover
        interrupted(as_json=wants_json(args))


def wants_json(args: list[str]) -> bool:
    """Whether ``--json`` is among assay's own arguments (those after ``--`` are a command's)."""
    return "--json" in (args[:args.index("--")] if "--" in args else args)


def interrupted(*, as_json: bool) -> NoReturn:
    """End an interrupted command: exit 130 (as a shell does for SIGINT), one line on stderr,
    no traceback; 1 would read as a negative verdict. A second Ctrl-C while the interpreter
    winds down ends it at once, quietly."""
    import _signal  # the C module behind `signal`: nothing more to load
    import os

    try:
        if as_json and sys.stdout is not None:  # stdout stays one JSON document, as for every error
            sys.stdout.write('{"error": "Interrupted", "message": "interrupted", "hint": null}\n')
            sys.stdout.flush()
    except OSError:
        pass
    try:
        if sys.stderr is not None:  # (a terminal shows ^C without a newline)
            sys.stderr.write(("\n" if sys.stderr.isatty() else "") + "assay: interrupted\n")
            sys.stderr.flush()
    except OSError:
        pass
    try:
        _signal.signal(_signal.SIGINT, lambda *_: os._exit(130))
    except ValueError:  # not the main thread: only it may set a handler
        pass
    raise SystemExit(130)


def _head_start(args: list[str]) -> bool:
    """Work a command can do before the command line loads (the imports are most of a quick
    command's time), for ``data status [NAME] [--json]`` only: print the recorded answer if
    nothing it was computed from has changed (see `assay.data.replay_status`), and whether it
    did; else start walking the tree for its stat signature (see `assay.data.prefetch_status`).
    Anything else, or any other option, does nothing."""
    if args[:2] != ["data", "status"]:
        return False
    words = [a for a in args[2:] if a != "--json"]
    if len(words) > 1 or any(w.startswith("-") for w in words):
        return False
    from assay.data import replay_status

    answer = replay_status(words[0] if words else None, as_json="--json" in args)
    if answer is not None and sys.stdout is not None:
        _print(answer, as_json="--json" in args)
        return True
    # Only now: it loads the fork helper, which the answer does without.
    from assay.data import prefetch_status

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
