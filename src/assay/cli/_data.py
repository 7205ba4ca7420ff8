"""`assay data …`: version, inspect, verify and move datasets."""

from __future__ import annotations

from typing import Any

import click

from assay.cli._data_transfer import pull_cmd, push_cmd, render_damage
from assay.cli._output import counted, echo_err, emit, escaped, handle_errors, json_option, quoted, size_text
from assay.cli._table_diff import render_table_diff
from assay.errors import NotFoundError, UsageError
from assay.workspace import Workspace


def _age(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return counted(int(seconds // size), unit) if seconds != size else unit
    return f"{seconds:g} s"


@click.group()
def data() -> None:
    """Version, inspect, verify and move datasets."""


@data.command("add")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--name", "-n", required=True, help="Dataset name.")
@click.option("-m", "--message", default="", help="What this version is.")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=0,
              help="Readers: forked processes for many files (threads where a fork is unsafe); 1 reads in this "
                   "process (default: one per core).")
@click.option("--allow-overlap", is_flag=True,
              help="Add from a folder that is, holds or is inside another dataset's (refused otherwise: the two "
                   "would share its files, and a checkout of one rewrites the other's).")
@click.option("--allow-empty", is_flag=True,
              help="Record a version that holds no files even where the dataset's latest version has files "
                   "(refused otherwise: an emptied folder would silently become the latest).")
@json_option
@handle_errors
def add_cmd(paths: tuple[str, ...], name: str, message: str, jobs: int, allow_overlap: bool, allow_empty: bool,
            as_json: bool) -> None:
    """Snapshot files or folders as the next version of a dataset."""
    from assay.data import add

    ws = Workspace.open()
    result = add(ws, list(paths), name=name, message=message, jobs=jobs, allow_overlap=allow_overlap,
                 allow_empty=allow_empty)

    def render() -> None:
        v = result.version
        if result.created:
            click.echo(f"{v.ref}  {v.snapshot[:12]}  {counted(result.files, 'file')}, {size_text(result.bytes)}; "
                       f"stored {counted(result.new_chunks, 'new chunk')} ({size_text(result.new_bytes_stored)})")
        else:
            click.echo(f"unchanged: {name} is already {v.ref} ({v.snapshot[:12]}); no new version made")
        if result.ignored or result.ignored_folders:
            left = [counted(n, what) for n, what in ((result.ignored, "file"), (result.ignored_folders, "folder")) if n]
            click.echo(f"ignored: {', '.join(left)} (.assayignore)")
        for w in result.warnings:
            click.echo(f"warning: {escaped(w)}", err=True)

    emit(result, as_json, render)


@data.command("status")
@click.argument("name", required=False)
@json_option
@handle_errors
def status_cmd(name: str | None, as_json: bool) -> None:
    """Files added, removed or modified since the checked-out (or latest) version; NAME@REF
    compares with that version instead. A registered model's files are compared where its
    checkout writes them (.assay-model-NAME/)."""
    from assay.data import status
    from assay.data._status import status_all

    ws = Workspace.open()
    results = [status(ws, name)] if name else status_all(ws)

    def render() -> None:
        if not results:
            from assay.data import list_datasets

            models = [d["name"] for d in list_datasets(ws, kind="model") if d["versions"]]
            click.echo("no datasets yet; add one with `assay data add PATH --name NAME`"
                       + (f" (registered models: `assay data status NAME` compares one, e.g. {models[0]})" if models else ""))
            if left := ws.unswept_temps():  # (a killed first add: status does not open the store, which sweeps them)
                echo_err(f"note: {counted(len(left), 'temp file')} ({size_text(sum(t.size for t in left))}) that killed "
                         "assay commands left are in the workspace: `assay data gc`, or any add or pull, frees them")
        for st in results:
            _render_status(st)

    emit(results[0] if name else {"datasets": results}, as_json, render)


def _render_status(st: Any) -> None:
    if not st.dirty:
        click.echo(f"{st.dataset}: clean against {st.against.ref} ({counted(st.unchanged, 'file')})")
    elif not st.checked_out and st.ignored_sources:  # (there, maybe, but never looked at)
        notes = st.ignored_notes()
        click.echo(f"{st.dataset}: none of its files are compared ({counted(len(st.removed), 'file')} in "
                   f"{st.against.ref}): {escaped('; '.join(why for why, _ in notes))}")
        for _, fix in notes:
            click.echo(f"  hint: {escaped(fix)} to compare them")
    elif not st.checked_out:
        click.echo(f"{st.dataset}: not checked out here ({counted(len(st.removed), 'file')} in "
                   f"{st.against.ref}); `assay data checkout {quoted(st.against.ref)}` writes them")
    else:
        click.echo(f"{st.dataset}: changes against {st.against.ref}")
        for label, paths in (("added", st.added), ("modified", st.modified), ("removed", st.removed)):
            for p in paths:
                mode = st.modes.get(p) if label == "modified" else None
                why = (f" ({'content and ' if mode['content_changed'] else ''}mode {mode['old']} -> {mode['new']})"
                       if mode else "")
                click.echo(f"  {label:9} {quoted(p)}{why}")
        for why, fix in st.ignored_notes():
            click.echo(f"  {escaped(why)}: its files show as removed; {escaped(fix)} to compare them")
    for o in st.overlaps:  # (a workspace from before overlaps were refused, or one allowed)
        click.echo(f"  shares files with {o.kind} {o.other!r}: {escaped(o.where())}: this status counts changes "
                   "to them as this dataset's, and a checkout of either rewrites the other's")


@data.command("log")
@click.argument("name", required=False)
@click.option("--remote", "-r", default=None,
              help="List the versions on this remote instead (read from its refs: nothing is pulled); without NAME, "
                   "the datasets it holds.")
@json_option
@handle_errors
def log_cmd(name: str | None, remote: str | None, as_json: bool) -> None:
    """The versions of dataset NAME, newest first; NAME@REF shows only that version."""
    from assay.data import log

    if remote is not None:
        _remote_log(name, remote, as_json)
        return
    if name is None:
        raise click.UsageError("Missing argument 'NAME' (without --remote): `assay data ls` lists this "
                               "workspace's datasets, `assay data log --remote R` a remote's.")
    versions = log(Workspace.open(), name)
    if versions:
        name = versions[0].dataset  # NAME@REF: that one version

    def render() -> None:
        for v in versions:
            run = f"  run {v.run_id[:12]}" if v.run_id else ""
            by = f"  by {escaped(v.by)}" if v.by else ""
            click.echo(f"{v.ref:24} {v.snapshot[:12]}  {v.created_at[:19]}  {counted(v.files, 'file')}, {size_text(v.bytes)}  {_first_line(v.message)}{by}{run}")

    emit({"dataset": name, "versions": versions}, as_json, render)


def _first_line(message: str) -> str:
    lines = message.splitlines() or [""]  # a message of several lines shows its first, as git's --oneline
    return lines[0] + (" …" if len(lines) > 1 else "")


def _remote_log(name: str | None, remote: str, as_json: bool) -> None:
    from assay.data import remote_log

    doc = remote_log(Workspace.open(), name, remote=remote)

    def here(v: dict[str, Any]) -> str:
        if v["here"] is None:
            return "  (not here)"
        return "" if v["here"] == v["ref"] else f"  (here {v['here'].rpartition('@')[2]})"

    def render() -> None:
        if name is None:
            if not doc["datasets"]:
                click.echo(f"remote {remote} holds no versions")
            for d in doc["datasets"]:
                v = d["latest"]
                if d["latest_ambiguous"]:
                    click.echo(f"{d['name']:24} {d['kind']:8} {counted(d['versions'], 'version')}, latest "
                               f"{v['version']} names {len(d['latest_ambiguous'])} versions, pushed from different "
                               f"workspaces: {', '.join(d['latest_ambiguous'])}")
                    continue
                click.echo(f"{d['name']:24} {d['kind']:8} {counted(d['versions'], 'version')}, latest {v['version']} "
                           f"{v['snapshot'][:12]}  {v['created_at'][:19]}{here(v)}")
        for v in doc.get("versions", []):
            by = f"  by {escaped(v['by'])}" if v["by"] else ""
            click.echo(f"{v['ref']:24} {v['snapshot'][:12]}  {v['created_at'][:19]}  {counted(v['files'], 'file')}, "
                       f"{size_text(v['bytes'])}  {escaped(_first_line(v['message']))}{by}{here(v)}")
        for key in doc["damaged"]:
            echo_err(f"warning: version ref {key} on remote {remote} does not read; passed over "
                     f"(`assay data verify --remote {remote}` lists the damage)")

    emit(doc, as_json, render)


@data.command("ls")
@click.argument("ref", required=False)
@click.option("--remote", "-r", default=None,
              help="List the files of REF on this remote (read from its snapshot: no data is pulled).")
@json_option
@handle_errors
def ls_cmd(ref: str | None, remote: str | None, as_json: bool) -> None:
    """The files of NAME@REF, or the datasets when no REF is given."""
    from assay.data import list_datasets, ls, remote_ls

    ws = Workspace.open()
    if remote is not None and ref is None:
        if remote not in ws.config.remotes:  # a mistyped remote is said as such first
            raise NotFoundError(f"no remote named {remote!r}",
                                hint="known remotes: " + (", ".join(ws.config.remotes) or "none"))
        raise UsageError("name the version whose files to list: NAME@REF --remote R",
                         hint=f"`assay data log --remote {remote}` lists the datasets it holds")
    if ref is None:
        datasets = list_datasets(ws)
        emit({"datasets": datasets}, as_json, lambda: [click.echo(f"{d['name']:24} {d['kind']:8} {counted(d['versions'], 'version')}, latest {d['latest']}") for d in datasets])
        return
    version, files = remote_ls(ws, ref, remote=remote) if remote is not None else ls(ws, ref)

    def render() -> None:
        for f in files:
            click.echo(f"{f['mode']:>4} {f['size']:>14} {quoted(f['path'])}")

    emit({"version": version, "files": files}, as_json, render)


@data.command("diff")
@click.argument("old")
@click.argument("new", required=False)
@click.option("--key", "-k", multiple=True, help="Key column(s) for table row diffs (default: row hash).")
@click.option("--no-tables", is_flag=True, help="Only compare files, not the rows inside Parquet/CSV files.")
@json_option
@handle_errors
def diff_cmd(old: str, new: str | None, key: tuple[str, ...], no_tables: bool, as_json: bool) -> None:
    """What changed between two versions: files, and for tables schema, rows and column summaries.

    With only OLD, what changed on disk since that version (a bare NAME: the version checked
    out there), as `assay data status` finds it, tables' rows included.

    Exits 2 after printing the diff if the rows of a table could not be read."""
    from assay.data import diff

    keys = [k.strip() for item in key for k in item.split(",")] if key else None  # an empty name is refused
    result = diff(Workspace.open(), old, new, key=keys, tables=not no_tables)

    def render() -> None:
        click.echo(f"{result.old.ref} -> {result.new.ref if result.new else 'working files'}: "
                   f"{len(result.added)} added, {len(result.removed)} removed, "
                   f"{len(result.modified)} modified, {result.unchanged} unchanged"
                   + (f"; empty folders: {len(result.folders_added)} added, {len(result.folders_removed)} removed"
                      if result.folders_added or result.folders_removed else ""))
        for f in result.added:
            click.echo(f"  added     {quoted(f['path'])} ({size_text(f['size'])})")
        for f in result.removed:
            click.echo(f"  removed   {quoted(f['path'])}")
        for folder in result.folders_added:
            click.echo(f"  added     {quoted(folder + '/')} (empty folder)")
        for folder in result.folders_removed:
            click.echo(f"  removed   {quoted(folder + '/')} (empty folder)")
        for f in result.modified:
            mode = f["old_mode"] != f["new_mode"]
            chunks = f", {counted(f['chunks_new'], 'new chunk')}" if f["chunks_new"] is not None else ""
            what = [f"{size_text(f['old_size'])} -> {size_text(f['new_size'])}{chunks}"] if f["content_changed"] or not mode else []
            what += [f"mode {f['old_mode']} -> {f['new_mode']}"] if mode else []
            click.echo(f"  modified  {quoted(f['path'])} ({'; '.join(what)})")
        for path, t in result.tables.items():
            click.echo(f"  table {quoted(path)}:")
            if "error" in t:
                click.echo(f"    could not compare rows: {t['error']}")
                if t.get("hint"):
                    click.echo(f"      hint: {t['hint']}")
                for change in ("added", "removed"):
                    for col in (t.get("schema") or {}).get(change, []):
                        click.echo(f"    column {change:<9}{quoted(col['name'])}")
                continue
            render_table_diff(t)

    emit(result, as_json, render)
    if result.tables_failed:  # the file diff is done, its table part is not: an input error
        if not as_json:
            failed = result.tables_failed
            echo_err(f"the rows of {counted(len(failed), 'table')} could not be compared: {', '.join(map(quoted, failed))} "
                     "(each says why above); the file diff above is complete")
        raise SystemExit(2)


@data.command("checkout")
@click.argument("ref")
@click.option("--to", "to", type=click.Path(file_okay=False), help="Write into this folder instead of where the data was added.")
@click.option("--force", is_flag=True, help="Overwrite local changes; with --to, also remove the folder's files that "
              "the version lacks (only files that are a file of some version, never the workspace's own data).")
@json_option
@handle_errors
def checkout_cmd(ref: str, to: str | None, force: bool, as_json: bool) -> None:
    """Materialize NAME@REF exactly, verifying every chunk."""
    from assay.data import checkout

    result = checkout(Workspace.open(), ref, to=to, force=force)

    def render() -> None:
        click.echo(f"checked out {result.version.ref} into {result.target}: {len(result.written)} written, "
                   f"{result.unchanged} unchanged, {len(result.removed)} removed")
        for w in result.warnings:
            click.echo(f"warning: {escaped(w)}", err=True)

    emit(result, as_json, render)


@data.command("verify")
@click.argument("ref", required=False)
@click.option("--all", "all_objects", is_flag=True, help="Check every stored object, not just one version's.")
@click.option("--remote", "-r", help="Check this remote's copy instead (reads back everything checked).")
@json_option
@handle_errors
def verify_cmd(ref: str | None, all_objects: bool, remote: str | None, as_json: bool) -> None:
    """Re-hash stored objects. Exit 1 listing each damaged object and what contains it."""
    from assay.data import verify

    ws = Workspace.open()
    report = verify(ws, ref, all_objects=all_objects or ref is None, remote=remote)
    on = f" on remote {report.remote}" if report.remote else ""

    def render() -> None:
        if report.leftovers:  # not damage: nothing reads them
            click.echo(f"note: remote {report.remote} holds {counted(len(report.leftovers), 'pack')} without an "
                       f"index ({size_text(report.leftover_bytes)}), left by interrupted pushes: "
                       + ", ".join(report.leftovers[:5]) + (f" and {len(report.leftovers) - 5} more"
                                                             if len(report.leftovers) > 5 else "")
                       + f"; `assay data push --repair --remote {report.remote}` removes those no version needs",
                       err=True)
        if report.ok and report.empty and not report.checked_chunks:
            if report.remote:
                click.echo(f"nothing to verify: remote {report.remote} holds no versions at all, so nothing was "
                           "checked; if it should, check its URL (`assay remote list`)")
            else:
                click.echo(f"nothing to verify: this workspace ({escaped(str(ws.root))}) holds no versions at all, "
                           "so nothing was checked; `assay data add PATH --name NAME` records one")
            return
        if report.ok and report.empty:  # objects, but no version: not called intact (an interrupted first push or add)
            where = f"remote {report.remote}" if report.remote else f"this workspace ({escaped(str(ws.root))})"
            finish = (f"an interrupted first push? `assay data push --remote {report.remote}` from the workspace that "
                      f"sent it finishes it; if {report.remote} should hold versions, check its URL (`assay remote list`)"
                      if report.remote else "an interrupted first add? `assay data add` records a version, and "
                      "`assay data gc` frees what no version needs")
            click.echo(f"no versions: {where} holds no versions at all, only {counted(report.checked_chunks, 'chunk')} "
                       f"({size_text(report.checked_bytes)}) and {counted(report.checked_snapshots, 'snapshot')} that no "
                       f"version names (they read back intact): {finish}")
            return
        if report.ok:
            click.echo(f"ok: {counted(report.checked_chunks, 'chunk')} ({size_text(report.checked_bytes)}) and "
                       f"{counted(report.checked_snapshots, 'snapshot')} verified{on}")
            return
        click.echo(f"DAMAGED{on}: {counted(len(report.damaged), 'object')}")
        render_damage(report)
        click.echo("to replace damaged objects with good copies: " + (
            f"`assay data push --repair --remote {report.remote}`" if report.remote
            else "`assay data pull --repair` (from a remote that has them)"))

    emit(report, as_json, render)
    if not report.ok:
        raise SystemExit(1)


@data.command("gc")
@click.option("--dry-run", is_flag=True, help="Only report what would be deleted, and whose holds on the store a gc "
              "would meet now (it takes none and deletes nothing; on an object store it writes and removes one "
              "empty probe to read the store's clock).")
@click.option("--wait", is_flag=True,
              help="Where other workspaces use this store (it is their remote), wait for their pushes, pulls and "
                   "verifies under way to end, holding new ones back, and for another gc or repair there, instead of "
                   "refusing.")
@json_option
@handle_errors
def gc_cmd(dry_run: bool, wait: bool, as_json: bool) -> None:
    """Delete chunks and snapshots that no version references, and temp files that killed
    checkouts left in the datasets' folders.

    Unreferenced packs and snapshots written within the grace time (a day;
    ASSAY_GC_GRACE_SECONDS, 0 for none) are kept for a later run: a write may still be
    under way. What an interrupted add left is freed at once with ASSAY_GC_GRACE_SECONDS=0."""
    from assay.data import gc

    result = gc(Workspace.open(), dry_run=dry_run, wait=wait)
    verb = "would free" if dry_run else "freed"

    def render() -> None:
        _render_gc(result, verb, dry_run)
        if result.gc_now:  # a dry run found the store held by others
            holds = result.store_holds
            what = "; ".join(f"{escaped(h['holder'])} {_doing(h)}" for h in holds[:3]) + (
                f"; and {len(holds) - 3} more" if len(holds) > 3 else "")
            if result.gc_now == "wait":
                behind = ("" if any(h["exclusive"] for h in holds) else
                          " (new pushes, pulls and verifies wait behind it)")
                click.echo(f"a gc --wait now would wait: {what}{behind}")
            else:
                click.echo(f"a gc now would refuse: {what} (`assay data gc --wait` would wait for it)")

    emit(result, as_json, render)


def _doing(hold: dict[str, Any]) -> str:
    if not hold["exclusive"]:
        return "is using the store"
    return f"is waiting to {hold['kind']} the store" if hold["waiting"] else "is deleting from the store"


def _render_gc(result: Any, verb: str, dry_run: bool) -> None:
    # What the bytes are, each with its share: "0 chunks" alone read as if nothing were freed
    # where killed commands' temp files were all of it (a trial).
    packs_left = result.debris_deleted - result.temp_files
    what = [counted(result.chunks_deleted, "chunk") + (f" ({size_text(result.chunk_bytes)})" if result.chunks_deleted else "")]
    what += [counted(result.snapshots_deleted, "snapshot")] if result.snapshots_deleted else []
    what += [f"{counted(packs_left, 'pack')} without an index ({size_text(result.debris_bytes - result.temp_file_bytes)}) "
             f"left by interrupted writes"] if packs_left else []
    what += [f"{counted(result.temp_files, 'temp file')} ({size_text(result.temp_file_bytes)}) left by killed commands"
             ] if result.temp_files else []
    what += [f"{counted(result.checkout_leftovers, 'temp file')} ({size_text(result.checkout_leftover_bytes)}) of "
             "interrupted checkouts in the datasets' folders"] if result.checkout_leftovers else []
    click.echo(
        f"{verb} {size_text(result.bytes_freed)}: {', '.join(what)}; packs deleted {result.packs_deleted}, "
        f"rewritten {result.packs_rewritten}"
        + (f"; {counted(result.kept_aside, 'pack')} that a repair kept under lost/ in the store {'is' if result.kept_aside == 1 else 'are'} left "
           "for you to remove" if result.kept_aside else "")
        + (f"; {counted(result.debris_kept, 'pack')} without an index {'would be ' if dry_run else ''}kept, as some chunk a version needs is missing "
           "(`assay data verify` names it)" if result.debris_kept else "")
        + (f"; {'would keep' if dry_run else 'kept'} {counted(result.pushed_versions_kept, 'version')} pushed to this "
           "store by other workspaces"
           if result.pushed_versions_kept else "")
        + (f"; removed {counted(result.stale_locks_removed, 'lock marker')} of pushes or pulls that were killed"
           if result.stale_locks_removed else "")
        + (f"; {'would keep' if dry_run else 'kept'} {counted(result.recent_kept, 'unreferenced pack or snapshot', 'unreferenced packs or snapshots')} "
           f"written in the last {_age(result.grace_seconds)} (a write may still be under way; "
           "ASSAY_GC_GRACE_SECONDS=0 deletes them now)" if result.recent_kept else ""))


# The commands that move versions between the workspace and a remote (see _data_transfer.py).
data.add_command(push_cmd)
data.add_command(pull_cmd)
