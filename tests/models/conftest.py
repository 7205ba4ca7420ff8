from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def fitted() -> dict:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    return {"X": X, "y": y, "model": model}


@pytest.fixture
def files(tmp_path: Path, fitted: dict) -> dict[str, Path]:
    import joblib
    import skops.io as sio

    out = {"skops": tmp_path / "m.skops", "joblib": tmp_path / "m.joblib"}
    sio.dump(fitted["model"], out["skops"])
    joblib.dump(fitted["model"], out["joblib"])
    return out


def expected_proba(fitted: dict) -> np.ndarray:
    return fitted["model"].predict_proba(fitted["X"])
