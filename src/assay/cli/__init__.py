"""The `assay` command line: parse, call one library function, render."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    if _head_start(sys.argv[1:]):
        return
    from assay.cli._app import cli

    cli(prog_name="assay")


def _head_start(args: list[str]) -> bool:
    """Work a command can do before the command line loads (the imports are most of a quick
    command's time), for ``data status [NAME] [--json]`` only: print the recorded answer if
    nothing it was computed from has changed (see `assay.data.replay_status`), and whether it
    did; else start walking the tree for its stat signature (see `assay.data.prefetch_status`).
    Anything else, or any other option, does nothing."""
    words = [a for a in args if a != "--json"]
    if words[:2] == ["data", "status"] and len(words) <= 3 and not any(w.startswith("-") for w in words[2:]):
        from assay.data import replay_status

        if replay_status(words[2] if len(words) == 3 else None, as_json="--json" in args):
            return True
        # Only now: it loads the fork helper, which the answer does without.
        from assay.data import prefetch_status

        prefetch_status(words[2:] or None)
    return False
