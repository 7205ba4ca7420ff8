from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def cancer(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Breast-cancer data (bundled with scikit-learn), a good baseline and a worse candidate, on disk."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import skops.io as sio
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folder = tmp_path_factory.mktemp("cancer")
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    tr, te = order[:250], order[250:]
    names = [f"f{j:02d}" for j in range(X.shape[1])]
    base = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X[tr], y[tr])
    # the candidate only sees a copy of the data with the strongest features blurred: clearly worse
    Xw = X.copy()
    Xw[:, 20:30] = 0.0
    cand = make_pipeline(StandardScaler(), LogisticRegression(C=0.003, max_iter=2000)).fit(Xw[tr], y[tr])
    same = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X[tr], y[tr])
    sio.dump(base, folder / "baseline.skops")
    sio.dump(cand, folder / "candidate.skops")
    sio.dump(same, folder / "same.skops")
    cols = {n: X[te, j] for j, n in enumerate(names)}
    cols["size"] = np.where(X[te, 0] > np.median(X[:, 0]), "large", "small")
    cols["label"] = y[te]
    pq.write_table(pa.table(cols), folder / "test.parquet")
    return {"dir": folder, "names": names, "n": len(te), "acc_base": base.score(X[te], y[te]),
            "acc_cand": cand.score(X[te], y[te])}


def write_suite(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
