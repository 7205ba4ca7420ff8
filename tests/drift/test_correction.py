"""Holm and Benjamini–Hochberg against SciPy and the textbook step procedures."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from assay.drift._correction import adjust_p_values

pvals = st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(pvals)
def test_bh_matches_scipy(p: list[float]) -> None:
    assert np.allclose(adjust_p_values(p, "bh"), stats.false_discovery_control(np.asarray(p)), atol=1e-12)


def _holm_reject(p: np.ndarray, alpha: float) -> np.ndarray:
    """Holm's step-down rule as written in the 1979 paper."""
    order = np.argsort(p, kind="stable")
    reject = np.zeros(p.size, dtype=bool)
    for k, i in enumerate(order):
        if p[i] > alpha / (p.size - k):
            break
        reject[i] = True
    return reject


@settings(max_examples=200, deadline=None)
@given(pvals, st.sampled_from([0.01, 0.05, 0.1]))
def test_holm_rejects_exactly_what_the_step_down_rule_rejects(p: list[float], alpha: float) -> None:
    arr = np.asarray(p)
    adjusted = adjust_p_values(arr, "holm")
    assert np.all(adjusted >= arr - 1e-15) and np.all(adjusted <= 1)
    # ties at the boundary are a matter of float rounding; compare away from it
    if not np.any(np.isclose(arr * np.arange(1, arr.size + 1)[:, None].T, alpha)):
        assert np.array_equal(adjusted <= alpha, _holm_reject(arr, alpha))


def test_holm_example_and_none() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005])
    assert adjust_p_values(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust_p_values(p, "none") == pytest.approx(p)
    assert adjust_p_values([], "holm").size == 0
