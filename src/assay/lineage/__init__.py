"""Lineage: which runs turned which data versions into which outputs."""

from assay.lineage._graph import (
    LineageGraph,
    add_edges,
    downstream_versions,
    lineage,
    resolve_node,
    signal_name,
)
from assay.lineage._run import Run, Terminated, environment, run_command, track

__all__ = [
    "LineageGraph", "Run", "Terminated", "add_edges", "downstream_versions", "environment", "lineage", "resolve_node",
    "run_command", "signal_name", "track",
]
