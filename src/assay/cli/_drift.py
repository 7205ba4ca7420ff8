"""`assay drift REFERENCE CURRENT`, `assay drift profile DATA`, `merge`, `log` and `show ID`: parse, call assay.drift, render."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import click

from assay.cli._output import NOT_RECORDED, counted, echo_err, emit, escaped, handle_errors, json_option, mistyped_command, quoted, styled
from assay.errors import UsageError


class _DriftGroup(click.Group):
    """`assay drift A B` runs `compare`; `assay drift profile …` the subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            mistyped_command(self, ctx, args, "`assay drift REFERENCE CURRENT` compares two data sets (every option: assay drift compare --help)")
            args = ["compare", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DriftGroup, subcommand_metavar="REFERENCE CURRENT [OPTIONS] | profile DATA [OPTIONS] | merge PROFILES... --out FILE | log | show ID")
def drift() -> None:
    """Has the data moved away from the reference? `assay drift REFERENCE CURRENT [options]`.

    REFERENCE and CURRENT are Parquet, CSV or Arrow files, folders of Parquet files, or
    dataset references NAME@REF; REFERENCE may also be a saved profile (.json) or
    profile:NAME@REF, and then CURRENT may be a profile counted on its bins
    (`assay drift profile DATA --like REFERENCE.json`, merged with `assay drift merge`).
    Exit 0: no drift by the rule, 1: drift, 2: bad input. Inside a workspace the result
    is recorded: `assay drift log` lists recorded reports, `assay drift show ID` shows one.
    Run `assay drift compare --help` for every option.
    """


