"""Columns renamed between two versions of a table, told by their values (see :mod:`assay.data._tablediff`).

A column only the old file has and one only the new file has are a likely rename when they
hold the same values in any row order (a sum of their value hashes, with as many rows), or,
with rows added or removed too, when their values mostly agree; and, either way, the rows or
the values say enough:
- mostly agree: at least `_SHARED` of the smaller side's distinct values are in both, judged on the
  `_SAMPLE` lowest distinct value hashes of each (chosen by value, so both samples hold the
  same values where the columns do), and both columns are of one kind (numeric, text, dates
  and timestamps: as values or as text, compared as instants, see `_hash_text`);
- where rows can be told apart, at least `_SHARED` of the rows both files hold (among the
  `_SAMPLE` rows of lowest priority: a hash of the row's key, or of its compared values) hold
  the same value in both, and beyond chance (`_told`): so two unrelated columns over one small
  range of values, or two unrelated booleans that are nearly always False, are not paired;
- where the rows cannot tell (too few of them, or a nearly constant column), each column holds
  at least `_VALUES_TO_CLAIM` distinct values: two unrelated booleans or 3-value categories
  often hold the same few values as many times.
Each column must have exactly one such partner. An all-null or constant column is never paired.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from assay.data._tablehash import _NULL_HASH

_SAMPLE = 1024
_SHARED = 0.9
_ROWS_TO_JUDGE = 16  # rows expected to disagree by chance, among those in both samples, to judge by rows
_VALUES_TO_CLAIM = 8  # distinct values a column needs to be paired by its values alone
_ALL = np.uint64(2**64 - 1)


class _ColumnPrint:
    """What a column only one file has keeps, to be told by its values: O(`_SAMPLE`) memory."""

    def __init__(self) -> None:
        self.total = 0  # the sum of its value hashes, mod 2**64: its values in any row order
        self.any = False  # holds a value
        self.values = np.zeros(0, np.uint64)  # the lowest distinct non-null value hashes, sorted
        self.prio = np.zeros(0, np.uint64)  # the rows of the lowest priorities: their priority
        self.cells = np.zeros(0, np.uint64)  # and value hash
        self.instants: set[str] = set()  # compared as text: what its cells held (see `_hash_text`)

    def update(self, h: np.ndarray, prio: np.ndarray) -> None:
        """Add a batch's value hashes `h` of rows of priority `prio`."""
        if not h.size:
            return
        self.total = (self.total + int(h.sum(dtype=np.uint64))) % 2**64
        v = h[h != _NULL_HASH]
        self.any = self.any or bool(v.size)
        if self.values.size >= _SAMPLE:
            v = v[v < self.values[-1]]
        if v.size:
            self.values = np.union1d(self.values, v)[:_SAMPLE]
        if self.prio.size >= _SAMPLE:
            low = prio < self.prio.max()
            prio, h = prio[low], h[low]
        if prio.size:
            p, c = np.concatenate((self.prio, prio)), np.concatenate((self.cells, h))
            if p.size > _SAMPLE:
                keep = np.argpartition(p, _SAMPLE - 1)[:_SAMPLE]
                p, c = p[keep], c[keep]
            self.prio, self.cells = p, c

    def kind(self, summarised: str | None) -> str | None:
        """Its kind of values: "temporal" when each text cell held a date or timestamp (as a
        Parquet timestamp column is), else the kind its summary gave (`summarised`)."""
        return "temporal" if self.instants and "text" not in self.instants else summarised

    @property
    def varied(self) -> bool:
        """Holds two values or more."""
        return self.values.size >= 2


