"""`assay data push` and `assay data pull` (with `--repair`): move versions between the
workspace and a remote. Registered on the `assay data` group in :mod:`assay.cli._data`."""

from __future__ import annotations

from typing import Any

import click

from assay.cli._output import counted, emit, escaped, handle_errors, json_option, quoted, size_text
from assay.errors import CorruptionError, UsageError
from assay.workspace import Workspace

__all__ = ["pull_cmd", "push_cmd", "render_damage"]


@click.command("push")
@click.argument("ref", required=False)
@click.option("--remote", "-r", help="Remote name (default: the default remote).")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=0, help="Parallel transfers (default: automatic, 2-4).")
@click.option("--repair", is_flag=True,
              help="Check every object on the remote and replace each damaged or missing one with this "
                   "workspace's good copy; exit 1 if damage remains.")
@click.option("--all-versions", "every_version", is_flag=True, help="With NAME: send every version of it, not only its latest.")
@json_option
@handle_errors
def push_cmd(ref: str | None, remote: str | None, jobs: int, repair: bool, every_version: bool, as_json: bool) -> None:
    """Send NAME@REF to a remote (NAME alone: its latest version, or with --all-versions every
    version of it; no REF: every version of every dataset); only missing chunks travel."""
    if repair:
        if every_version:
            raise UsageError("--repair checks every object on the remote: --all-versions does not go with it")
        _repair(ref, remote, on_remote=True, as_json=as_json, jobs=jobs)
        return
    from assay.data import push

    result = push(Workspace.open(), ref, remote=remote, jobs=jobs, every_version=every_version)
    for note in result.notes:
        click.echo(f"note: {escaped(note)}", err=True)

    def render() -> None:
        there = len(result.versions_already_there)
        if not result.versions_transferred:
            if not there:
                click.echo(f"nothing to push: this workspace has no versions{_named(ref)}")
                return
            what = result.versions_already_there[0] if there == 1 else f"all {there} versions"
            if result.records_sent:
                click.echo(f"remote {result.remote} has {what} already; sent {_records(result.records_sent)}")
                return
            click.echo(f"nothing to push: remote {result.remote} has {what} already")
            return
        click.echo(f"pushed {counted(len(result.versions_transferred), 'version')} to {result.remote}"
                   + (f" ({there} more already there)" if there else "")
                   + f": {counted(result.chunks_transferred, 'chunk')} ({size_text(result.bytes_transferred)}) sent, "
                   f"{counted(result.chunks_present, 'chunk')} already there"
                   + (f"; sent {_records(result.records_sent)}" if result.records_sent else ""))

    emit(result, as_json, render)


def _named(ref: str | None) -> str:
    return f" of {ref}" if ref else ""


def _records(count: int) -> str:
    return f"{counted(count, 'check or drift record')} of these versions"


@click.command("pull")
@click.argument("ref", required=False)
@click.option("--remote", "-r", help="Remote name (default: the default remote).")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=0, help="Parallel transfers (default: automatic, 2-4).")
@click.option("--checkout", "do_checkout", is_flag=True, help="Also check out each pulled dataset's newest version on the remote (its highest number there); "
                   "refused, before anything is fetched, where two workspaces each pushed their own version with "
                   "that number: name one as NAME@HASH.")
@click.option("--repair", is_flag=True,
              help="Check every object in this workspace's store and replace each damaged or missing one with "
                   "the remote's good copy; exit 1 if damage remains.")
@click.option("--allow-overlap", is_flag=True,
              help="Pull a dataset whose folder is, holds, or is inside another dataset's here (they would share "
                   "those files).")
@click.option("--all-versions", "every_version", is_flag=True, help="With NAME: fetch every version of it on the remote, not only its newest.")
@json_option
@handle_errors
def pull_cmd(ref: str | None, remote: str | None, jobs: int, do_checkout: bool, repair: bool, allow_overlap: bool,
             every_version: bool, as_json: bool) -> None:
    """Fetch NAME@REF (default: everything) from a remote, verifying every chunk (NAME alone: its
    newest version there, or with --all-versions every version of it)."""
    if repair and every_version:
        raise UsageError("--repair checks every object in this workspace's store: --all-versions does not go with it")
    if repair:
        _repair(ref, remote, on_remote=False, as_json=as_json, jobs=jobs, checkout=do_checkout,
                allow_overlap=allow_overlap)
        return
    from assay.data import pull

    try:
        result = pull(Workspace.open(), ref, remote=remote, jobs=jobs, checkout=do_checkout, allow_overlap=allow_overlap,
                      every_version=every_version)
    except (UsageError, CorruptionError) as exc:  # a refused checkout or lost chunks after the pull: its notes count
        done = exc.details.get("pull")
        if isinstance(done, dict) and not as_json:  # (the JSON error carries them under "pull")
            _pull_notes(done)
        raise
    _pull_notes(result.to_dict())

    def render() -> None:
        here = len(result.versions_already_there)
        checked_out = f"; checked out {', '.join(result.checked_out)}" if result.checked_out else ""
        if not result.versions_transferred and not result.chunks_transferred:
            if not here:  # (a NAME@REF it lacks is refused before)
                click.echo(f"nothing to pull: remote {result.remote} holds no versions at all{_named(ref)}{checked_out}; "
                           "if it should, check its URL (`assay remote list`)")
                return
            if here == 1:  # as the remote numbers it, and as this workspace does where that differs
                ref_here = result.versions_already_there[0]
                there = result.remote_refs.get(ref_here)
                what = (f"{result.remote}'s {there} (here {ref_here.rpartition('@')[2]})" if there
                        else f"{result.remote}'s {ref_here}")
            else:
                what = f"all {here} versions of {result.remote}"
            if result.records_received:
                click.echo(f"this workspace has {what} already; recorded "
                           f"{_records(result.records_received)}{checked_out}")
                return
            click.echo(f"nothing to pull: this workspace has {what} already{checked_out}")
            return
        if not result.versions_transferred:  # chunks that versions here lacked (see the notes)
            click.echo(f"no version to pull: this workspace has {counted(here, 'version')} of {result.remote} already; "
                       f"fetched {counted(result.chunks_transferred, 'chunk')} ({size_text(result.bytes_transferred)}) they lacked"
                       + checked_out)
            return
        click.echo(f"pulled {counted(len(result.versions_transferred), 'version')} from {result.remote}"
                   + (f" ({here} more already here)" if here else "")
                   + f": {counted(result.chunks_transferred, 'chunk')} ({size_text(result.bytes_transferred)}) fetched, "
                   f"{counted(result.chunks_present, 'chunk')} already here"
                   + (f"; recorded {_records(result.records_received)}" if result.records_received else "") + checked_out)

    emit(result, as_json, render)