def _spec_from_options(opts: dict[str, Any]) -> Any:
    from assay.drift import ColumnRule, DriftSpec, get_stat_test

    base: dict[str, Any] = {}
    if opts["spec_file"]:
        import yaml

        from assay._wording import yaml_problem

        try:
            loaded = yaml.safe_load(Path(opts["spec_file"]).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise UsageError(f"cannot read the drift spec {opts['spec_file']}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise UsageError(f"the drift spec {yaml_problem(exc, opts['spec_file'])}", hint="fix the file at that line: a drift spec is a YAML (or JSON) mapping of fields, e.g. `alpha: 0.01`") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"{opts['spec_file']} must hold a mapping of drift spec fields")
        base = loaded
    spec = DriftSpec.from_dict(base)
    if opts["columns"]:
        spec.columns = tuple(c.strip() for c in opts["columns"].split(",") if c.strip())
    for field in ("target", "prediction", "seed", "alpha", "correction", "fail_on", "method"):
        if opts.get(field) is not None:
            setattr(spec, field, opts[field])
    if opts["no_multivariate"]:
        spec.multivariate = False
    test, threshold = opts["test"], opts["threshold"]
    if threshold is not None and math.isnan(threshold):  # NaN: named as the option, not as a spec field the user never wrote
        raise UsageError("--threshold must be a number, got nan", hint="e.g. --threshold 0.2")
    if test:
        kinds = get_stat_test(test).kinds
        if "numeric" in kinds:
            spec.numeric = ColumnRule(test, threshold)
        if "categorical" in kinds:
            spec.categorical = ColumnRule(test, threshold)
    elif threshold is not None:
        spec.numeric = ColumnRule(spec.numeric.test, threshold)
        spec.categorical = ColumnRule(spec.categorical.test, threshold)
    return spec.validate()


def _workspace() -> Any:
    from assay.errors import WorkspaceNotFoundError
    from assay.workspace import Workspace

    try:
        return Workspace.open()
    except WorkspaceNotFoundError:
        return None


@drift.command("compare")
@click.argument("reference")
@click.argument("current")
@click.option("--columns", help="Comma-separated columns to compare (default: all shared columns).")
@click.option("--target", help="Label column: reported as label drift.")
@click.option("--prediction", help="Model output column: reported as prediction drift.")
@click.option("--test", "test", help="One test for every column it can judge: ks, wasserstein, energy, psi, jensenshannon, hellinger, chi2, gtest, tv "
              "(the distances get a permutation p-value; a column drifts when the effect reaches the threshold and the corrected p-value is below alpha).")
@click.option("--threshold", type=float, help="Effect-size threshold for the chosen test (default: the test's own).")
@click.option("--fail-on", "fail_on", help="'any' drifted column (default) or 'share:X', e.g. share:0.3. "
              "The domain classifier finding drift is drift too, unless --no-multivariate.")
@click.option("--correction", type=click.Choice(["holm", "bh", "none"]), help="Multiple-testing control across columns (default holm).")
@click.option("--alpha", type=float, help="Significance level after correction (default 0.05).")
@click.option("--method", type=click.Choice(["auto", "exact", "binned"]), help="exact (sort), binned (sketches), or auto by size.")
@click.option("--spec", "spec_file", type=click.Path(dir_okay=False), help="YAML or JSON drift spec; options given here override it.")
@click.option("--no-multivariate", is_flag=True, help="Skip the domain classifier and MMD tests.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Write a self-contained HTML report here.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True, help="Where partitions are counted in binned mode.")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes for the local executor (default: CPU count).")
@click.option("--seed", type=int, help="Seed for every random choice (default 0).")
@click.option("--record/--no-record", default=True, help="Record the report in the workspace ledger when there is one (default: yes).")
@json_option
@handle_errors
def compare_command(reference: str, current: str, as_json: bool, report_path: Path | None, executor: str, workers: int | None,
                    record: bool, **opts: Any) -> None:  # fmt: skip
    """Compare CURRENT with REFERENCE column by column, and jointly."""
    from assay.drift import compare_sources, get_executor, record_report

    if report_path is not None:  # refused before the (long) comparison runs, as one that would overwrite an input
        from assay.report import check_output_paths

        check_output_paths({"report": report_path}, [reference, current, opts.get("spec_file")])
    spec = _spec_from_options(opts)
    ws = _workspace()
    report, versions = compare_sources(reference, current, spec, executor=get_executor(executor, workers=workers), workspace=ws)
    if report_path is not None:
        from assay.report import write_drift_html

        write_drift_html(report, report_path)
    if record and ws is not None:
        record_report(ws, report, versions)
    doc = report.to_dict()
    if report_path is not None:
        doc["report_path"] = str(report_path.resolve())  # absolute, as `assay check --report` prints it
    # as `assay check` says it: a result that is kept nowhere should not pass for one that is
    doc["notes"] = [NOT_RECORDED] if ws is None else []
    emit(doc, as_json, lambda: _render(doc))
    sys.exit(1 if report.drift else 0)


COLUMNS_SHOWN = 30  # column lines of a report shown, besides every drifted column


def _render(doc: dict[str, Any]) -> None:
    """A drift report document (``DriftReport.to_dict()``, as run or as recorded) as text."""
    from assay.drift._report import found_by

    verdict = styled("DRIFT", fg="red", bold=True) if doc["drift"] else styled("no drift", fg="green", bold=True)
    columns, method = doc["columns"], doc["method"]
    click.echo(f"{verdict}: {len(doc['drifted_columns'])} of {counted(len(columns), 'column')} drifted ({doc['share_drifted']:.0%}); "
               f"reference {counted(doc['reference_rows'], 'row', grouped=True)}, current {counted(doc['current_rows'], 'row', grouped=True)}; "
               f"{method['correction_name']}, alpha {method['alpha']:g}, {method['mode']} mode")  # fmt: skip
    ranked = sorted(columns, key=lambda c: -(c["effect"] if c["effect"] is not None else -1))
    # a wide table: the largest effects and every drifted column, not thousands of lines of "ok"
    rows = [c for i, c in enumerate(ranked) if i < COLUMNS_SHOWN or c["drifted"] or c.get("not_judged")]
    # a column's name is data: a line break in it split the table (quoted as `git ls-files` quotes such names)
    names = {id(c): quoted(c["name"]) if c["name"] else '""' for c in rows}
    width = max([len(n) for n in names.values()] + [6])
    click.echo(f"  {'column':<{width}}  {'kind':<11} {'test':<13} {'effect':>9} {'thresh':>7} {'p adj':>9}  verdict")
    for c in rows:
        eff = f"{c['effect']:.4f}" if c["effect"] is not None else "-"
        padj = f"{c['p_adjusted']:.2g}" if c["p_adjusted"] is not None else "-"
        mark = styled("drift", fg="red") + found_by(c.get("missing_rate"), c.get("unseen"), c.get("nonfinite_rate")) if c["drifted"] else "not judged (identifier-like)" if c.get("not_judged") else "ok"
        role = f" [{c['role']}]" if c["role"] != "feature" else ""
        thresh = c["threshold"] if c["threshold"] is not None else "-"
        click.echo(f"  {names[id(c)]:<{width}}  {c['kind']:<11} {c['test'] or '-':<13} {eff:>9} {thresh:>7} {padj:>9}  {mark}{role}")
    if len(ranked) > len(rows):
        click.echo(f"  ... and {len(ranked) - len(rows):,} more columns, none drifted (--json or --report lists every column)")
    mv = doc.get("multivariate") or {}
    if (mv.get("classifier") or {}).get("auc") is not None:
        cl = mv["classifier"]
        click.echo(f"  domain classifier AUC {cl['auc']:.3f} [{cl['ci_low']:.3f}, {cl['ci_high']:.3f}]" + (" drift" if cl["drifted"] else ""))
    if mv.get("mmd"):
        click.echo(f"  MMD² {mv['mmd']['mmd2']:.4g}, permutation p {mv['mmd']['p_value']:.3g}")
    if mv.get("skipped"):
        click.echo(f"  multivariate tests skipped: {mv['skipped']}")
    _echo_findings(doc.get("findings", []) + [f for c in columns for f in c.get("findings", [])])
    if doc.get("report_path"):
        click.echo(f"report: {doc['report_path']}")
    if doc.get("record_id"):
        click.echo(f"recorded as drift report {doc['record_id'][:12]}")
    for note in doc.get("notes", []):
        click.echo(note)
    if isinstance(doc.get("imported"), dict):
        click.echo(f"pulled from remote {doc['imported'].get('remote')}: the comparison ran in another workspace")


@drift.command("log")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many reports.")
@json_option
@handle_errors
def log_command(limit: int, as_json: bool) -> None:
    """List recorded drift reports, newest first."""
    from assay.drift import list_reports
    from assay.workspace import Workspace

    rows = list_reports(Workspace.open(), limit=limit)

    def render() -> None:
        if not rows:
            echo_err("no drift reports yet")
        for r in rows:
            if r["unreadable"]:
                click.echo(f"{r['id'][:12]}  {r['created_at'][:19]}  {r['verdict']:<9} (does not read as a drift report: "
                           f"{r['unreadable']})" + (f"  from {escaped(str(r['remote']))}" if r.get("remote") else ""))
                continue
            drifted = ", ".join(r["drifted_columns"][:5]) + (" …" if len(r["drifted_columns"]) > 5 else "")
            click.echo(f"{r['id'][:12]}  {r['created_at'][:19]}  {'drift' if r['drift'] else 'no drift':<9} {r['reference']} vs {r['current']}"
                       f"  ({len(r['drifted_columns'])} of {counted(r['columns'], 'column')} drifted{': ' + drifted if drifted else ''})"
                       + (f"  from {r['remote']}" if r.get("remote") else ""))  # fmt: skip

    emit({"reports": rows}, as_json, render)


@drift.command("show")
@click.argument("record_id", metavar="ID")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write its self-contained HTML report (again) here.")
@json_option
@handle_errors
def show_command(record_id: str, report_path: Path | None, as_json: bool) -> None:
    """Show a recorded drift report (an id prefix from `assay drift log`); exit 0 whatever its verdict."""
    from assay.drift import get_report, write_recorded_report_html
    from assay.workspace import Workspace

    ws = Workspace.open()
    doc = get_report(ws, record_id)
    doc["notes"] = []
    if report_path is not None:
        doc["notes"] += write_recorded_report_html(ws, doc["record_id"], report_path)
        doc["report_path"] = str(report_path.resolve())
    emit(doc, as_json, lambda: _render(doc))


@drift.command("profile")
@click.argument("data")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write the profile (JSON) here.")
@click.option("--save", is_flag=True, help="Store the profile in the workspace, tied to the dataset version DATA (NAME@REF).")
@click.option("--columns", help="Comma-separated columns (default: all).")
@click.option("--bins", type=int, default=1000, show_default=True, help="Quantile bins per numeric column.")
@click.option("--max-categories", type=int, default=10_000, show_default=True, help="Categories kept per column; rarer ones are pooled.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes for the local executor (default: CPU count).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--like", "like", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Count DATA on the bins of this reference profile, so the result can be merged and compared with it.")
@json_option
@handle_errors
def profile_command(data: str, out: Path | None, save: bool, columns: str | None, bins: int, max_categories: int, executor: str,
                    workers: int | None, seed: int, like: Path | None, as_json: bool) -> None:  # fmt: skip
    """Sketch DATA into a mergeable profile: quantile-edge counts, category counts, missing rates.

    With --like REFERENCE.json the sketches use the reference's bins: profile each
    partition of today's data that way, merge them with `assay drift merge`, and
    compare with `assay drift REFERENCE.json MERGED.json`, all in bounded memory.
    """
    from assay.drift import get_executor, profile_source, save_profile

    if out is None and not save:
        raise UsageError("say where the profile goes", hint="pass --out FILE, or --save for a dataset reference NAME@REF")
    if bins < 10:
        raise UsageError(f"--bins must be at least 10, got {bins}")
    if out is not None:  # refused before the (long) profiling runs, as one that would overwrite the data or the --like profile
        from assay.report import check_output_paths

        check_output_paths({"profile": out}, [data, like])
    ws = _workspace()
    names = [c.strip() for c in columns.split(",")] if columns else None
    profile, version = profile_source(data, columns=names, bins=bins, max_categories=max_categories, seed=seed, like=like,
                                      executor=get_executor(executor, workers=workers), workspace=ws)  # fmt: skip
    doc: dict[str, Any] = {"rows": profile.rows, "columns": {n: s.kind for n, s in profile.columns.items()}, "unsupported": profile.unsupported,
                           "findings": [f.to_dict() for f in profile.findings]}  # fmt: skip
    if out is not None:
        profile.save(out)
        doc["out"] = str(out)
    if save:
        if version is None or ws is None:
            raise UsageError("--save needs a dataset reference NAME@REF inside a workspace", hint="use --out FILE for plain files")
        doc["key"] = save_profile(ws, profile, version)

    def render() -> None:
        click.echo(f"profiled {counted(profile.rows, 'row', grouped=True)}, {counted(len(profile.columns), 'column')}" + (f" -> {out}" if out else "") + (" (saved in the workspace)" if save else ""))
        _echo_findings(doc["findings"])

    emit(doc, as_json, render)


def _echo_findings(findings: list[dict[str, Any]]) -> None:
    """Findings on stderr, one a line, as both `assay drift` and `assay drift profile` print them."""
    for finding in findings:
        echo_err(f"  {finding['severity']}: {finding['message']}")


@drift.command("merge")
@click.argument("profiles", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Write the merged profile here.")
@json_option
@handle_errors
def merge_command(profiles: tuple[Path, ...], out: Path, as_json: bool) -> None:
    """Merge profiles of partitions counted on the same bins into the profile of the whole."""
    from assay.drift import Profile
    from assay.report import check_output_paths

    # refused before the profiles are read: a merged profile written over one of its inputs loses that partition's counts
    check_output_paths({"merged profile": out}, profiles)
    seen: dict[str, Path] = {}
    for path in profiles:  # one partition given twice is counted twice: its rows weigh double in every test
        first = seen.setdefault(os.path.realpath(path), path)
        if first is not path:
            raise UsageError(f"{path} is given twice" + (f" (as {first})" if str(first) != str(path) else "") + ": its counts would be added twice",
                             hint="give each partition's profile once")  # fmt: skip
    merged = Profile.load(profiles[0])
    for path in profiles[1:]:
        try:
            merged = merged.merge(Profile.load(path))
        except ValueError as exc:  # sketches on different edges
            raise UsageError(f"{path} was not counted on the same bins as {profiles[0]}: {exc}",
                             hint="profile every partition with --like REFERENCE.json") from None  # fmt: skip
    merged.save(out)
    doc = {"rows": merged.rows, "profiles": len(profiles), "out": str(out)}
    emit(doc, as_json, lambda: click.echo(f"merged {counted(len(profiles), 'profile')}, {counted(merged.rows, 'row', grouped=True)} -> {out}"))


__all__ = ["drift"]