def renamed(old: dict[str, _ColumnPrint], new: dict[str, _ColumnPrint], kinds_old: dict[str, str],
            kinds_new: dict[str, str], *, same_rows: bool) -> list[dict[str, Any]]:
    """Pairs of a column only in `old` and one only in `new` that look like one column renamed:
    {"old", "new"} when they hold the same values (`same_rows`: as many rows in both files),
    with "shared" (the share of values in both, floored to 0.01) when they mostly do."""
    same = _only_partners([(a, b, 1.0) for a, pa in old.items() if pa.varied for b, pb in new.items()
                           if pb.varied and same_rows and pa.total == pb.total and _told(pa, pb)])
    taken = {a for a, _, _ in same} | {b for _, b, _ in same}
    close = []
    for a, pa in old.items():
        if a in taken or not pa.varied:
            continue
        for b, pb in new.items():
            if b in taken or not pb.varied or pa.kind(kinds_old.get(a)) != pb.kind(kinds_new.get(b)):
                continue
            shared = _shared(pa, pb)
            if shared >= _SHARED and _told(pa, pb):
                close.append((a, b, shared))
    order = list(old)
    pairs = sorted(same + _only_partners(close), key=lambda p: order.index(p[0]))
    return [{"old": a, "new": b} if (a, b, s) in same else {"old": a, "new": b, "shared": math.floor(s * 100) / 100}
            for a, b, s in pairs]


def _only_partners(pairs: list[tuple[str, str, float]]) -> list[tuple[str, str, float]]:
    """The pairs whose columns are in no other pair."""
    olds, news = [a for a, _, _ in pairs], [b for _, b, _ in pairs]
    return [p for p in pairs if olds.count(p[0]) == 1 and news.count(p[1]) == 1]


def _shared(a: _ColumnPrint, b: _ColumnPrint) -> float:
    """The share of the smaller side's distinct values that the other holds, on the value hashes
    below both samples' highest (below it each sample holds every value its column has)."""
    cut = min(x.values[-1] if x.values.size >= _SAMPLE else _ALL for x in (a, b))
    va, vb = a.values[a.values <= cut], b.values[b.values <= cut]
    smaller = min(va.size, vb.size)
    return np.intersect1d(va, vb, assume_unique=True).size / smaller if smaller else 0.0


def _told(a: _ColumnPrint, b: _ColumnPrint) -> bool:
    """Whether two columns whose values agree carry enough information to be called one column.

    Where rows are told apart, the rows in both samples must hold the same value in both
    (`_SHARED` of them), and beyond chance: two unrelated booleans, 97% False each, agree in
    ~94% of rows. With at least `_ROWS_TO_JUDGE` rows expected to disagree by chance, the
    agreement beyond it (Cohen's kappa) decides; with fewer (a few rows, a constant or nearly
    constant column) the values must: at least `_VALUES_TO_CLAIM` distinct ones on each side,
    as two unrelated booleans or 3-value categories hold the same few values, often as many times.
    """
    both, agree, chance = _rows_agree(a, b)
    if both and agree < _SHARED:
        return False
    if both * (1 - chance) >= _ROWS_TO_JUDGE:
        return (agree - chance) / (1 - chance) >= _SHARED
    return min(a.values.size, b.values.size) >= _VALUES_TO_CLAIM


def _rows_agree(a: _ColumnPrint, b: _ColumnPrint) -> tuple[int, float, float]:
    """(rows in both samples (by priority), the share of them holding the same value in both, the
    share that would by chance: the sum over values of the product of their shares in each)."""
    cut = min(x.prio.max() if x.prio.size >= _SAMPLE else _ALL for x in (a, b))
    ka, kb = a.prio <= cut, b.prio <= cut
    _, ia, ib = np.intersect1d(a.prio[ka], b.prio[kb], return_indices=True)
    if not ia.size:
        return 0, 0.0, 0.0
    ca, cb = a.cells[ka][ia], b.cells[kb][ib]
    agree = float(np.count_nonzero(ca == cb)) / ia.size
    va, na = np.unique(ca, return_counts=True)
    vb, nb = np.unique(cb, return_counts=True)
    _, ja, jb = np.intersect1d(va, vb, assume_unique=True, return_indices=True)
    chance = float((na[ja] * nb[jb]).sum()) / ia.size**2
    return int(ia.size), agree, min(chance, 1.0)
