"""Every input format, and bad data inside columns: handled and reported, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from assay.drift import ColumnRule, DriftSpec, Profile, compare, profile_source
from assay.errors import InputError, UsageError

SPEC = DriftSpec(multivariate=False)


def _tables(n: int = 2000, shift: float = 0.6) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(0)
    ref = pa.table({"x": rng.normal(size=n), "y": rng.normal(size=n), "c": rng.choice(["a", "b"], n)})
    cur = pa.table({"x": rng.normal(shift, 1, n), "y": rng.normal(size=n), "c": rng.choice(["a", "b"], n)})
    return ref, cur


@pytest.mark.parametrize("fmt", ["parquet", "csv", "arrow", "feather", "folder", "pandas", "polars"])
def test_every_input_format_gives_the_same_verdict(fmt: str, tmp_path: Path) -> None:
    ref, cur = _tables()
    if fmt == "parquet":
        pq.write_table(ref, tmp_path / "r.parquet")
        pq.write_table(cur, tmp_path / "c.parquet")
        a, b = tmp_path / "r.parquet", tmp_path / "c.parquet"
    elif fmt == "csv":
        pacsv.write_csv(ref, tmp_path / "r.csv")
        pacsv.write_csv(cur, tmp_path / "c.csv")
        a, b = tmp_path / "r.csv", tmp_path / "c.csv"
    elif fmt in ("arrow", "feather"):
        feather.write_feather(ref, tmp_path / f"r.{fmt}")
        feather.write_feather(cur, tmp_path / f"c.{fmt}")
        a, b = tmp_path / f"r.{fmt}", tmp_path / f"c.{fmt}"
    elif fmt == "folder":
        for name, table in (("r", ref), ("c", cur)):
            (tmp_path / name).mkdir()
            pq.write_table(table.slice(0, 700), tmp_path / name / "part-0.parquet")
            pq.write_table(table.slice(700), tmp_path / name / "part-1.parquet")
        a, b = tmp_path / "r", tmp_path / "c"
    elif fmt == "pandas":
        a, b = ref.to_pandas(), cur.to_pandas()
    else:
        import polars as pl

        a, b = pl.from_arrow(ref), pl.from_arrow(cur)
    report = compare(a, b, SPEC)
    assert report.drifted_columns == ["x"]
    assert report.reference_rows == 2000 and report.current_rows == 2000
    expected = compare(ref, cur, SPEC)
    assert report.column("x").statistic == pytest.approx(expected.column("x").statistic)


def test_missing_file_empty_file_and_garbage_are_input_errors(tmp_path: Path) -> None:
    ref, _ = _tables()
    pq.write_table(ref, tmp_path / "r.parquet")
    with pytest.raises(InputError, match="does not exist"):
        compare(tmp_path / "nope.parquet", tmp_path / "r.parquet", SPEC)
    (tmp_path / "empty.parquet").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        compare(tmp_path / "r.parquet", tmp_path / "empty.parquet", SPEC)
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match="Parquet"):
        compare(tmp_path / "r.parquet", tmp_path / "bad.parquet", SPEC)
    (tmp_path / "what.bin").write_bytes(b"\x00\x01\x02garbage")
    with pytest.raises(InputError, match="format"):
        compare(tmp_path / "r.parquet", tmp_path / "what.bin", SPEC)
    (tmp_path / "header.csv").write_text("x,y,c\n")
    with pytest.raises(InputError, match="no rows"):
        compare(tmp_path / "r.parquet", tmp_path / "header.csv", SPEC)
    with pytest.raises(InputError, match="no rows"):
        compare(ref.slice(0, 0), ref, SPEC)


def test_schema_problems(tmp_path: Path) -> None:
    ref, cur = _tables()
    with pytest.raises(InputError, match="share no columns"):
        compare(ref, pa.table({"other": [1.0, 2.0]}), SPEC)
    # one column, or columns: not "column(s)"
    with pytest.raises(InputError, match="the reference has no column 'zzz'"):
        compare(ref, cur, DriftSpec(columns=("x", "zzz"), multivariate=False))
    with pytest.raises(InputError, match="the reference has no columns 'zzz', 'qqq'"):
        compare(ref, cur, DriftSpec(columns=("x", "zzz", "qqq"), multivariate=False))
    with pytest.raises(InputError, match="target"):
        compare(ref, cur, DriftSpec(target="label", multivariate=False))
    report = compare(ref, cur.drop_columns(["y"]).append_column("new", pa.array(np.arange(2000))), SPEC)
    types = {f.type for f in report.findings}
    assert {"column_missing", "column_added"} <= types
    with pytest.raises(UsageError):
        compare(ref, cur, DriftSpec(numeric={"test": "chi2"}))
    with pytest.raises(UsageError):
        compare(ref, cur, DriftSpec(fail_on="most"))


def test_bad_values_inside_columns_are_reported_not_fatal() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    x = rng.normal(size=n)
    x_cur = x.copy()
    x_cur[:50] = np.inf
    x_cur[50:60] = -np.inf
    x_cur[60:200] = np.nan
    ref = pa.table({
        "x": x,
        "all_null": pa.nulls(n, pa.float64()),
        "null_typed": pa.nulls(n),
        "nan_only": np.full(n, np.nan),
        "went_null": rng.normal(size=n),
        "ts": pa.array(np.arange(n) * 1_000_000, pa.timestamp("us")),
        "nested": pa.array([[1, 2]] * n),
        "flag": rng.random(n) < 0.5,
    })  # fmt: skip
    cur = pa.table({
        "x": x_cur,
        "all_null": pa.nulls(n, pa.float64()),
        "null_typed": pa.nulls(n),
        "nan_only": np.full(n, np.nan),
        "went_null": pa.nulls(n, pa.float64()),
        "ts": pa.array(np.arange(n) * 1_000_000 + 5, pa.timestamp("us")),
        "nested": pa.array([[1]] * n),
        "flag": rng.random(n) < 0.5,
    })  # fmt: skip
    report = compare(ref, cur, SPEC)
    x_col = report.column("x")
    assert x_col.current["nonfinite"] == 60 and x_col.current["missing"] == 140
    assert any(f.type == "nonfinite" for f in x_col.findings)
    assert report.column("all_null").statistic is None and not report.column("all_null").drifted
    assert any(f.type == "all_null" for f in report.column("nan_only").findings)
    went = report.column("went_null")
    assert went.drifted and went.missing_rate["current"] == 1.0
    assert report.column("ts").kind == "numeric"
    assert report.column("flag").kind == "categorical"
    assert any(f.type == "unsupported_type" and f.column == "nested" for f in report.findings)
    assert "nested" not in [c.name for c in report.columns]
    assert report.to_dict()["columns"]  # JSON-ready: NaN/inf became None
    import json

    json.dumps(report.to_dict(), allow_nan=False)


def test_mixed_types_and_type_mismatch() -> None:
    import pandas as pd

    ref = pd.DataFrame({"m": [1, "a", 2.5, None] * 250, "num": np.arange(1000.0), "txt": ["1", "2"] * 500})
    cur = pd.DataFrame({"m": ["a", 3, None, "b"] * 250, "num": ["x", "y"] * 500, "txt": np.arange(1000.0) % 3})
    report = compare(ref, cur, SPEC)
    types = {(f.type, f.column) for f in report.findings}
    assert ("mixed_types", "m") in types
    assert ("type_mismatch", "num") in types and ("type_mismatch", "txt") in types
    assert report.column("num").kind == "categorical" and report.column("num").drifted
    assert report.column("m").kind == "categorical"
    # text that parses as numbers is compared as numbers
    report = compare(pa.table({"v": np.arange(500.0)}), pa.table({"v": [str(v) for v in np.arange(500.0)]}), SPEC)
    assert report.column("v").kind == "numeric" and report.column("v").statistic == 0.0


def test_hundred_thousand_categories() -> None:
    rng = np.random.default_rng(2)
    n = 150_000
    ref = pa.table({"id": [f"u{i}" for i in range(n)], "city": rng.choice([f"c{i}" for i in range(120_000)], n)})
    cur = pa.table({"id": [f"u{i + n}" for i in range(n)], "city": rng.choice([f"c{i}" for i in range(120_000)], n)})
    for method in ("exact", "binned"):
        report = compare(ref, cur, DriftSpec(multivariate=False, method=method, max_categories=5000))
        ids = report.column("id")
        unseen = next(f for f in ids.findings if f.type == "unseen_categories")
        types = {f.type for f in ids.findings}
        assert "identifier_like" in types
        if method == "exact":
            assert unseen.details["share"] == 1.0
            # every id is new, and an identifier expects exactly that (Good-Turing: all singletons)
            assert unseen.details["expected_share"] == 1.0 and unseen.severity == "info"
            assert "high_cardinality" in types
        else:  # capped sketches see only the most frequent categories: a lower bound, said so
            assert unseen.details["share"] > 0.05 and "capped" in unseen.message
        # sparse but real categories, same distribution: reported, not drift
        city = report.column("city")
        assert city.effect is not None and not city.drifted


def test_exact_and_binned_agree() -> None:
    ref, cur = _tables(20_000, shift=0.1)
    exact = compare(ref, cur, SPEC)
    binned = compare(ref, cur, DriftSpec(multivariate=False, method="binned"))
    assert exact.method["mode"] == "exact" and binned.method["mode"] == "binned"
    assert exact.drifted_columns == binned.drifted_columns
    for name in ("x", "y"):
        assert binned.column(name).statistic == pytest.approx(exact.column(name).statistic, abs=2e-3)
    assert binned.column("c").statistic == pytest.approx(exact.column("c").statistic)


def test_target_and_prediction_roles() -> None:
    rng = np.random.default_rng(3)
    n = 4000
    ref = pa.table({"x": rng.normal(size=n), "label": rng.integers(0, 2, n), "score": rng.random(n)})
    cur = pa.table({"x": rng.normal(size=n), "label": (rng.random(n) < 0.8).astype(np.int64), "score": rng.random(n) ** 0.5})
    report = compare(ref, cur, DriftSpec(target="label", prediction="score"))
    assert report.column("label").role == "target" and report.column("label").kind == "categorical"
    assert report.column("score").role == "prediction" and report.column("score").kind == "numeric"
    assert report.column("label").drifted and report.column("score").drifted
    assert report.multivariate is not None and report.multivariate["features"] == ["x"]


def test_per_column_and_per_kind_rules_and_fail_on_share() -> None:
    ref, cur = _tables(5000, shift=0.3)
    spec = DriftSpec(multivariate=False, numeric={"test": "psi", "threshold": 0.05}, per_column={"y": {"test": "wasserstein", "threshold": 0.5}},
                     categorical={"test": "tv"})  # fmt: skip
    report = compare(ref, cur, spec)
    assert report.column("x").test == "psi" and report.column("x").threshold == 0.05 and report.column("x").p_value is not None  # distances have a permutation p-value now
    assert report.column("y").test == "wasserstein" and report.column("y").threshold == 0.5
    assert report.column("c").test == "tv"
    assert report.drift
    share = compare(ref, cur, DriftSpec(multivariate=False, fail_on="share:0.5"))
    assert share.drifted_columns == ["x"] and not share.drift
    assert DriftSpec.from_dict(spec.to_dict()).digest() == spec.digest()


def test_reports_are_deterministic() -> None:
    ref, cur = _tables(3000)
    a = compare(ref, cur, DriftSpec(seed=5)).to_dict(charts=True)
    b = compare(ref, cur, DriftSpec(seed=5)).to_dict(charts=True)
    assert a == b


def test_dictionary_encoded_text_counts_like_plain_text(tmp_path: Path) -> None:
    """Parquet text columns are read as dictionaries and counted from their indices."""
    from assay.drift._columns import categorical_side
    from assay.drift._io import ParquetSource

    plain = pa.array(["b", "a", None, "c", "a", "a", None, "b"])
    chunks = [plain.slice(0, 3).dictionary_encode(), plain.slice(3).dictionary_encode().slice(1)]  # different dictionaries, an offset
    nulls_in_dictionary = pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 0], type=pa.int8()), pa.array(["a", None]))
    for encoded, decoded in ((pa.chunked_array(chunks), pa.chunked_array([plain.slice(0, 3), plain.slice(4)])),
                             (nulls_in_dictionary, pa.array(["a", None, None, "a"]))):  # fmt: skip
        got, want = categorical_side(encoded), categorical_side(decoded)
        assert (got.rows, got.missing) == (want.rows, want.missing)
        assert dict(zip(got.categories.tolist(), got.counts.tolist())) == dict(zip(want.categories.tolist(), want.counts.tolist()))
    ref, cur = _tables()
    pq.write_table(ref, tmp_path / "ref.parquet", row_group_size=500)
    pq.write_table(cur, tmp_path / "cur.parquet", row_group_size=700)
    assert pa.types.is_dictionary(ParquetSource(tmp_path / "ref.parquet", "ref").read_column("c").type)
    from_files = compare(tmp_path / "ref.parquet", tmp_path / "cur.parquet", SPEC)
    in_memory = compare(ref, cur, SPEC)
    assert [(c.name, c.statistic, c.p_value) for c in from_files.columns] == [(c.name, c.statistic, c.p_value) for c in in_memory.columns]
    binned = compare(tmp_path / "ref.parquet", tmp_path / "cur.parquet", DriftSpec(multivariate=True, method="binned", bins=50))
    assert binned.column("c").reference["distinct"] == 2 and binned.multivariate is not None


def test_times_compare_in_one_unit_whatever_each_side_stores(tmp_path: Path) -> None:
    """A Parquet file written by pandas holds timestamp[us], the same times read from a CSV
    timestamp[s]: compared as raw ticks they differed by a factor of a million (KS D 1, drift)."""
    rng = np.random.default_rng(5)
    seconds = 1_704_067_200 + rng.integers(0, 86_400 * 30, 3000)
    ref = pa.table({"ts": pa.array(seconds * 1_000_000, pa.timestamp("us")), "day": pa.array(seconds // 86_400, pa.int32()).cast(pa.date32())})
    for unit, factor in (("s", 1), ("ms", 1000), ("ns", 1_000_000_000)):
        cur = pa.table({"ts": pa.array(seconds * factor, pa.timestamp(unit)), "day": pa.array(seconds // 86_400 * 86_400_000, pa.date64())})
        report = compare(ref, cur, SPEC)
        assert not report.drift, unit
        assert all(c.effect == 0 for c in report.columns), [(c.name, c.effect) for c in report.columns]
    # and through a CSV file, as a user meets it
    pq.write_table(ref.select(["ts"]), tmp_path / "ref.parquet")
    pacsv.write_csv(pa.table({"ts": pa.array(seconds, pa.timestamp("s"))}), tmp_path / "cur.csv")
    report = compare(tmp_path / "ref.parquet", tmp_path / "cur.csv", SPEC)
    assert not report.drift and report.columns[0].effect == 0


def test_binned_times_count_in_the_references_ticks_whatever_each_side_stores(tmp_path: Path) -> None:
    """Binned mode (and references over 2M rows) counted current times as raw ticks on the
    reference's edges: seconds against microseconds all fell in the first bin (KS D 1, drift)."""
    rng = np.random.default_rng(8)
    seconds = 1_704_067_200 + rng.integers(0, 86_400 * 30, 3000)
    ref = pa.table({"ts": pa.array(seconds * 1_000_000, pa.timestamp("us")), "day": pa.array(seconds // 86_400, pa.int32()).cast(pa.date32())})
    binned = DriftSpec(method="binned", bins=50)
    for unit, factor in (("s", 1), ("ms", 1000), ("ns", 1_000_000_000)):
        cur = pa.table({"ts": pa.array(seconds * factor, pa.timestamp(unit)), "day": pa.array(seconds // 86_400 * 86_400_000, pa.date64())})
        report = compare(ref, cur, binned)
        assert not report.drift, unit
        assert all(c.effect == 0 for c in report.columns), [(unit, c.name, c.effect) for c in report.columns]
    # a saved profile keeps its ticks, and a current profile counted like it converts to them
    pq.write_table(ref.select(["ts"]), tmp_path / "ref.parquet")
    pacsv.write_csv(pa.table({"ts": pa.array(seconds, pa.timestamp("s"))}), tmp_path / "cur.csv")
    reference, _ = profile_source(tmp_path / "ref.parquet")
    assert reference.columns["ts"].tick_us == 1.0
    reference.save(tmp_path / "ref.json")
    again = Profile.load(tmp_path / "ref.json")
    assert again.columns["ts"].tick_us == 1.0
    current, _ = profile_source(tmp_path / "cur.csv", like=tmp_path / "ref.json")
    assert current.columns["ts"].tick_us == 1.0 and current.columns["ts"].counts.tolist() == again.columns["ts"].counts.tolist()
    report = compare(tmp_path / "ref.json", current, SPEC)
    assert not report.drift and report.columns[0].effect == 0
    # a profile saved before ticks were kept loads, and counts raw ticks as it always did
    doc = json.loads((tmp_path / "ref.json").read_text())
    del doc["columns"]["ts"]["tick_us"]
    (tmp_path / "old.json").write_text(json.dumps(doc))
    assert Profile.load(tmp_path / "old.json").columns["ts"].tick_us is None
    as_before, _ = profile_source(tmp_path / "ref.parquet", like=tmp_path / "old.json")
    assert as_before.columns["ts"].tick_us is None and as_before.columns["ts"].counts.tolist() == again.columns["ts"].counts.tolist()


def test_an_empty_text_field_in_a_csv_is_missing_as_in_parquet(tmp_path: Path) -> None:
    """pandas writes NaN in a text column as an empty field: it was read as the category "",
    so a CSV showed a new category where the same data in Parquet showed a missing-rate change."""
    rng = np.random.default_rng(6)
    values = rng.choice(["a", "b", "c"], 4000).tolist()
    ref = pa.table({"c": values})
    cur = pa.table({"c": [None if i % 7 == 0 else v for i, v in enumerate(values)]})
    for side, table in (("ref", ref), ("cur", cur)):
        pq.write_table(table, tmp_path / f"{side}.parquet")
        (tmp_path / f"{side}.csv").write_text("c,n\n" + "\n".join(f"{'' if v is None else v},{i}" for i, v in enumerate(table.column("c").to_pylist())) + "\n")
    as_csv = compare(tmp_path / "ref.csv", tmp_path / "cur.csv", SPEC)
    as_parquet = compare(tmp_path / "ref.parquet", tmp_path / "cur.parquet", SPEC)
    for report in (as_csv, as_parquet):
        column = next(c for c in report.columns if c.name == "c")
        assert column.current["missing"] == len([v for v in cur.column("c").to_pylist() if v is None])
        assert column.missing_rate["drifted"] and column.effect < 0.01
        assert not any(f.type == "unseen_categories" for f in column.findings + report.findings)


def test_a_bool_column_against_the_same_flags_as_zero_and_one_does_not_drift() -> None:
    """A bool column written as 0/1 integers was compared as text, 'true' against '1': TV 1.0, drift."""
    rng = np.random.default_rng(7)
    flags = rng.random(3000) < 0.3
    as_bool = pa.table({"flag": pa.array(flags), "x": rng.normal(size=3000)})
    as_int = pa.table({"flag": pa.array(flags.astype(np.int64)), "x": as_bool.column("x")})
    for ref, cur, message in ((as_bool, as_int, "true/false in the reference but 0/1"), (as_int, as_bool, "0/1 in the reference but true/false")):
        report = compare(ref, cur, SPEC)
        flag = next(c for c in report.columns if c.name == "flag")
        assert not report.drift and flag.kind == "categorical" and flag.effect == 0
        assert any(message in f.message for f in report.findings)
    # a 0/1/2 column is not a flag: still compared as text, and drifts
    report = compare(as_bool, pa.table({"flag": pa.array(rng.integers(0, 3, 3000)), "x": as_bool.column("x")}), SPEC)
    assert report.drifted_columns == ["flag"]


def test_two_columns_of_one_name_are_an_input_error(tmp_path: Path) -> None:
    """A CSV header 'a,a,b' was an internal error (exit 3, KeyError 'Column a does not exist in schema')."""
    (tmp_path / "dup.csv").write_text("a,a,b\n1,2,x\n3,4,y\n")
    pq.write_table(pa.table([pa.array([1.0, 2.0]), pa.array([3.0, 4.0])], names=["v", "v"]), tmp_path / "dup.parquet")
    (tmp_path / "ok.csv").write_text("a,b\n1,x\n")
    for name in ("dup.csv", "dup.parquet"):
        with pytest.raises(InputError, match="has more than one column named '[av]'"):
            compare(tmp_path / name, tmp_path / "ok.csv", SPEC)


def test_a_folder_whose_files_disagree_on_a_column_kind_is_an_input_error(tmp_path: Path) -> None:
    """Numbers in one file and text in another were an internal error (exit 3, ArrowInvalid
    'Failed to parse string'), met in the middle of the comparison."""
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(pa.table({"x": [1.0, 2.0] * 30}), folder / "a.parquet")
    pq.write_table(pa.table({"x": ["u", "v"] * 30}), folder / "b.parquet")
    pq.write_table(pa.table({"x": [1.0, 2.0] * 30}), tmp_path / "one.parquet")
    with pytest.raises(InputError, match="disagree on column 'x': numeric in the first file, categorical \\(string\\) in .*b.parquet"):
        compare(folder, tmp_path / "one.parquet", SPEC)


def test_a_column_of_a_type_drift_cannot_judge_is_named_with_its_type(tmp_path: Path) -> None:
    """The warning said only 'column 'c' has a type drift cannot judge; skipped': not which
    type, nor that a CSV in Latin-1 (not UTF-8) reads its text as bytes."""
    (tmp_path / "latin1.csv").write_bytes(b"x,c\n1,caf\xe9\n2,b\n")
    (tmp_path / "utf8.csv").write_text("x,c\n1,a\n2,b\n")
    report = compare(tmp_path / "latin1.csv", tmp_path / "utf8.csv", SPEC)
    assert [f.message for f in report.findings if f.type == "unsupported_type"] == [
        "column 'c' holds bytes (binary) in the reference, which drift cannot judge (a CSV that is not UTF-8 reads as bytes); skipped"]
    nested = pa.table({"s": pa.array([{"u": i} for i in range(30)]), "x": np.arange(30.0)})
    report = compare(nested, nested, SPEC)
    assert [f.message for f in report.findings if f.type == "unsupported_type"] == [
        "column 's' is of a type drift cannot judge on both sides: struct<u: int64>; skipped"]


def test_a_spec_built_in_python_may_hold_numpy_numbers() -> None:
    """The spec's type check refused np.int64 and np.float32 values (and np.bool_), which a
    spec built from computed settings holds: 'bins must be a whole number, got np.int64(50)'."""
    table = pa.table({"x": np.arange(100.0), "c": ["a", "b"] * 50})
    spec = DriftSpec(bins=np.int64(50), seed=np.int64(3), alpha=np.float32(0.01), multivariate=np.bool_(False),  # type: ignore[arg-type]
                     per_column={"x": ColumnRule("psi", np.float32(0.2))})  # type: ignore[arg-type]  # fmt: skip
    assert not compare(table, table, spec).drift
    assert spec.validate().to_dict()["bins"] == 50 and isinstance(spec.bins, int) and spec.multivariate is False
    spec.digest()  # numpy numbers were not JSON
    with pytest.raises(UsageError, match="bins must be a whole number"):
        DriftSpec(bins=np.float64(50.5)).validate()  # type: ignore[arg-type]


def test_nan_in_a_zero_one_column_against_flags_stays_missing() -> None:
    """Cast to true/false, a NaN (not null) in the 0/1 side became true: the missing values
    were counted as a category."""
    rng = np.random.default_rng(8)
    flags = rng.random(2000) < 0.3
    ones = flags.astype(np.float64)
    ones[::10] = np.nan  # NaN, not null (from_pandas=False keeps it)
    report = compare(pa.table({"f": pa.array(flags)}), pa.table({"f": pa.array(ones, from_pandas=False)}), SPEC)
    flag = report.columns[0]
    assert flag.kind == "categorical" and flag.current["missing"] == 200 and flag.effect < 0.03


def test_a_time_of_day_column_is_compared_not_an_internal_error(tmp_path: Path) -> None:
    """A CSV column of times of day reads as time32[s]: casting it to int64 failed
    ('Unsupported cast from time32[s] to int64'), an internal error (exit 3)."""
    rng = np.random.default_rng(9)
    seconds = rng.integers(0, 86_400, 2000)
    (tmp_path / "a.csv").write_text("t\n" + "\n".join(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in seconds) + "\n")
    micro = pa.table({"t": pa.array(seconds * 1_000_000).cast(pa.time64("us"))})
    for reference in (tmp_path / "a.csv", micro):
        report = compare(reference, tmp_path / "a.csv", SPEC)
        assert not report.drift and report.columns[0].kind == "numeric" and report.columns[0].effect == 0


def test_a_folder_whose_files_hold_ints_and_floats_is_read_as_floats(tmp_path: Path) -> None:
    """pandas writes a partition with no missing value as int64 and one with NaN as float64:
    the folder was read with the first file's int64 and failed (exit 3, 'Float value 1.5
    was truncated'). A later file with finer times, or wider integers, failed likewise."""
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(pa.table({"x": pa.array([1, 2] * 30), "t": pa.array(np.arange(60), pa.timestamp("ms")), "n": pa.array([1, 2] * 30, pa.int8()), "e": pa.nulls(60)}),
                   folder / "a.parquet")  # fmt: skip
    pq.write_table(pa.table({"x": pa.array([1.5, None] * 30), "t": pa.array(np.arange(60) * 10**6 + 5, pa.timestamp("ns")), "n": pa.array([1000, 2] * 30), "e": pa.array([1.0] * 60)}),
                   folder / "b.parquet")  # fmt: skip
    for method in ("exact", "binned"):
        report = compare(folder, folder, DriftSpec(multivariate=False, method=method))
        assert not report.drift and (report.reference_rows, report.current_rows) == (120, 120), method
        assert {c.name: c.reference["missing"] for c in report.columns} == {"x": 30, "t": 0, "n": 0, "e": 60}


def test_a_column_only_later_files_of_a_folder_have_is_said_to_be_left_out(tmp_path: Path) -> None:
    """A folder is read with its first file's columns: a column a later file added was dropped
    without a word."""
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(pa.table({"x": np.arange(60.0)}), folder / "a.parquet")
    pq.write_table(pa.table({"x": np.arange(60.0), "late": ["y"] * 60}), folder / "b.parquet")
    single = tmp_path / "one.parquet"
    pq.write_table(pa.table({"x": np.arange(120.0)}), single)
    for method in ("exact", "binned"):
        for ref, cur in ((folder, single), (single, folder)):
            report = compare(ref, cur, DriftSpec(multivariate=False, method=method))
            left = [f for f in report.findings if f.type == "column_left_out"]
            assert [(f.column, f.severity) for f in left] == [("late", "warning")], (method, ref)
            assert "b.parquet" in left[0].message and "left out" in left[0].message
    assert not [f for f in compare(single, single, DriftSpec(multivariate=False)).findings if f.type == "column_left_out"]


def test_a_whole_number_written_with_a_decimal_point_is_still_a_whole_number() -> None:
    """bins: 100.0, max_categories: 5000.0 or exact_max_rows: 1e6 (JSON has no integer
    exponent form) worked before the spec's type check, which then refused them."""
    table = pa.table({"x": np.arange(300.0), "c": ["a", "b", "c"] * 100})
    spec = DriftSpec.from_dict({"bins": 100.0, "exact_max_rows": 1e6, "max_categories": 5000.0, "seed": 1.0, "multivariate": False})
    assert not compare(table, table, spec).drift
    assert (spec.bins, spec.exact_max_rows, spec.max_categories, spec.seed) == (100, 1_000_000, 5000, 1) and isinstance(spec.bins, int)
    with pytest.raises(UsageError, match="bins must be a whole number, got 10.5"):
        DriftSpec.from_dict({"bins": 10.5}).validate()


def test_a_profile_made_when_empty_text_was_a_category_still_matches_the_same_csv(tmp_path: Path) -> None:
    """A profile saved before empty CSV fields were read as missing counts "" as a category;
    the very same CSV read now had "" as missing: chi2 drift and a missing rate of 0% -> 35%.
    Where the reference counts "", the current CSV keeps "" as a category in that column."""
    from assay.drift import profile_source

    rng = np.random.default_rng(8)
    colour = rng.choice(["red", "", "blue"], 3000, p=[0.4, 0.35, 0.25]).tolist()
    city = rng.choice(["x", "y"], 3000).tolist()
    city[:300] = [""] * 300  # empty in the CSV, but this column's profile was made the new way
    path = tmp_path / "data.csv"
    path.write_text("colour,city,n\n" + "\n".join(f"{c},{t},{i}" for i, (c, t) in enumerate(zip(colour, city))) + "\n")
    # the old reading: pyarrow's own, "" a category
    old_profile, _ = profile_source(pacsv.read_csv(path).select(["colour", "n"]))
    assert old_profile.columns["colour"].values[""] > 0 and old_profile.columns["colour"].missing == 0
    new_profile, _ = profile_source(path, columns=["city"])
    old_profile.columns["city"] = new_profile.columns["city"]
    old_profile.save(tmp_path / "old.json")
    report = compare(tmp_path / "old.json", path, SPEC)
    colour_result = next(c for c in report.columns if c.name == "colour")
    assert not report.drift and colour_result.current["missing"] == 0 and colour_result.effect == 0
    assert not colour_result.missing_rate["drifted"]
    assert any(f.type == "empty_text_category" and f.column == "colour" for f in report.findings)
    # a column whose reference reads "" as missing keeps reading it so
    assert next(c for c in report.columns if c.name == "city").current["missing"] == 300
    # profile to profile: the current CSV profiled like the old reference counts "" as it does
    like, _ = profile_source(path, like=tmp_path / "old.json")
    assert like.columns["colour"].values[""] == colour.count("") and like.columns["city"].missing == 300
    like.save(tmp_path / "like.json")
    both = compare(tmp_path / "old.json", tmp_path / "like.json", SPEC)
    assert not both.drift and all(c.effect == 0 for c in both.columns), [(c.name, c.effect) for c in both.columns]
    # and an old current profile against a reference read the new way: its "" is read as missing
    new_reference, _ = profile_source(path)
    new_reference.save(tmp_path / "new.json")
    old_current = Profile.from_dict({**like.to_dict(), "columns": {n: like.columns[n].to_dict() for n in ("colour", "city", "n")}})
    old_current.save(tmp_path / "old-current.json")
    reverse = compare(tmp_path / "new.json", tmp_path / "old-current.json", SPEC)
    colour_reverse = next(c for c in reverse.columns if c.name == "colour")
    assert not reverse.drift and colour_reverse.effect == 0 and colour_reverse.current["missing"] == colour.count("")
    assert any(f.type == "empty_text_category" and f.column == "colour" for f in reverse.findings)


def test_a_csv_header_or_row_longer_than_arrows_block_is_read(tmp_path: Path) -> None:
    """Arrow reads CSVs in blocks of 1 MiB: a longer header was reported as "is empty", a longer
    row as a parse error ("straddling object"). Both read now, with larger blocks."""
    from assay.drift._io import _read_csv

    names = [f"feature_{i:06d}" for i in range(80_000)]  # a header of 1.2 MB
    (tmp_path / "wide.csv").write_text(",".join(names) + "\n" + ",".join(["1"] * len(names)) + "\n")
    wide = _read_csv(tmp_path / "wide.csv", "wide.csv")
    assert wide.schema.names == names and wide.num_rows == 1
    (tmp_path / "long.csv").write_text("a,b\n1," + "x" * 3_000_000 + "\n2,y\n")
    long = _read_csv(tmp_path / "long.csv", "long.csv")
    assert long.num_rows == 2 and long.schema.names == ["a", "b"]
    (tmp_path / "blank.csv").write_text("\n\n")
    with pytest.raises(InputError, match="blank.csv is empty"):
        _read_csv(tmp_path / "blank.csv", "blank.csv")


def test_a_parquet_profile_that_holds_empty_text_and_missing_values_keeps_its_empty_text(tmp_path: Path) -> None:
    """A current profile that counts "" against a reference that does not had its "" read as
    missing (meant for current profiles of a CSV saved before empty fields were read as missing).
    A Parquet column that holds "" and nulls too is no such profile: its "" is a category, as
    when the same file is compared as data."""
    rng = np.random.default_rng(3)
    reference = rng.choice(["a", "b", None], 4000, p=[0.45, 0.45, 0.1]).tolist()
    current = rng.choice(["a", "b", "", None], 4000, p=[0.35, 0.35, 0.2, 0.1]).tolist()
    pq.write_table(pa.table({"c": pa.array(reference, pa.string())}), tmp_path / "ref.parquet")
    pq.write_table(pa.table({"c": pa.array(current, pa.string())}), tmp_path / "cur.parquet")
    ref, _ = profile_source(tmp_path / "ref.parquet")
    ref.save(tmp_path / "ref.json")
    cur, _ = profile_source(tmp_path / "cur.parquet", like=tmp_path / "ref.json")
    cur.save(tmp_path / "cur.json")
    as_data = compare(tmp_path / "ref.json", tmp_path / "cur.parquet", SPEC)
    as_profile = compare(tmp_path / "ref.json", tmp_path / "cur.json", SPEC)
    for report in (as_data, as_profile):
        column = report.columns[0]
        assert column.current["missing"] == current.count(None), column.current
        assert not any(f.type == "empty_text_category" for f in report.findings)
    assert as_profile.columns[0].effect == pytest.approx(as_data.columns[0].effect)


def test_a_column_that_turns_infinite_drifts() -> None:
    """A feature with infinities in 30% of its current rows (a division by zero upstream) was "ok":
    its KS test left them out, like missing values, but no missing-rate test counted them."""
    rng = np.random.default_rng(5)
    n = 2000
    z = rng.normal(size=n)
    z[: n * 3 // 10] = np.inf
    ref = pa.table({"z": rng.normal(size=n), "few": np.r_[rng.normal(size=n - 20), np.full(20, -np.inf)]})
    cur = pa.table({"z": z, "few": np.r_[rng.normal(size=n - 22), np.full(22, -np.inf)]})
    for method in ("exact", "binned"):
        report = compare(ref, cur, DriftSpec(multivariate=False, method=method))
        col = report.column("z")
        assert col.drifted and col.nonfinite_rate["drifted"] and col.nonfinite_rate["current"] == pytest.approx(0.3)
        assert col.nonfinite_rate["p_adjusted"] < 1e-10 and not col.missing_rate["drifted"]
        assert any(f.type == "nonfinite_rate" and f.severity == "drift" for f in col.findings)
        assert any(f.type == "nonfinite" and "'z'" in f.message for f in col.findings)  # the note names its column
        assert report.drifted_columns == ["z"]  # the same few infinities on both sides are no drift
    # no infinities on either side: no test, and the correction's family is as before
    plain = compare(ref.select(["z"]).set_column(0, "z", pa.array(rng.normal(size=n))), ref.select(["z"]), DriftSpec(multivariate=False))
    assert plain.column("z").nonfinite_rate["p_value"] is None and plain.method["family_size"] == 1


def test_a_flag_written_as_0_1_is_no_multivariate_drift() -> None:
    """The flag column was compared as true/false, but the domain classifier's samples kept "true"
    against "1": it told the sides apart perfectly (AUC 1.000) and equal data was DRIFT, exit 1."""
    rng = np.random.default_rng(8)
    n = 2000
    ref = pa.table({"x": rng.normal(size=n), "flag": rng.random(n) < 0.3})
    cur = pa.table({"x": rng.normal(size=n), "flag": (rng.random(n) < 0.3).astype(np.int64)})
    for a, b in ((ref, cur), (cur, ref)):  # 0/1 in the reference and true/false in the current data too
        report = compare(a, b, DriftSpec(mmd_permutations=99))
        assert report.column("flag").kind == "categorical" and not report.drifted_columns
        assert report.multivariate["classifier"]["auc"] < 0.56 and not report.drift


def test_a_numeric_column_with_a_stray_word_in_one_side_is_compared_as_numbers() -> None:
    """One "oops" in a CSV's numeric column read the whole side as text, compared as categories:
    "1.100" is not the reference's 1.1, and equal data drifted (TV 0.5, p 1e-152 on 300,000 rows)."""
    rng = np.random.default_rng(9)
    n = 3000
    numbers = pa.table({"v": rng.normal(size=n)})
    text = [f"{v:.3f}" for v in rng.normal(size=n)]
    text[:15] = ["oops"] * 10 + ["n.a."] * 5
    words = pa.table({"v": pa.array(text)})
    for ref, cur, side in ((numbers, words, "the current data"), (words, numbers, "the reference")):
        report = compare(ref, cur, DriftSpec(mmd_permutations=99))
        col = report.column("v")
        assert col.kind == "numeric" and col.test == "ks" and not report.drift
        (note,) = [f for f in report.findings if f.type == "type_mismatch"]
        assert note.message == (f"column 'v' is text in {side}, where 15 of its 3,000 values are not numbers (such as 'oops', 'n.a.'): "
                                "compared as numbers, those read as missing")
        assert col.missing_rate["reference" if side == "the reference" else "current"] == pytest.approx(15 / n)
    # mostly words: categories, as before
    mostly = pa.table({"v": pa.array(["oops"] * (n // 2) + text[: n // 2])})
    assert compare(numbers, mostly, SPEC).column("v").kind == "categorical"


def test_a_flag_written_as_0_1_is_no_drift_in_binned_mode_or_against_a_profile(tmp_path: Path) -> None:
    """Exact mode compared true/false with 0/1 as flags; binned mode and a profile counted with
    --like compared them as text: TV 1.0, every current category new, and the classifier AUC 1.000."""
    rng = np.random.default_rng(10)
    n = 3000
    ref = pa.table({"x": rng.normal(size=n), "flag": rng.random(n) < 0.3})
    cur = pa.table({"x": rng.normal(size=n), "flag": (rng.random(n) < 0.3).astype(np.int64)})
    exact = compare(ref, cur, DriftSpec(mmd_permutations=99)).column("flag")
    binned = compare(ref, cur, DriftSpec(method="binned", mmd_permutations=99))
    assert not binned.drift and binned.multivariate["classifier"]["auc"] < 0.56
    assert (binned.column("flag").effect, binned.column("flag").p_value) == pytest.approx((exact.effect, exact.p_value))
    assert any("true/false in the reference but 0/1" in f.message for f in binned.findings)
    pq.write_table(ref, tmp_path / "ref.parquet")
    pq.write_table(cur, tmp_path / "cur.parquet")
    profile_source(tmp_path / "ref.parquet", bins=50)[0].save(tmp_path / "ref.json")
    profile_source(tmp_path / "cur.parquet", like=tmp_path / "ref.json")[0].save(tmp_path / "cur.json")
    report = compare(tmp_path / "ref.json", tmp_path / "cur.json", SPEC)
    assert report.column("flag").effect == pytest.approx(exact.effect) and not report.drift


def test_a_per_column_rule_that_is_not_used_says_so() -> None:
    """A per_column rule naming no compared column (a typo) or a test that cannot judge its column
    was dropped without a word: the report looked as if the spec's rule had been applied."""
    rng = np.random.default_rng(11)
    table = pa.table({"age": rng.normal(size=500), "city": rng.choice(["a", "b"], 500)})
    spec = DriftSpec(multivariate=False, per_column={"agee": ColumnRule("psi"), "age": ColumnRule("chi2"), "city": ColumnRule(threshold=0.3)})
    report = compare(table, table, spec)
    assert [f.message for f in report.findings if f.type == "unused_rule"] == ["the spec's per_column rule for 'agee' is not used: no column of that name is compared"]
    assert [f.message for f in report.column("age").findings] == ["the spec's per_column test 'chi2' for 'age' cannot judge numeric columns; judged with 'ks'"]
    assert report.column("age").test == "ks" and report.column("city").threshold == 0.3 and not report.column("city").findings


def test_text_counted_on_a_numeric_reference_profile_reads_as_numbers(tmp_path: Path) -> None:
    """`assay drift profile today.csv --like ref.json`, with one stray word in a numeric column,
    was an internal error (exit 3, ArrowInvalid: Failed to parse string 'oops'), and binned mode
    skipped the column: counted as numbers now, a word as missing, as exact mode compares them."""
    rng = np.random.default_rng(13)
    n = 3000
    pq.write_table(pa.table({"v": rng.normal(size=n)}), tmp_path / "ref.parquet")
    text = [f"{v:.3f}" for v in rng.normal(size=n)]
    text[:10] = ["oops"] * 10
    pq.write_table(pa.table({"v": pa.array(text)}), tmp_path / "cur.parquet")
    profile_source(tmp_path / "ref.parquet", bins=50)[0].save(tmp_path / "ref.json")
    current = profile_source(tmp_path / "cur.parquet", like=tmp_path / "ref.json")[0]
    assert current.columns["v"].missing == 10 and current.columns["v"].finite == n - 10
    binned = compare(tmp_path / "ref.parquet", tmp_path / "cur.parquet", DriftSpec(method="binned", mmd_permutations=99))
    exact = compare(tmp_path / "ref.parquet", tmp_path / "cur.parquet", DriftSpec(mmd_permutations=99))
    assert binned.column("v").kind == "numeric" and not binned.drift and not exact.drift
    assert binned.column("v").current["missing"] == exact.column("v").current["missing"] == 10
    # mostly words: their share as missing is the drift
    pq.write_table(pa.table({"v": pa.array(["oops"] * (n // 2) + text[: n // 2])}), tmp_path / "words.parquet")
    assert compare(tmp_path / "ref.parquet", tmp_path / "words.parquet", DriftSpec(method="binned", multivariate=False)).column("v").missing_rate["drifted"]


def test_notes_on_one_side_name_the_current_data_in_full() -> None:
    """They said "no usable values in the current" and "1 infinite value in the current", as if cut off."""
    n = 200
    ref = pa.table({"gone": np.arange(n, dtype=float), "inf": np.arange(n, dtype=float)})
    cur = pa.table({"gone": np.full(n, np.nan), "inf": np.r_[np.arange(n - 1, dtype=float), np.inf]})
    report = compare(ref, cur, SPEC)
    assert "column 'gone' has no usable values in the current data; no distribution test" in [f.message for f in report.column("gone").findings]
    assert "column 'inf': 1 infinite value in the current data (0.50% of its rows); left out of the distribution test" in [f.message for f in report.column("inf").findings]


def test_a_damaged_file_in_a_parquet_folder_is_named(tmp_path: Path) -> None:
    """A folder whose second file is not Parquet said "cannot read FOLDER as Parquet: Parquet magic
    bytes not found in footer", and left the user to find which of its files."""
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(pa.table({"x": np.arange(10.0)}), folder / "a.parquet")
    (folder / "b.parquet").write_text("not parquet")
    with pytest.raises(InputError, match=r"^cannot read .*b\.parquet, in the folder .*parts, as Parquet: .*magic bytes"):
        compare(folder, folder, SPEC)


def test_times_with_a_stray_word_in_a_csv_are_compared_as_times(tmp_path: Path) -> None:
    """One "unknown" in a CSV's time column read the side as text: "2024-01-05T03:00:00" is not the
    reference's "2024-01-05 03:00:00", so equal data was DRIFT, TV 1.0, every current value new."""
    rng = np.random.default_rng(16)
    for name, stray in (("ref", False), ("cur", True)):
        times = [f"2024-01-{d:02d}T{h:02d}:00:00" for d, h in zip(rng.integers(1, 29, 2000), rng.integers(0, 24, 2000))]
        if stray:
            times[5] = "unknown"
        (tmp_path / f"{name}.csv").write_text("when,v\n" + "".join(f"{t},{v:.3f}\n" for t, v in zip(times, rng.normal(size=2000))))
    ref, cur = tmp_path / "ref.csv", tmp_path / "cur.csv"
    for spec in (DriftSpec(mmd_permutations=99), DriftSpec(method="binned", mmd_permutations=99)):
        for a, b in ((ref, cur), (cur, ref)):
            report = compare(a, b, spec)
            when = report.column("when")
            assert when.kind == "numeric" and when.effect < 0.05 and not report.drift, (spec.method, a.name)
            assert report.multivariate["classifier"]["auc"] < 0.56
            if spec.method == "binned":
                break  # (a text reference is profiled as categories: binned mode compares it with times as text)
    # ... and says so: it was said in exact mode only
    report = compare(cur, ref, DriftSpec(method="binned", multivariate=False))
    assert "column 'when' is text in the reference profile but numeric in the current data; compared as text" in [f.message for f in report.findings]
    (note,) = [f.message for f in compare(ref, cur, SPEC).findings if f.type == "type_mismatch"]
    assert note == "column 'when' is text in the current data, where 1 of its 2,000 values is not a date or time (such as 'unknown'): compared as times, those read as missing"
    profile_source(ref, bins=50)[0].save(tmp_path / "ref.json")
    profile_source(cur, like=tmp_path / "ref.json")[0].save(tmp_path / "cur.json")
    assert compare(tmp_path / "ref.json", tmp_path / "cur.json", SPEC).column("when").effect < 0.05
