"""`assay check SUITE --candidate M --baseline M`: statistical regression gates; `assay check log`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from assay.cli._output import NOT_RECORDED, echo_err, emit, handle_errors, json_option, mistyped_command
from assay.errors import WorkspaceNotFoundError

class _CheckGroup(click.Group):
    """`assay check SUITE ...` runs a suite; `assay check log` lists past results."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            mistyped_command(self, ctx, args, "`assay check SUITE.yaml --candidate MODEL` runs a suite (every option: assay check run --help)")
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_CheckGroup)
def check() -> None:
    """Statistical regression gates: is the candidate worse than the baseline?

    \b
    assay check SUITE.yaml --candidate MODEL [--baseline MODEL] [--data REF]
                [--report check.html] [--junit FILE] [--json] [--seed N]
    assay check log
    assay check show ID [--report FILE]

    MODEL is a registered model (NAME or NAME@REF), a file (.onnx, .skops; .joblib/.pkl
    with --trust), module:function, or an http(s) URL. Exit codes: 0 all gates pass,
    1 a gate fails or is inconclusive (unless --allow-inconclusive), 2 bad suite, model
    or data, 3 internal error. Run `assay check run --help` for every option and
    `assay check schema` for the suite keys.
    """


def _workspace() -> Any:
    from assay.workspace import Workspace

    try:
        return Workspace.open()
    except WorkspaceNotFoundError:
        return None  # files and module:function still work outside a workspace; nothing is recorded


def _render(doc: dict[str, Any], *, recorded: bool = False) -> None:
    from assay.report import render_check_lines

    for line in render_check_lines(doc, recorded=recorded):
        click.echo(line)


def _input_files(suite_path: Path, suite: Any, data_ref: str | None, *models: str | None) -> list[Path]:
    """The files a run reads that a report must not overwrite: the suite, its data (--data, else
    the suite's own, relative to the suite) and model files (a .py of module:function too);
    registered names and URLs name no file here and are left out by the check."""
    files = [suite_path]
    data = data_ref if data_ref is not None else suite.data
    if isinstance(data, str):
        files.append(Path(data) if data_ref is not None or suite.base_dir is None else Path(suite.base_dir) / data)
    for ref in models:
        if ref is not None:
            files.append(Path(ref))
            if ":" in ref and not ref.startswith(("http://", "https://")):
                files.append(Path(ref.rpartition(":")[0]))  # path/to/file.py:function
    return files