def _pull_notes(result: dict[str, Any]) -> None:
    """A pull's notes on stderr (the JSON document lists them too): versions that took other
    numbers here, and what the remote's records said."""
    for moved in result["renumbered"]:
        by = f", made by {escaped(moved['by'])}," if moved.get("by") else ""
        there, here = moved["remote"].rpartition("@")[2], moved["here"].rpartition("@")[2]
        name = moved["here"].rpartition("@")[0]
        click.echo(f"note: {result['remote']}'s {moved['remote']} ({moved['snapshot'][:12]}){by} is {moved['here']} "
                   f"here ({result['remote']}'s {there}, here {here}: another version has {there} here); "
                   f"{name}@{moved['snapshot'][:12]} names it in both", err=True)
    for note in result["notes"]:
        click.echo(f"note: {escaped(note)}", err=True)


def _repair(ref: str | None, remote: str | None, *, on_remote: bool, as_json: bool, jobs: int,
            checkout: bool = False, allow_overlap: bool = False) -> None:
    from assay.data import repair

    if ref:
        raise UsageError("--repair checks the whole store, not one version", hint="leave out NAME@REF")
    # (a repair records no dataset, so no overlap for --allow-overlap to let through)
    for given, option in ((jobs, "--jobs"), (checkout, "--checkout"), (allow_overlap, "--allow-overlap")):
        if given:
            raise UsageError(f"--repair does not take {option}", hint="run the repair on its own")
    result = repair(Workspace.open(), remote=remote, on_remote=on_remote)

    def render() -> None:
        mended, source = (result.store, "the workspace") if on_remote else ("the workspace's store", result.source)
        click.echo(f"checked {counted(result.checked_chunks, 'chunk')} and {counted(result.checked_snapshots, 'snapshot')} in {mended}; "
                   f"repaired {counted(len(result.repaired), 'object')} "
                   f"({counted(result.chunks_copied, 'chunk')}, {size_text(result.bytes_copied)} copied from {source}; "
                   + (f"{result.found_in_place} found in place, where a damaged index no longer named them; "
                      if result.found_in_place else "")
                   + f"{counted(result.packs_rewritten, 'pack')} rewritten)")
        for name in result.repaired:
            click.echo(f"  repaired {name}")
        for name in result.kept_aside:
            click.echo(f"  kept {name} under lost/: it holds bytes that could not be placed (never deleted)")
        for name in result.orphans_aside:
            click.echo(f"  kept {name} under lost/: it has no index, and a chunk a version needs is missing (it may "
                       "hold it)")
        for name in result.orphans_removed:
            click.echo(f"  removed {name}: it had no index for an hour or more (an interrupted push's), and every "
                       "chunk a version needs is in another pack")
        for name in result.left_as_is:
            click.echo(f"  left {name} as it was: the store changed while the repair ran (a gc?); run it again")
        for name in result.unmended_refs:
            click.echo(f"  left {name}: a version not known here, or its number is lost; "
                       "repair from the workspace that pushed it, or remove it on the remote")
        after = result.after
        if after is None:
            click.echo("not verified afterwards: the refs above cannot be read")
            return
        if after.ok:
            click.echo(f"ok: {counted(after.checked_chunks, 'chunk')} and {counted(after.checked_snapshots, 'snapshot')} verified afterwards")
            return
        click.echo(f"still DAMAGED: {counted(len(after.damaged), 'object')} with no good copy here or there")
        render_damage(after)

    emit(result, as_json, render)
    if not result.ok:
        raise SystemExit(1)


def render_damage(report: Any) -> None:
    for d in report.damaged:
        click.echo(f"  {quoted(d.object)}: {escaped(d.reason)}")
        for a in d.affected:
            click.echo(f"    in {a['ref']}  {quoted(a['path'])}")
    for entry in report.downstream:
        click.echo(f"  downstream {entry['ref']} was built from {', '.join(entry['built_from'])}")
