"""The `assay` command line: parse, call one library function, render."""

from __future__ import annotations

from assay.cli._app import cli

__all__ = ["main"]


def main() -> None:
    cli(prog_name="assay")