@check.command("run")
@click.argument("suite_path", metavar="SUITE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--candidate", required=True, help="The model under test (NAME[@REF], file, module:function or URL).")
@click.option("--baseline", help="The model it must not be worse than.")
@click.option("--data", "data_ref", help="Evaluation data (file or NAME@REF); overrides the suite's `data`.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Write a self-contained HTML report.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML, one test case per gate.")
@click.option("--seed", type=int, help="Seed for every random choice (default: the suite's, else 0).")
# (the suite's own bounds, said of the option: MAX_BOOTSTRAP in assay.checks._suite_parse, and a finite time limit)
@click.option("--bootstrap", type=click.IntRange(min=100, max=100_000), help="Bootstrap resamples (default: the suite's, else 1000).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.001, max=1e9), help="Seconds one predict call may take (default: the suite's, else 300).")
@click.option("--trust", is_flag=True, help="Allow pickle-based model files (.joblib, .pkl) and skops files with types skops does not trust, which can run "
                                            "code when loaded (also for a model registered with --trust: that is not remembered).")
@click.option("--allow-inconclusive", is_flag=True, help="Exit 0 when no gate fails, even if some are inconclusive.")
@click.option("--no-record", is_flag=True, help="Do not store the result in the workspace ledger.")
@click.option("--executor", type=click.Choice(["local", "ray"]),
              help="Where robustness batches run (default: each test's own `executor`, else local). ray needs assay[ray].")
@json_option
@handle_errors
def run_command(suite_path: Path, candidate: str, baseline: str | None, data_ref: str | None, report_path: Path | None,
                junit_path: Path | None, seed: int | None, bootstrap: int | None, timeout_s: float | None, trust: bool, allow_inconclusive: bool,
                no_record: bool, executor: str | None, as_json: bool) -> None:
    """Run SUITE on --candidate (and --baseline); exit 0 pass, 1 fail or inconclusive, 2 bad input."""
    from assay.checks import Suite, run_suite
    from assay.report import check_output_paths

    suite = Suite.load(suite_path)
    # refused before the check runs and is recorded: an output that cannot be written, that is
    # inside .assay/, or that would overwrite an input of this run (or the other output)
    check_output_paths({"report": report_path, "JUnit file": junit_path},
                       _input_files(suite_path, suite, data_ref, candidate, baseline))
    if bootstrap is not None:
        suite.bootstrap = bootstrap
    if timeout_s is not None:
        suite.timeout_s = timeout_s
    ws = _workspace()
    result = run_suite(suite, candidate=candidate, baseline=baseline, data=data_ref, ws=ws, trust=trust, seed=seed,
                       allow_inconclusive=allow_inconclusive, record=not no_record, executor=executor)
    if ws is None:
        result.notes.append(NOT_RECORDED)
    if report_path is not None:
        result.report = str(report_path.resolve())
    doc = result.to_dict()
    if report_path is not None:
        from assay.report import write_check_html

        write_check_html(doc, report_path)
    if junit_path is not None:
        from assay.report import write_check_junit

        write_check_junit(doc, junit_path)
    def render() -> None:
        _render(doc)
        if ws is None:  # (in --json, among the document's notes)
            click.echo(NOT_RECORDED)

    emit(doc, as_json, render)
    sys.exit(result.exit_code)


@check.command("log")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many results.")
@json_option
@handle_errors
def log_command(limit: int, as_json: bool) -> None:
    """List past check results, newest first."""
    from assay.checks import list_results
    from assay.workspace import Workspace

    rows = list_results(Workspace.open(), limit=limit)

    def render() -> None:
        if not rows:
            echo_err("no check results yet")
        for r in rows:
            c = r.get("counts") or {}
            click.echo(f"{r['id'][:12]}  {r['created_at'][:19]}  {r['verdict']:<12} {r['candidate']} vs {r['baseline'] or '-'}"
                       f" on {r['data']}  ({c.get('pass', 0)} pass, {c.get('fail', 0)} fail, {c.get('inconclusive', 0)} inconclusive)"
                       + (f"  from {r['remote']}" if r.get("remote") else ""))

    emit({"results": rows}, as_json, render)


@check.command("show")
@click.argument("record_id", metavar="ID")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Write its HTML report again.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path), help="Write its JUnit XML again.")
@json_option
@handle_errors
def show_command(record_id: str, report_path: Path | None, junit_path: Path | None, as_json: bool) -> None:
    """Show a recorded check result (an id prefix from `assay check log`); exit 0 whatever its verdict.

    The exit code says whether it could be shown; `assay check` itself exits 1 for a result
    that did not pass (read `passed` or `verdict` from --json to act on a recorded one)."""
    from assay.checks import get_result
    from assay.report import check_output_paths
    from assay.workspace import Workspace

    check_output_paths({"report": report_path, "JUnit file": junit_path})  # both refused before either is written
    doc = get_result(Workspace.open(), record_id)
    if report_path is not None:
        from assay.report import write_check_html

        write_check_html(doc, report_path)
        doc["report"] = str(report_path.resolve())
    if junit_path is not None:
        from assay.report import write_check_junit

        write_check_junit(doc, junit_path)
    emit(doc, as_json, lambda: _render(doc, recorded=True))


@check.command("schema")
@json_option
def schema_command(as_json: bool) -> None:
    """Print the suite schema: every key a suite YAML may have."""
    from assay.checks import SCHEMA

    emit(SCHEMA, as_json, lambda: [click.echo(f"{k}: {v}") for k, v in SCHEMA.items()])
