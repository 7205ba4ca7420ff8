"""The root `assay` command group. Subcommands load lazily so `assay --help` stays light."""

from __future__ import annotations

import contextlib
import importlib
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from assay.cli import interrupted, wants_json
from assay.cli._output import report_usage_error, shown_streams
from assay.errors import AssayWarning

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
        with _contracts(ctx.meta.get("assay.as_json", False)), shown_streams(), _no_api_warnings():
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
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=lambda ctx, _p, value: _version(ctx, value),
              help="Show the version, the ledger schema it writes, and its source commit where it runs from a git checkout.")
def cli() -> None:
    """assay: versioned data, statistical regression gates and drift detection for ML models.

    Exit codes: 0 ok / passed, 1 negative verdict (gate failed, drift or corruption
    found), 2 usage or input error, 3 internal error, 130 interrupted (Ctrl-C), 143 / 129
    ended by SIGTERM / SIGHUP. `assay run` exits with its command's own status.
    """


def _version(ctx: click.Context, value: bool) -> None:
    """``assay --version``: the package version, and what tells two builds of one version apart
    (teammates on different commits): the ledger schema it writes and, run from a git
    checkout, that checkout's commit."""
    if not value or ctx.resilient_parsing:
        return
    import assay
    from assay.ledger._migrations import MIGRATIONS

    said = f"assay, version {assay.__version__} (ledger schema {MIGRATIONS[-1][0]}"
    commit = source_commit()
    said += f", source {commit[:12]})" if commit else ")"
    click.echo(said)
    ctx.exit(0)


def source_commit(top: Path | None = None) -> str | None:
    """The commit of the git checkout (``top``, by default the one this package runs from, in
    an editable install), read off ``.git`` without running git; None for an installed wheel
    or anything unreadable."""
    if top is None:
        here = Path(__file__).resolve()
        if here.parents[2].name != "src":  # installed (site-packages, or --target into some repository's folder)
            return None
        top = here.parents[3]
    git = top / ".git"
    try:
        if git.is_file():  # a worktree: "gitdir: PATH"
            git = (top / git.read_text(encoding="utf-8").split(":", 1)[1].strip()).resolve()
        if not (top / "src" / "assay").is_dir():
            return None
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref: "):
            return head if re.fullmatch(r"[0-9a-f]{40}", head) else None
        ref = head[5:]
        common = git
        with contextlib.suppress(OSError):  # a worktree keeps its branches in the main repository
            common = (git / (git / "commondir").read_text(encoding="utf-8").strip()).resolve()
        for base in (git, common):
            with contextlib.suppress(OSError):
                sha = (base / ref).read_text(encoding="utf-8").strip()
                if re.fullmatch(r"[0-9a-f]{40}", sha):
                    return sha
        for line in (common / "packed-refs").read_text(encoding="utf-8").splitlines():
            sha, _, name = line.partition(" ")
            if name == ref and re.fullmatch(r"[0-9a-f]{40}", sha):
                return sha
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    return None


@contextmanager
def _no_api_warnings() -> Iterator[None]:
    """Each command prints its result's warnings itself (``warning: ...`` on stderr, or in the
    --json document): the same, issued as AssayWarnings for the Python API's users, would say
    them twice, and ``-W error`` or ``PYTHONWARNINGS=error`` would turn them into failures."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AssayWarning)
        yield


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
