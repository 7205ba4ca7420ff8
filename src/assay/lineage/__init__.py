"""Lineage: which runs turned which data versions into which outputs."""

from assay.lineage._graph import (
    LineageGraph,
    LineageStep,
    downstream_versions,
    lineage,
    resolve_node,
)
from assay.lineage._run import Run, run_command, track
from assay.lineage._runs import RunRecord, run_record
from assay.lineage._signals import Interrupted, Terminated

__all__ = [
    "Interrupted", "LineageGraph", "LineageStep", "Run", "RunRecord", "Terminated", "downstream_versions", "lineage",
    "resolve_node", "run_command", "run_record", "track",
]
