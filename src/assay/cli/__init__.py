"""The `assay` command line: parse, call one library function, render."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    _head_start(sys.argv[1:])
    from assay.cli._app import cli

    cli(prog_name="assay")


def _head_start(args: list[str]) -> None:
    """Work a command can begin before the command line loads (the imports are most of a
    quick command's time): ``data status [NAME]`` starts walking the tree for its stat
    signature (see `assay.data.prefetch_status`). Anything else, or any other option, starts nothing."""
    words = [a for a in args if a != "--json"]
    if words[:2] == ["data", "status"] and len(words) <= 3 and not any(w.startswith("-") for w in words[2:]):
        from assay.data import prefetch_status

        prefetch_status(words[2:] or None)
