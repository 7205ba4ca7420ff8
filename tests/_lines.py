"""Reading a child process's output with a time limit."""

from __future__ import annotations

import selectors
from typing import IO


def line_within(stream: IO[str] | None, within: float) -> str:
    """The next line of ``stream``, or "" when none starts within ``within`` seconds (or the
    stream ended). A selector, not select(): a long test session may hold over 1,024 files,
    and select() refuses a descriptor numbered past that."""
    assert stream is not None
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        ready = selector.select(max(0.0, within))
    return stream.readline() if ready else ""
