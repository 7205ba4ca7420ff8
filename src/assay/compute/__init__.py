"""Executors: where the pillars' batch work runs.

``LocalExecutor`` (a process pool, inline for one worker) is the default;
``RayExecutor`` runs the same tasks on a Ray cluster (``pip install 'assay[ray]'``).

Example::

    from assay.compute import get_executor
    squares = get_executor("local", workers=2).map(abs, [-1, -2, 3])
"""

from __future__ import annotations

from assay.compute._executor import LocalExecutor, RayExecutor, get_executor

__all__ = ["LocalExecutor", "RayExecutor", "get_executor"]
