"""The public surface of assay.lineage."""

from __future__ import annotations

import assay.lineage


def test_lineage_exports() -> None:
    assert assay.lineage.__all__ == sorted(assay.lineage.__all__)
    assert assay.lineage.__all__ == [
        "Interrupted", "LineageGraph", "LineageStep", "Run", "RunRecord", "Terminated", "downstream_versions", "lineage",
        "resolve_node", "run_command", "run_record", "track",
    ]
    for name in assay.lineage.__all__:
        assert hasattr(assay.lineage, name)
