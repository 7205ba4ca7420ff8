"""Progress bars for long work: on stderr, only when stderr is a terminal."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing itself is not loaded for this: a status answered at the entry point forks a walk
if TYPE_CHECKING:
    from typing import Any

__all__ = ["bar"]


def _enabled() -> bool:
    if os.environ.get("ASSAY_PROGRESS") == "0":
        return False
    if os.environ.get("ASSAY_PROGRESS") == "1":
        return True
    return sys.stderr.isatty()


class _Quiet:
    """What ``bar`` returns when progress is off: counts, draws nothing, imports nothing."""

    def __init__(self, total: float | None) -> None:
        self.total = total
        self.n: float = 0

    def update(self, n: float = 1) -> None:
        self.n += n

    def __getattr__(self, name: str) -> Any:  # close, refresh, set_postfix, set_description, ...
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def bar(total: float | None = None, desc: str = "", unit: str = "it", *, show: bool = True, **kwargs: Any) -> Any:
    """A tqdm bar on stderr, silent when piped (``ASSAY_PROGRESS=0/1`` overrides) or when not ``show``."""
    if not show or not _enabled():
        return _Quiet(total)
    from tqdm import tqdm

    # No monitor thread: bars are updated often enough, and a process with a second
    # thread cannot fork workers safely (see assay.data._workers).
    tqdm.monitor_interval = 0
    scale = unit == "B"
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=scale,
        unit_divisor=1024 if scale else 1000,
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
        **kwargs,
    )
