"""Paired bootstrap: every statistic sees the same resamples of the same rows.

A resample is drawn as row indices and turned into per-row counts (weights); every metric,
for both models and every slice, is evaluated on the same weight matrix, so deltas are
paired and one draw serves all gates. Weights come in chunks to bound memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["PairedBootstrap", "resample_weights"]

#: weight-matrix cells per chunk (float32): ~16 MB
_CHUNK_CELLS = 4_000_000


def resample_weights(n: int, n_resamples: int, rng: np.random.Generator, *, chunk: int | None = None) -> Iterator[np.ndarray]:
    """Yield (b, n) float32 arrays of bootstrap counts, b ≤ chunk, n_resamples rows in all."""
    chunk = chunk or max(1, min(n_resamples, _CHUNK_CELLS // max(n, 1)))
    done = 0
    while done < n_resamples:
        b = min(chunk, n_resamples - done)
        idx = rng.integers(0, n, size=(b, n))
        idx += (np.arange(b) * n)[:, None]
        # float32 holds every count exactly, and halves the memory traffic of everything downstream
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float32)
        done += b


class PairedBootstrap:
    """Evaluate named statistics of a weighting on ``n_resamples`` shared bootstrap resamples.

    Chunks of resamples are independent, each drawn from its own generator seeded by
    (seed, chunk number), so the replicates are the same whatever the number of threads.
    NumPy releases the GIL in the heavy operations, so threads give real parallelism.

    >>> import numpy as np
    >>> x = np.arange(10.0)
    >>> reps = PairedBootstrap(10, n_resamples=200, seed=1).run({"mean": lambda W: W @ x / W.sum(1)})
    >>> reps["mean"].shape
    (200,)
    """

    def __init__(self, n: int, *, n_resamples: int = 1000, seed: int = 0, threads: int | None = None) -> None:
        self.n = n
        self.n_resamples = n_resamples
        self.seed = seed
        if threads is None:
            threads = int(os.environ.get("ASSAY_THREADS", 0)) or min(4, os.cpu_count() or 1)
        self.threads = threads

    def run(self, statistics: dict[str, Callable[[np.ndarray], np.ndarray]], progress: object | None = None) -> dict[str, np.ndarray]:
        out = {name: np.empty(self.n_resamples) for name in statistics}
        chunk = max(1, min(self.n_resamples, _CHUNK_CELLS // max(self.n, 1)))
        starts = list(range(0, self.n_resamples, chunk))

        def one(i: int) -> None:
            start = starts[i]
            b = min(chunk, self.n_resamples - start)
            rng = np.random.default_rng([self.seed, i])
            W = next(resample_weights(self.n, b, rng, chunk=b))
            for name, fn in statistics.items():
                out[name][start : start + b] = fn(W)
            if progress is not None:
                progress.update(b)  # type: ignore[attr-defined]

        if self.threads <= 1 or len(starts) == 1:
            for i in range(len(starts)):
                one(i)
        else:
            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                list(pool.map(one, range(len(starts))))  # list(): re-raise any error here
        return out
