"""Lineage: which runs turned which data versions into which outputs."""

from assay.lineage._environment import environment
from assay.lineage._graph import (
    LineageGraph,
    LineageStep,
    add_edges,
    downstream_versions,
    lineage,
    resolve_node,
    signal_name,
)
from assay.lineage._run import Run, run_command, track
from assay.lineage._signals import Interrupted, Terminated

__all__ = [
    "Interrupted", "LineageGraph", "LineageStep", "Run", "Terminated", "add_edges", "downstream_versions", "environment", "lineage", "resolve_node",
    "run_command", "signal_name", "track",
]
