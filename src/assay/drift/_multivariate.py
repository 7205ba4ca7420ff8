"""Multivariate drift: a domain classifier (reference vs current) and an MMD permutation test.

Column-by-column tests miss drift that lives in the joint distribution (a correlation
that flips). A classifier that tells reference rows from current rows better than
chance is direct evidence of such drift; its out-of-fold AUC with a DeLong confidence
interval gives both the significance and the size of the drift, and permutation
importance names the features that carry it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from assay.drift._boosting import BinnedFeatures, BoostedTrees
from assay.drift._columns import to_float, to_text
from assay.drift._distributions import norm_ppf, rankdata
from assay.drift._spec import DriftSpec

__all__ = ["PooledCategories", "auc_delong", "encode_features", "mmd_drift", "mmd_features", "mmd_permutation_test", "multivariate_drift", "pooled_categories"]


def encode_features(ref: pa.Table, cur: pa.Table, kinds: dict[str, str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """For the domain classifier: numbers as floats (non-finite as NaN); a category as one number that
    names its common category, or for any other value its share of both samples together.

    A common category (see :func:`pooled_categories`) gets a code of its own, ranked by its
    pooled share, so the trees see a category renamed at the same share, or two categories
    that swap shares: under the pooled share alone both sides of such a pair read alike
    (found only where sampling made their counts differ). Any other value (an identifier, a
    long tail) keeps its pooled share, which carries no label: counted on the reference
    alone, every reference value would be non-zero and every unseen current one 0, and the
    classifier would tell the sides apart on data that has not drifted.
    """
    names = [n for n in ref.column_names if kinds.get(n) in ("numeric", "categorical")]
    columns = []
    for name in names:
        if kinds[name] == "numeric":
            v = np.concatenate([to_float(ref.column(name)), to_float(cur.column(name))])
            v[~np.isfinite(v)] = np.nan
        else:
            pooled = pooled_categories(ref.column(name), cur.column(name))
            # below 1 a pooled share, from 2 up a common category, the most common highest (the
            # order of the pooled shares, ties broken); missing stays NaN
            common = (pooled.index >= 0) & (pooled.index < pooled.common)
            v = np.where(common, 1.0 + pooled.common - pooled.index, pooled.share)
        columns.append(v)
    both = np.column_stack(columns) if columns else np.empty((ref.num_rows + cur.num_rows, 0))
    return both[: ref.num_rows], both[ref.num_rows :], names


def auc_delong(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """AUC (= Mann–Whitney U / n1 n0) and its DeLong standard error, with midranks for ties."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    n1, n0 = pos.size, neg.size
    ranks = rankdata(np.concatenate([pos, neg]))
    auc = (ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    v10 = (ranks[:n1] - rankdata(pos)) / n0  # per positive: share of negatives it beats
    v01 = 1.0 - (ranks[n1:] - rankdata(neg)) / n1  # per negative: share of positives that beat it
    var = np.var(v10, ddof=1) / n1 + np.var(v01, ddof=1) / n0
    return float(auc), float(np.sqrt(max(var, 0.0)))


def _stratified_folds(y: np.ndarray, folds: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` (train, test) index pairs; each class is shuffled and dealt round the folds."""
    fold_of = np.empty(y.size, dtype=np.intp)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        fold_of[members] = np.arange(members.size) % folds
    return [(np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)) for k in range(folds)]


def domain_classifier(x_ref: np.ndarray, x_cur: np.ndarray, names: list[str], spec: DriftSpec, folds: int = 2) -> dict[str, Any]:
    """Out-of-fold AUC of a gradient-boosted classifier telling current rows from reference rows.

    Drivers are permutation importances on the held-out folds: how much the AUC falls when
    one feature is shuffled. Only the trees that split on that feature are re-scored.
    """
    x = np.vstack([x_ref, x_cur])
    y = np.concatenate([np.zeros(len(x_ref), dtype=np.int64), np.ones(len(x_cur), dtype=np.int64)])
    codes = BinnedFeatures.from_values(x).codes
    scores = np.zeros(len(y))
    drops = np.zeros((folds, len(names)))
    rng = np.random.default_rng(spec.seed)
    for k, (train, test) in enumerate(_stratified_folds(y, folds, rng)):
        model = BoostedTrees().fit(codes[train], y[train].astype(np.float64))
        held_out = codes[test]
        per_tree = model.tree_scores(held_out)
        scores[test] = model.base_ + per_tree.sum(axis=0)
        base, _ = auc_delong(scores[test], y[test])
        shuffled = held_out.copy()  # one column shuffled at a time, then put back: a copy per feature cost ~0.8 s at 2,000 columns
        for j in range(len(names)):
            order = rng.permutation(len(test))  # drawn for every feature, so each feature's shuffle stays the same
            trees = [t for t, used in enumerate(model.features_used_) if j in used]
            if not trees:
                continue  # no tree splits on this feature: shuffling it changes nothing
            shuffled[:, j] = held_out[order, j]
            moved = scores[test] - per_tree[trees].sum(axis=0) + model.tree_scores(shuffled, trees).sum(axis=0)
            shuffled[:, j] = held_out[:, j]
            drops[k, j] = base - auc_delong(moved, y[test])[0]
    auc, se = auc_delong(scores, y)

    z = norm_ppf(1 - spec.alpha / 2)
    low, high = max(0.0, auc - z * se), min(1.0, auc + z * se)
    importance = sorted(zip(names, drops.mean(axis=0).tolist()), key=lambda kv: -kv[1])
    return {
        "auc": auc, "ci_low": low, "ci_high": high, "confidence": 1 - spec.alpha, "threshold": spec.classifier_auc_threshold,
        "drifted": bool(low > spec.classifier_auc_threshold), "rows": {"reference": len(x_ref), "current": len(x_cur)},
        "drivers": [{"feature": n, "auc_drop": d} for n, d in importance[:10]],
    }  # fmt: skip


MMD_BLOCK = 1024  # permutations whose labels are held at once (the default 200 in one block)


def mmd_permutation_test(x: np.ndarray, y: np.ndarray, permutations: int, seed: int) -> dict[str, Any]:
    """Unbiased MMD² with a Gaussian kernel (median-distance bandwidth) and its permutation p-value.

    The p-value is (1 + #{permuted >= observed}) / (1 + permutations), exact in level.
    """
    z = np.vstack([x, y])
    n, total = len(x), len(z)
    sq = np.sum(z * z, axis=1)
    dist2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0.0)
    off = dist2[np.triu_indices(total, 1)]
    bandwidth2 = float(np.median(off[off > 0])) if np.any(off > 0) else 1.0
    kernel = np.exp(-dist2 / bandwidth2)
    np.fill_diagonal(kernel, 0.0)
    rng = np.random.default_rng(seed)
    m = total - n
    stats = []
    # the label matrix in blocks of permutations: whole, it held (permutations + 1) x rows floats (447 GiB
    # for 10^8 permutations); the draws are the same, in the same order, whatever the block
    for start in range(0, permutations + 1, MMD_BLOCK):
        labels = np.zeros((min(MMD_BLOCK, permutations + 1 - start), total))
        for row, b in enumerate(range(start, start + len(labels))):
            if b == 0:
                labels[row, :n] = 1.0
            else:
                labels[row, rng.permutation(total)[:n]] = 1.0
        a, c = labels, 1.0 - labels
        ka, kc = kernel @ a.T, kernel @ c.T
        xx = np.sum(a.T * ka, axis=0) / (n * (n - 1))
        yy = np.sum(c.T * kc, axis=0) / (m * (m - 1))
        xy = np.sum(a.T * kc, axis=0) / (n * m)
        stats.append(xx + yy - 2 * xy)
    stat = np.concatenate(stats)
    p = (1 + np.sum(stat[1:] >= stat[0])) / (1 + permutations)
    return {"mmd2": float(stat[0]), "p_value": float(p), "permutations": permutations, "bandwidth": float(np.sqrt(bandwidth2)), "rows": {"reference": n, "current": m}}


def multivariate_drift(ref: pa.Table, cur: pa.Table, kinds: dict[str, str], spec: DriftSpec) -> dict[str, Any]:
    """Both multivariate tests on row samples of the feature columns."""
    x_ref, x_cur, names = encode_features(ref, cur, kinds)
    if not names or len(x_ref) < 20 or len(x_cur) < 20:
        return {"skipped": "fewer than 20 sampled rows or no usable feature columns", "drifted": False}
    doc: dict[str, Any] = {"features": names, "drifted": False}
    doc["classifier"] = domain_classifier(x_ref, x_cur, names, spec)
    doc["drifted"] = doc["classifier"]["drifted"]
    doc["mmd"] = mmd_drift(ref, cur, kinds, spec)
    return doc


def mmd_drift(ref: pa.Table, cur: pa.Table, kinds: dict[str, str], spec: DriftSpec) -> dict[str, Any]:
    """The MMD permutation test on ``spec.mmd_sample`` rows of each side's feature columns."""
    x_ref, x_cur = mmd_features(ref, cur, kinds)
    rng = np.random.default_rng(spec.seed + 7)
    k = min(spec.mmd_sample, len(x_ref), len(x_cur))
    xs = x_ref[rng.choice(len(x_ref), k, replace=False)]
    ys = x_cur[rng.choice(len(x_cur), k, replace=False)]
    mmd = mmd_permutation_test(xs, ys, spec.mmd_permutations, spec.seed)
    mmd["significant"] = mmd["p_value"] < spec.alpha
    return mmd


# A category is common (a one-hot dimension of its own for MMD, a code of its own for the domain
# classifier) when it is among the most common and holds at least this share of both samples together.
COMMON_CATEGORIES = 20
COMMON_MIN_SHARE = 0.01


@dataclass
class PooledCategories:
    """One category column of both samples together (reference rows first), counted over both."""

    index: np.ndarray  # per row: its common category (0 the most common), ``common`` for any other value, -1 missing
    share: np.ndarray  # per row: its value's share of both samples' rows (NaN missing)
    common: int  # how many common categories


def pooled_categories(ref: pa.ChunkedArray | pa.Array, cur: pa.ChunkedArray | pa.Array) -> PooledCategories:
    """The common categories of a column: the up to ``COMMON_CATEGORIES`` most common holding at
    least ``COMMON_MIN_SHARE`` of both samples together (ties by name); every other value is rare.

    Counted over both samples, so nothing here tells the sides apart: an identifier's values
    are all rare whichever side they come from.
    """
    text = np.asarray(to_text(ref).to_pylist() + to_text(cur).to_pylist(), dtype=object)
    present = text != None  # noqa: E711
    values, inverse, counts = np.unique(text[present].astype(str), return_inverse=True, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:COMMON_CATEGORIES]
    order = order[counts[order] >= COMMON_MIN_SHARE * text.size]
    rank = np.full(values.size, order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    index = np.full(text.size, -1, dtype=np.int64)
    index[present] = rank[inverse]
    share = np.full(text.size, np.nan)
    share[present] = counts[inverse] / text.size
    return PooledCategories(index, share, int(order.size))


def mmd_features(ref: pa.Table, cur: pa.Table, kinds: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Numbers standardized, missing as the mean (0); each category column one-hot over its common categories.

    Every statistic is taken over both samples together, so the encoding cannot tell the
    sides apart and the permutation p-value stays exact. One-hot (not the category's
    frequency, under which a category renamed at the same share, or two that swap shares,
    look alike) puts two different categories at squared distance 2, the mean squared
    distance between two standardized numbers. Rare values (an identifier, a long tail)
    all fall in "other", so they add nothing, whichever side they come from.
    """
    blocks = []
    for name in ref.column_names:
        if kinds.get(name) == "numeric":
            v = np.concatenate([to_float(ref.column(name)), to_float(cur.column(name))])
            valid = np.isfinite(v)
            mean = float(v[valid].mean()) if valid.any() else 0.0
            std = float(v[valid].std()) if valid.any() else 0.0
            blocks.append(np.where(valid, (v - mean) / (std if std > 0 else 1.0), 0.0)[:, None])
        elif kinds.get(name) == "categorical":
            pooled = pooled_categories(ref.column(name), cur.column(name))
            onehot = np.zeros((pooled.index.size, pooled.common + 1))  # the last: "other"; missing: no dimension set
            present = pooled.index >= 0
            onehot[np.flatnonzero(present), pooled.index[present]] = 1.0
            blocks.append(onehot)
    both = np.hstack(blocks) if blocks else np.zeros((ref.num_rows + cur.num_rows, 0))
    return both[: ref.num_rows], both[ref.num_rows :]
