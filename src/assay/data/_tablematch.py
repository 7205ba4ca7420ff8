"""Matching two tables' row hashes (see :mod:`assay.data._tablediff`, "How rows are matched").

Both sides' uint64 hashes are sorted (in place where the caller no longer needs their
order) and walked in chunks of `_CHUNK` with `np.searchsorted`: the r-th copy of a hash
on one side is matched when the other side holds more than r copies. Nothing of the
size of the input is allocated besides the sort, so matching N rows costs about their
8N bytes; `np.unique(..., return_index=True, return_counts=True)` took ~6.6x that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CHUNK = 1 << 18  # hashes per step: a few MB of temporaries


@dataclass
class _Match:
    """Per distinct hash left over on one side: the hash (sorted) and how many copies are left."""

    removed: np.ndarray
    removed_counts: np.ndarray
    added: np.ndarray
    added_counts: np.ndarray
    matched: int


def _match(old: np.ndarray, new: np.ndarray, *, in_place: bool = False) -> _Match:
    """Multiset difference of two uint64 hash arrays. `in_place` sorts the arrays given."""
    a = old if in_place else old.copy()
    b = new if in_place else new.copy()
    a.sort()
    b.sort()
    removed, removed_counts, matched = _leftover(a, b)
    added, added_counts, _ = _leftover(b, a)
    return _Match(removed, removed_counts, added, added_counts, matched)


def _leftover(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(hashes of sorted `a` with copies not in sorted `b`, how many copies, copies matched)."""
    hashes, counts = [], []
    matched = 0
    for lo in range(0, a.size, _CHUNK):
        c = a[lo : lo + _CHUNK]
        first = np.searchsorted(a, c, "left")
        rank = np.arange(lo, lo + c.size, dtype=np.int64) - first  # which copy of its hash
        del first
        in_b = np.searchsorted(b, c, "right") - np.searchsorted(b, c, "left")
        matched += int(np.count_nonzero(rank < in_b))
        head = rank == in_b  # the first copy left over, once per hash
        h = c[head]
        run = np.searchsorted(a, h, "right") - np.searchsorted(a, h, "left")
        hashes.append(h)
        counts.append(run - in_b[head])
    if not hashes:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64), matched
    return np.concatenate(hashes), np.concatenate(counts), matched


def _lookup(rows: np.ndarray, keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The key of the first row whose hash is each of the sorted `wanted` hashes."""
    out = np.zeros(wanted.size, dtype=np.uint64)
    if not wanted.size:
        return out
    found = np.zeros(wanted.size, dtype=bool)
    for lo in range(0, rows.size, _CHUNK):
        # Searched in sorted order (several times faster than in row order); a stable sort
        # keeps a hash's rows in row order, so the first of each is still the first row.
        order = np.argsort(rows[lo : lo + _CHUNK], kind="stable")
        c = rows[lo : lo + _CHUNK][order]
        pos = np.minimum(np.searchsorted(wanted, c), wanted.size - 1)
        hit = np.flatnonzero(wanted[pos] == c)
        if not hit.size:
            continue
        p, first = np.unique(pos[hit], return_index=True)
        fresh = ~found[p]
        out[p[fresh]] = keys[lo + order[hit[first[fresh]]]]
        found[p[fresh]] = True
    return out


def _duplicates(keys: np.ndarray) -> tuple[np.ndarray, int]:
    """(keys held by more than one row, rows beyond the first of each) of sorted `keys`."""
    dups, extra = [], 0
    for lo in range(0, max(keys.size - 1, 0), _CHUNK):
        hi = min(lo + _CHUNK, keys.size - 1)
        same = keys[lo + 1 : hi + 1] == keys[lo:hi]  # position i repeats the key before it
        extra += int(np.count_nonzero(same))
        prev = np.empty_like(same)
        prev[1:] = same[:-1]
        prev[0] = lo > 0 and keys[lo] == keys[lo - 1]
        dups.append(keys[lo:hi][same & ~prev])
    return (np.concatenate(dups) if dups else np.zeros(0, np.uint64)), extra


@dataclass
class _Keyed:
    added: int
    removed: int
    changed: int
    unchanged: int
    added_keys: np.ndarray
    removed_keys: np.ndarray
    changed_keys: np.ndarray
    dup_old: np.ndarray
    dup_new: np.ndarray
    dup_rows_old: int
    dup_rows_new: int


def _keyed(rows_old: np.ndarray, keys_old: np.ndarray, rows_new: np.ndarray, keys_new: np.ndarray) -> _Keyed:
    """Rows matched by key. The key arrays are sorted in place (their order is used up here)."""
    # Pair identical (key, values) rows first; what is left under a key on both sides is
    # "changed" (as many as pair up), the rest added / removed. Unique keys reduce to the
    # usual definition; duplicate keys get a defined, order-independent answer.
    m = _match(rows_old, rows_new)

    def per_key(rows: np.ndarray, keys: np.ndarray, left: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        uk, inv = np.unique(_lookup(rows, keys, left), return_inverse=True)
        per = np.zeros(uk.size, dtype=np.int64)
        np.add.at(per, inv, counts)
        return uk, per

    ko, co = per_key(rows_old, keys_old, m.removed, m.removed_counts)
    kn, cn = per_key(rows_new, keys_new, m.added, m.added_counts)
    _, ia, ib = np.intersect1d(ko, kn, assume_unique=True, return_indices=True)
    changed_per = np.minimum(co[ia], cn[ib])
    removed_per = co.copy()
    removed_per[ia] -= changed_per
    added_per = cn.copy()
    added_per[ib] -= changed_per

    keys_old.sort()
    keys_new.sort()
    dup_old, extra_old = _duplicates(keys_old)
    dup_new, extra_new = _duplicates(keys_new)
    return _Keyed(
        added=int(added_per.sum()),
        removed=int(removed_per.sum()),
        changed=int(changed_per.sum()),
        unchanged=m.matched,
        added_keys=kn[added_per > 0],
        removed_keys=ko[removed_per > 0],
        changed_keys=ko[ia][changed_per > 0],
        dup_old=dup_old,
        dup_new=dup_new,
        dup_rows_old=extra_old,
        dup_rows_new=extra_new,
    )
