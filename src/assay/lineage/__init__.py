"""Lineage: which runs turned which data versions into which outputs."""

from assay.lineage._graph import (
    LineageGraph,
    add_edges,
    downstream_versions,
    lineage,
    resolve_node,
)
from assay.lineage._run import Run, environment, run_command, track

__all__ = ["LineageGraph", "Run", "add_edges", "downstream_versions", "environment", "lineage", "resolve_node", "run_command", "track"]
