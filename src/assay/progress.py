"""Progress bars for long work: on stderr, only when stderr is a terminal (or ``ASSAY_PROGRESS=1``)."""

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
    stream: Any = sys.stderr
    leave = False  # on a terminal a finished bar goes, leaving the command's own output
    if not _on_terminal(stream):
        stream = _Lines(stream)
        kwargs.setdefault("mininterval", 1.0)  # a line each: ten a second would flood a log
        leave = True  # its final state as the last line: a log shows the work finished (and how much)
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=scale,
        unit_divisor=1024 if scale else 1000,
        file=stream,
        leave=leave,
        dynamic_ncols=True,
        **kwargs,
    )


def _on_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class _Lines:
    """Where a bar forced on (``ASSAY_PROGRESS=1``) writes when stderr is no terminal (a file,
    a CI log): each redraw as a line of its own. A terminal redraws in place with carriage
    returns and cursor-up; elsewhere those would only be escaped (as data's controls are)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._last = ""

    def write(self, text: str) -> int:
        for line in text.replace("\x1b[A", "").split("\r"):
            line = line.rstrip()
            count = line.rpartition("[")[0] or line  # without the times and rate in brackets
            if line.strip() and count != self._last:  # closing redraws the last count: once in a log is enough
                self._raw.write(line + "\n")
                self._last = count
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, encoding, fileno, ...
        return getattr(self._raw, name)
