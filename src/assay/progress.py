"""Progress bars for long work: on stderr, only when stderr is a terminal."""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["bar"]


def _enabled() -> bool:
    if os.environ.get("ASSAY_PROGRESS") == "0":
        return False
    if os.environ.get("ASSAY_PROGRESS") == "1":
        return True
    return sys.stderr.isatty()


def bar(total: float | None = None, desc: str = "", unit: str = "it", **kwargs: Any) -> Any:
    """A tqdm bar on stderr, silent when piped (``ASSAY_PROGRESS=0/1`` overrides)."""
    from tqdm import tqdm

    scale = unit == "B"
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=scale,
        unit_divisor=1024 if scale else 1000,
        file=sys.stderr,
        disable=not _enabled(),
        leave=False,
        dynamic_ncols=True,
        **kwargs,
    )
