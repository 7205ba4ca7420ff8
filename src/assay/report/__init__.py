"""Reports: self-contained HTML, JUnit XML and terminal renderings of pillar results.

The writers take what the pillars produce: a check result as its document
(``CheckResult.to_dict()`` or a recorded one from ``assay.checks.get_result``) and a
:class:`~assay.drift.DriftReport`::

    from assay.report import write_check_html, write_check_junit

    doc = result.to_dict()
    write_check_html(doc, "check.html")
    write_check_junit(doc, "junit.xml")

Importing this package loads neither the drift pillar nor any heavy library.
"""

from assay.report._check_chart import check_chart as check_chart_option
from assay.report._check_html import check_html as render_check_html
from assay.report._check_html import write_check_html
from assay.report._check_text import render_lines as render_check_lines
from assay.report._drift_html import render_drift_html, write_drift_html
from assay.report._files import check_output_paths, check_report_path
from assay.report._junit import check_junit as render_check_junit
from assay.report._junit import write_check_junit

__all__ = ["check_chart_option", "check_output_paths", "check_report_path", "render_check_html", "render_check_junit", "render_check_lines", "render_drift_html",
           "write_check_html", "write_check_junit", "write_drift_html"]
