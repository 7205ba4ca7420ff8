"""How messages say a number of things ("1 file", "2 files"), for the library and the command line alike."""

from __future__ import annotations

__all__ = ["counted", "noun_for", "shortened", "yaml_problem"]


def noun_for(count: int, noun: str, plural: str | None = None) -> str:
    """``noun`` in the number ``count`` takes: ``column`` for 1, ``columns`` for 0 or 2
    (``plural``: where adding an s is not it, ``copy``, ``copies``)."""
    return noun if count == 1 else plural or noun + "s"


def counted(count: int, noun: str, plural: str | None = None, *, grouped: bool = False) -> str:
    """``count`` and ``noun`` in the number it takes: ``1 chunk``, ``2 chunks``, ``0 chunks``
    (``plural``: where adding an s is not it, ``1 copy``, ``2 copies``; ``grouped``: ``1,200 rows``)."""
    return (f"{count:,}" if grouped else str(count)) + " " + noun_for(count, noun, plural)


def yaml_problem(exc: Exception, source: str) -> str:
    """A YAML parser's error on one line, ``SOURCE:LINE:COLUMN: not valid YAML (problem, while
    parsing what started at line N)``: PyYAML's own message spans five lines of marks."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
    problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
    context, started = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and started is not None and (mark is None or started.line != mark.line):
        problem += f", {context} that started at line {started.line + 1}"
    return f"{where}: not valid YAML ({problem})"


def shortened(text: str, limit: int = 500) -> str:
    """``text`` cut to about ``limit`` characters at a word boundary, saying how much was left out
    (a cut in the middle of a word, with no mark, reads as the whole message)."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    cut = max(head.rfind(" "), head.rfind("\n"))
    if cut > limit // 2:  # a boundary not too far back; else one long word is cut where it must be
        head = head[:cut]
    head = head.rstrip(" \n,;:")
    return f"{head} … [cut: {len(text) - len(head):,} more characters]"
