"""Helpers for the monitoring tests: a reference table and rows like it (optionally shifted)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def reference_table(rows: int = 4000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        "age": rng.normal(40, 10, rows),
        "income": rng.lognormal(10, 0.5, rows),
        "country": rng.choice(["DE", "FR", "US", "JP"], rows, p=[0.4, 0.3, 0.2, 0.1]),
    })  # fmt: skip


def make_rows(n: int, *, seed: int, shift: float = 0.0, start: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    ages = rng.normal(40 + shift, 10, n)
    incomes = rng.lognormal(10, 0.5, n)
    countries = rng.choice(["DE", "FR", "US", "JP"], n, p=[0.4, 0.3, 0.2, 0.1])
    return [{"age": float(a), "income": float(i), "country": str(c), "event_id": f"e{start + k}"} for k, (a, i, c) in enumerate(zip(ages, incomes, countries))]
