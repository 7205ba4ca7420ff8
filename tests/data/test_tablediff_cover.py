"""Table diff: changed-row examples that cover the differing columns; renamed columns told
apart when rows were added or removed too. Found by a new-user trial."""

from __future__ import annotations

import numpy as np
import pandas as pd

from assay.data._tablediff import diff_tables


def _write(tmp_path, old: pd.DataFrame, new: pd.DataFrame) -> tuple:  # type: ignore[no-untyped-def]
    a, b = tmp_path / "old.parquet", tmp_path / "new.parquet"
    old.to_parquet(a, index=False)
    new.to_parquet(b, index=False)
    return a, b


def test_changed_examples_show_the_columns_changed_in_few_rows_too(tmp_path):
    n = 2000
    old = pd.DataFrame({"id": np.arange(n), "a": np.arange(n), "b": np.zeros(n, int), "c": ["x"] * n})
    new = old.copy()
    new.loc[:999, "a"] += 1  # a changed in the first 1000 rows
    new.loc[[1500, 1600, 1700], "b"] = 1
    new.loc[[1200, 1800, 1900], "c"] = "y"
    d = diff_tables(*_write(tmp_path, old, new), key=["id"])
    assert d.rows_changed_by_column == {"a": 1000, "b": 3, "c": 3}
    shown = [set(e["columns"]) for e in d.changed_examples]
    assert len(shown) == 5 and {"a"} in shown  # was five rows of a alone
    assert any("b" in s for s in shown) and any("c" in s for s in shown)
    for e in d.changed_examples:  # each still the key's differing columns, old -> new
        i = e["key"]["id"]
        for col, change in e["columns"].items():
            assert change == {"old": old.at[i, col], "new": new.at[i, col]}
    assert len(diff_tables(*_write(tmp_path, old, new), key=["id"], max_examples=1).changed_examples) == 1
