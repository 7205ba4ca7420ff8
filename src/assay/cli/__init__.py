"""The `assay` command line: parse, call one library function, render."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    try:
        if _head_start(sys.argv[1:]):
            return
    except KeyboardInterrupt:  # as click ends an interrupted command
        sys.stderr.write("Aborted!\n")
        sys.exit(1)
    from assay.cli._app import cli

    cli(prog_name="assay")


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
