"""The root `assay` command group. Subcommands load lazily so `assay --help` stays light."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from assay.cli import interrupted, wants_json
from assay.cli._output import report_usage_error, shown_streams

__all__ = ["COMMANDS", "cli"]

# name -> "module:attribute". Each pillar adds its own line here.
COMMANDS: dict[str, str] = {
    "init": "assay.cli._init:init",
    "data": "assay.cli._data:data",
    "remote": "assay.cli._remote:remote",
    "run": "assay.cli._run:run",
    "lineage": "assay.cli._lineage:lineage",
    "check": "assay.cli._check:check",
    "model": "assay.cli._model:model",
    "drift": "assay.cli._drift:drift",
    "serve": "assay.cli._serve:serve",
    "monitor": "assay.cli._monitor:monitor",
    "token": "assay.cli._token:token",
    "user": "assay.cli._user:user",
}


class LazyGroup(click.Group):
    """The root group: loads subcommands lazily, and keeps the exit-code and --json contracts
    for what click itself reports (a usage error exits 2, with --json as a JSON document on
    stdout) and for an interrupt (130, see `assay.cli.interrupted`)."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        as_json = wants_json(args)
        with _contracts(as_json):
            ctx = super().make_context(info_name, args, parent, **extra)
        ctx.meta["assay.as_json"] = as_json
        ctx.color = True  # shown_streams decides: assay's own colours reach a terminal only, and data's escapes are escaped
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        with _contracts(ctx.meta.get("assay.as_json", False)), shown_streams():
            return super().invoke(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        command: Any = getattr(importlib.import_module(module), attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="assay", prog_name="assay")
def cli() -> None:
    """assay: versioned data, statistical regression gates and drift detection for ML models.

    Exit codes: 0 ok / passed, 1 negative verdict (gate failed, drift or corruption
    found), 2 usage or input error, 3 internal error, 130 interrupted (Ctrl-C).
    """


@contextmanager
def _contracts(as_json: bool) -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        interrupted(as_json=as_json)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):  # (click's prompts turn ^C into Abort)
            interrupted(as_json=as_json)
        report_usage_error(click.UsageError("aborted: no input where a prompt needed one"), as_json=as_json)
    except click.ClickException as exc:
        report_usage_error(exc, as_json=as_json)
