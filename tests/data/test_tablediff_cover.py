"""Table diff: changed-row examples that cover the differing columns; renamed columns told
apart when rows were added or removed too. Found by a new-user trial."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assay.cli._table_diff import render_table_diff
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


def _frame(rng: np.random.Generator, ids: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "price": rng.normal(100, 20, ids.size).round(2),
                         "city": rng.choice([f"city{i}" for i in range(500)], ids.size),
                         "qty": rng.integers(0, 1_000_000, ids.size)})


@pytest.mark.parametrize("key", [["id"], None])
def test_a_renamed_column_is_told_with_rows_added_and_removed(tmp_path, capsys, key):
    rng = np.random.default_rng(7)
    n = 20_000
    old = _frame(rng, np.arange(n))
    new = old.drop(index=rng.choice(n, n // 20, replace=False))  # 5% removed
    new = pd.concat([new, _frame(rng, np.arange(n, n + n // 20))], ignore_index=True)  # 5% added
    new = new.rename(columns={"price": "price_usd", "city": "town"}).sample(frac=1, random_state=1)
    d = diff_tables(*_write(tmp_path, old, new), key=key)
    got = {(p["old"], p["new"]): p.get("shared") for p in d.schema["renamed"]}
    assert set(got) == {("price", "price_usd"), ("city", "town")}  # was none: only added / removed
    assert 0.9 <= got[("price", "price_usd")] < 1 and got[("city", "town")] == 1.0  # city: every value kept
    render_table_diff(d.to_dict())
    out = capsys.readouterr().out
    assert f"column renamed? price -> price_usd ({got[('price', 'price_usd')]:.0%} of values shared)" in out
    assert [c["name"] for c in d.schema["removed"]] == ["price", "city"]  # still, by name


def test_unrelated_columns_are_not_paired(tmp_path):
    rng = np.random.default_rng(3)
    n = 5_000
    old = pd.DataFrame({"id": np.arange(n), "a": rng.integers(0, 10**9, n), "small": rng.integers(0, 50, n),
                        "c": np.full(n, 5), "e": [None] * n})
    new = pd.DataFrame({"id": np.arange(n), "b": rng.integers(0, 10**9, n), "tiny": rng.integers(0, 50, n),
                        "d": np.full(n, 5), "f": [None] * n})
    new = new.iloc[: n - 100]  # rows removed: only the same values by print would pair c, d
    for key in (["id"], None):
        # Random ints over one small range share every value, not the rows'; constant and null columns: never.
        assert diff_tables(*_write(tmp_path, old, new), key=key).schema["renamed"] == []
    # One file's column named again, the other unchanged: paired by the same values, as before.
    assert diff_tables(*_write(tmp_path, old, old.rename(columns={"a": "b"}))).schema["renamed"] == [{"old": "a", "new": "b"}]
