"""Table diff edge cases: 64-bit integers, infinities, estimates, and `assay data diff` messages."""

from __future__ import annotations

import datetime as dt
import gzip
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import assay.data._tablediff as td
import assay.data._tablehash as th
import assay.data._tablenumeric as tn
import assay.data._tablevalues as tv
from assay.data import add, diff
from assay.data._diff import TABLE_SUFFIXES
from assay.data._tablediff import diff_tables
from assay.errors import InputError
from assay.workspace import Workspace

BIG = 1234567890123456789  # > 2**53: float64 would make it ...768


def parquet(path: Path, columns: dict) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def reference_quantile(values: list[float], q: float) -> float:
    """NumPy's linear quantile with each infinity replaced by a huge finite value: its limit.

    Between -inf and inf the limit depends on how fast each grows: there is none (nan).
    """
    ordered = sorted(values)
    h = (len(values) - 1) * q
    i = math.floor(h)
    if h > i and (ordered[i], ordered[i + 1]) == (-math.inf, math.inf):
        return math.nan
    huge = 1e300
    r = float(np.quantile(np.clip(np.array(values, dtype=np.float64), -huge, huge), q))
    return math.copysign(math.inf, r) if abs(r) >= huge / 1e6 else r


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


# --- 64-bit integers ---------------------------------------------------------------


def test_parquet_int64_above_2_53_uint64_and_duration_are_summarised_exactly(tmp_path):
    u_old = [2**64 - 1, 2**63 + 1, 7]
    u_new = [2**64 - 1, 2**63 + 3, 7]
    old = parquet(tmp_path / "a.parquet", {
        "id": pa.array([BIG, 5, -BIG], pa.int64()),
        "u": pa.array(u_old, pa.uint64()),
        "took": pa.array([dt.timedelta(seconds=s) for s in (1, 2, 3)], pa.duration("us")),
        "ns": pa.array([10**18 + 1, 10**18 + 2, None], pa.timestamp("ns")),
    })
    new = parquet(tmp_path / "b.parquet", {
        "id": pa.array([BIG, 5, -BIG], pa.int64()),
        "u": pa.array(u_new, pa.uint64()),
        "took": pa.array([dt.timedelta(seconds=s) for s in (1, 2, 9)], pa.duration("us")),
        "ns": pa.array([10**18 + 1, 10**18 + 2, None], pa.timestamp("ns")),
    })
    d = diff_tables(old, new, key=["id"])
    assert d.rows_changed == 2 and d.notes == []
    ids = d.columns["id"]["old"]
    assert (ids["min"], ids["max"], ids["p50"]) == (-BIG, BIG, 5)
    assert all(type(ids[k]) is int for k in ("min", "max", "p50"))
    u = d.columns["u"]
    assert (u["old"]["min"], u["old"]["max"], u["old"]["p50"]) == (7, 2**64 - 1, 2**63 + 1)
    assert u["new"]["mean"] == float(Fraction(sum(u_new), 3))  # the exact sum, rounded once
    assert u["delta"]["p50"] == 2
    took = d.columns["took"]
    assert took["kind"] == "temporal"
    assert (took["old"]["min"], took["new"]["max"]) == (dt.timedelta(seconds=1), dt.timedelta(seconds=9))
    assert d.columns["ns"]["kind"] == "temporal" and d.columns["ns"]["old"]["count"] == 2
    assert d.to_dict()["columns"]["u"]["old"]["max"] == 2**64 - 1


def test_uint64_hashes_as_its_value_not_its_bits(tmp_path):
    # 2**64 - 1 as uint64 has the bits of int64 -1, but is another number; 5 is 5 in any type.
    def h(values: list, t: pa.DataType) -> list[int]:
        return th._hash_column(pa.array(values, t), text=False).tolist()

    assert h([2**64 - 1], pa.uint64()) != h([-1], pa.int64())
    assert h([5, 2**62], pa.uint64()) == h([5, 2**62], pa.int64()) == h([5.0, 2.0**62], pa.float64())
    assert h([2**63, None], pa.uint64()) == h([2.0**63, None], pa.float64())
    old = parquet(tmp_path / "a.parquet", {"k": [1, 2, 3], "v": pa.array([-1, 5, 2**62], pa.int64())})
    new = parquet(tmp_path / "b.parquet", {"k": [1, 2, 3], "v": pa.array([2**64 - 1, 5, 2**62], pa.uint64())})
    assert diff_tables(old, new, key=["k"]).rows_changed == 1
    as_float = parquet(tmp_path / "c.parquet", {"k": [1], "v": pa.array([2.0**63], pa.float64())})
    as_uint = parquet(tmp_path / "d.parquet", {"k": [1], "v": pa.array([2**63], pa.uint64())})
    assert diff_tables(as_float, as_uint, key=["k"]).rows_changed == 0


def test_csv_integer_summaries_are_exact(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text(f"user_id,x\n{BIG},1\n5,2\n{BIG - 1},NA\n")
    d = diff_tables(a, a, key=["user_id"])
    s = d.columns["user_id"]["new"]
    assert (s["min"], s["max"], s["p50"]) == (5, BIG, BIG - 1)
    assert s["mean"] == float(Fraction(2 * BIG - 1 + 5, 3))
    assert d.schema["new"][0] == {"name": "user_id", "type": "int64"}
    # A column that turns out fractional after integer batches is summarised as double.
    b = tmp_path / "b.csv"
    b.write_text("x\n" + "".join(f"{i}\n" for i in range(300)) + "0.5\n")
    x = diff_tables(b, b, batch_rows=20).columns["x"]["new"]
    assert (x["min"], x["max"], type(x["max"])) == (0.0, 299.0, float)
    assert x["mean"] == pytest.approx((sum(range(300)) + 0.5) / 301, rel=1e-12)


# --- infinities --------------------------------------------------------------------


INF = math.inf


@pytest.mark.parametrize("values", [
    [1.0, 2.0, INF],
    [1.0, 2.0, INF, 5.0],
    [-INF, 1.0, 2.0],
    [-INF, -INF, 0.5, INF],
    [INF, INF, 3.0],
    [-INF, INF],
    [1.0, 2.0, 3.0, 4.0],
])
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_infinities_quantiles_mean_std_against_reference(tmp_path, values, fmt):
    path = tmp_path / f"t.{fmt}"
    if fmt == "parquet":
        parquet(path, {"x": pa.array(values + [math.nan], pa.float64())})
    else:
        path.write_text("x\n" + "".join(f"{v}\n" for v in values) + "nan\n")
    s = diff_tables(path, path).columns["x"]["new"]
    nan = 1 if fmt == "parquet" else 0  # in CSV "nan" is a missing token: a null
    assert (s["count"], s["nan"], s["nulls"], s["min"], s["max"]) == (len(values), nan, 1 - nan, min(values), max(values))
    for name, q in tn._QUANTILES.items():
        assert same(s[name], reference_quantile(values, q)), (name, s[name])
    with np.errstate(invalid="ignore"):  # inf + -inf
        assert same(s["mean"], float(np.mean(values)))  # NumPy's mean is right with infinities
    finite = [v for v in values if math.isfinite(v)]
    assert same(s["std"], INF if len(finite) < len(values) else float(np.std(values, ddof=1)))


def test_median_of_one_two_inf_is_two(tmp_path):
    path = parquet(tmp_path / "t.parquet", {"x": [1.0, 2.0, INF]})
    s = diff_tables(path, path).to_dict()["columns"]["x"]["new"]
    assert (s["p50"], s["p75"], s["p95"], s["mean"], s["std"]) == (2.0, "inf", "inf", "inf", "inf")


def test_infinity_in_one_batch_of_many(tmp_path):
    x = np.ones(70_000)
    x[5], x[6] = INF, 3.0
    path = parquet(tmp_path / "t.parquet", {"x": x})
    for batch_rows in (65_536, 1_000):
        s = diff_tables(path, path, batch_rows=batch_rows).columns["x"]["new"]
        assert (s["mean"], s["std"], s["max"]) == (INF, INF, INF)
    x[5] = 2.0
    parquet(path, {"x": x})
    s = diff_tables(path, path, batch_rows=1_000).columns["x"]["new"]
    assert s["mean"] == pytest.approx(x.mean(), rel=1e-12) and s["std"] == pytest.approx(x.std(ddof=1), rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.sampled_from([INF, -INF])), min_size=1, max_size=30))
def test_quantiles_property(values):
    got = tn._quantiles(np.sort(np.array(values, dtype=np.float64)), list(tn._QUANTILES.values()))
    for g, q in zip(got, tn._QUANTILES.values()):
        assert same(g, reference_quantile(values, q)), (values, q, g)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=30))
def test_integer_quantiles_and_sum_exact(values):
    a = np.sort(np.array(values, dtype=np.int64))
    for got, q in zip(tn._quantiles(a, list(tn._QUANTILES.values())), tn._QUANTILES.values()):
        h = (len(values) - 1) * q
        i = math.floor(h)
        # exact: NumPy's float64 answer is off by up to 2,048 between int64 values of opposite sign
        exact = int(a[i]) + (int(a[min(i + 1, a.size - 1)]) - int(a[i])) * Fraction(h - i)
        if exact.denominator == 1:
            assert got == exact and type(got) is int
        else:
            assert got == float(exact) and type(got) is float
    assert tn._exact_sum(np.array(values, dtype=np.int64)) == sum(values)
    unsigned = [v + 2**63 for v in values]
    assert tn._exact_sum(np.array(unsigned, dtype=np.uint64)) == sum(unsigned)


# --- distinct estimate, skipped summaries --------------------------------------------


def test_distinct_estimate_never_exceeds_the_count(monkeypatch):
    monkeypatch.setattr(tv, "_KMV", 64)
    over = 0
    for seed in range(40):
        cats = tv._CategoryStats()
        n = 70
        cats.update(pa.array([f"s{seed}-{i}" for i in range(n)] + [None, None]))
        raw = round((tv._KMV - 1) / (float(cats.kmv[-1]) / 2.0**64))
        over += raw > n
        distinct, exact = cats.distinct()
        assert exact is False and tv._KMV <= distinct <= n
    assert over  # the raw estimate does overshoot: the clamp is exercised


def test_a_column_no_kernel_handles_loses_its_summary_not_the_diff(tmp_path, monkeypatch):
    def broken(self, values, rows):
        raise pa.ArrowNotImplementedError("no kernel for this type")

    monkeypatch.setattr(tn._NumericStats, "update", broken)
    old = parquet(tmp_path / "a.parquet", {"id": [1, 2], "x": [1.5, 2.5], "s": ["a", "b"]})
    new = parquet(tmp_path / "b.parquet", {"id": [1, 2], "x": [1.5, 3.5], "s": ["a", "b"]})
    d = diff_tables(old, new, key=["s"])
    assert d.rows_changed == 1
    x = d.columns["x"]
    assert x["kind"] == "other" and x["old"]["rows"] == 2 and "no kernel" in x["old"]["skipped"]
    assert any("'x'" in n and "summary skipped" in n for n in d.notes)
    assert d.columns["s"]["kind"] == "categorical"


def test_labels_and_empty_key_name(tmp_path):
    good = tmp_path / "g.csv"
    good.write_text("a,b\n1,2\n")
    ragged = tmp_path / "r.csv"
    ragged.write_text("a,b\n1,2,3\n")
    with pytest.raises(InputError) as err:
        diff_tables(good, ragged, labels=("ds@v1:d/r.csv", "ds@v2:d/r.csv"))
    assert err.value.message.startswith("ds@v2:d/r.csv: cannot read as CSV") and str(tmp_path) not in str(err.value)
    assert err.value.hint
    with pytest.raises(InputError, match="not in the old file ds@v1:d/r.csv"):
        diff_tables(good, good, key=["nope"], labels=("ds@v1:d/r.csv", "ds@v2:d/r.csv"))
    with pytest.raises(InputError, match="empty column"):
        diff_tables(good, good, key=[""])
    with pytest.raises(InputError, match="key names a column twice: a"):
        diff_tables(good, good, key=["a", "b", "a"])


# --- assay data diff ---------------------------------------------------------------


def _two_versions(ws: Workspace, first: dict[str, bytes], second: dict[str, bytes]) -> None:
    d = ws.root / "d"
    d.mkdir(exist_ok=True)
    for files in (first, second):
        for name, data in files.items():
            (d / name).write_bytes(data)
        add(ws, ["d"], name="ds")


def test_diff_unknown_key_is_an_input_error_naming_the_columns(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    _two_versions(ws, {"a.csv": b"id,x\n1,a\n", "b.csv": b"id,v\n1,a\n"},
                  {"a.csv": b"id,x\n1,b\n", "b.csv": b"id,v\n1,b\n"})
    with pytest.raises(InputError) as err:
        diff(ws, "ds@v1", "ds@v2", key=["customer_idd"])
    assert "['customer_idd']" in err.value.message
    assert "d/a.csv: id, x" in (err.value.hint or "") and "d/b.csv: id, v" in (err.value.hint or "")
    proc = cli("data", "diff", "ds@v1", "ds@v2", "--key", "customer_idd", check=2)
    assert "customer_idd" in proc.stderr and "d/a.csv: id, x" in proc.stderr
    for bad in ([], [""]):
        with pytest.raises(InputError):
            diff(ws, "ds@v1", "ds@v2", key=bad)
    # A key some table has: the others report it, the diff goes on.
    (ws.root / "d" / "c.csv").write_bytes(b"k,x\n1,a\n")
    add(ws, ["d"], name="ds")
    (ws.root / "d" / "c.csv").write_bytes(b"k,x\n1,b\n")
    (ws.root / "d" / "a.csv").write_bytes(b"id,x\n1,c\n")
    add(ws, ["d"], name="ds")
    result = diff(ws, "ds@v3", "ds@v4", key=["k"])
    assert result.tables["d/c.csv"]["rows_changed"] == 1
    assert "not in the old file ds@v3:d/a.csv" in result.tables["d/a.csv"]["error"]


def test_diff_errors_name_the_dataset_path_and_keep_hints(ws: Workspace) -> None:
    _two_versions(ws, {"rag.csv": b"id,x\n1,a\n"}, {"rag.csv": b"id,x\n1,a,EXTRA\n"})
    entry = diff(ws, "ds@v1", "ds@v2").tables["d/rag.csv"]
    assert entry["error"].startswith("ds@v2:d/rag.csv: cannot read as CSV")
    assert ".assay" not in entry["error"] and "delimiter" in entry["hint"]


def test_a_table_that_cannot_be_read_makes_the_diff_exit_2_after_the_file_diff(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    # The file diff is done and printed; its table part is not: exit 2 (an input error), as
    # DESIGN.md has it, not 0. A table that only lacks the key is no failure (the key fits another).
    _two_versions(ws, {"rag.csv": b"id,x\n1,a\n", "k.csv": b"id,v\n1,a\n", "n.csv": b"n\n1\n"},
                  {"rag.csv": b"id,x\n1,a,EXTRA\n", "k.csv": b"id,v\n1,b\n", "n.csv": b"n\n2\n"})
    result = diff(ws, "ds@v1", "ds@v2", key=["id"])
    assert result.tables_failed == ["d/rag.csv"] and result.tables["d/rag.csv"]["unreadable"] is True
    assert "error" in result.tables["d/n.csv"] and "unreadable" not in result.tables["d/n.csv"]
    assert result.to_dict()["tables_failed"] == ["d/rag.csv"]
    proc = cli("data", "diff", "ds@v1", "ds@v2", "--key", "id", check=2)
    assert "3 modified" in proc.stdout and "could not compare rows: ds@v2:d/rag.csv" in proc.stdout
    assert "the rows of 1 table could not be compared: d/rag.csv" in proc.stderr, proc.stderr
    doc = cli.json("data", "diff", "ds@v1", "ds@v2", check=2)
    assert doc["tables_failed"] == ["d/rag.csv"] and len(doc["modified"]) == 3, doc
    (ws.root / "d" / "rag.csv").write_bytes(b"id,x\n1,a\n")
    add(ws, ["d"], name="ds")
    assert cli.json("data", "diff", "ds@v1", "ds@v3")["tables_failed"] == []


def test_diff_compares_tsv_gz_and_upper_case_suffixes(ws: Workspace) -> None:
    _two_versions(ws, {"g.tsv.gz": gzip.compress(b"id\tx\n1\ta\n"), "U.CSV.GZ": gzip.compress(b"id,x\n1,a\n")},
                  {"g.tsv.gz": gzip.compress(b"id\tx\n1\tb\n"), "U.CSV.GZ": gzip.compress(b"id,x\n1,b\n")})
    tables = diff(ws, "ds@v1", "ds@v2", key=["id"]).tables
    assert tables["d/g.tsv.gz"]["rows_changed"] == 1 and tables["d/g.tsv.gz"]["compared_columns"] == ["id", "x"]
    assert tables["d/U.CSV.GZ"]["rows_changed"] == 1


def test_table_suffixes_match_the_reader():
    assert sorted(TABLE_SUFFIXES) == sorted(td._PARQUET_SUFFIXES + td._CSV_SUFFIXES)


def test_nanosecond_values_without_pandas(tmp_path):
    # pyarrow turns nanosecond values into Python objects only through pandas: without it,
    # summaries and example rows fall back to Arrow's text instead of failing.
    for name, t in (("a", [10**18 + 1, 10**18 + 2]), ("b", [10**18 + 1, 10**18 + 3])):
        parquet(tmp_path / f"{name}.parquet", {"t": pa.array(t, pa.timestamp("ns")), "d": pa.array(t, pa.duration("ns"))})
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'pandas': raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from assay.data._tablediff import diff_tables\n"
        "d = diff_tables('a.parquet', 'b.parquet').to_dict()\n"
        "assert d['columns']['t']['new']['max'] == '2001-09-09 01:46:40.000000003', d['columns']['t']\n"
        "assert d['examples']['added'][0]['t'] == '2001-09-09 01:46:40.000000003', d['examples']\n"
        "assert 'pandas' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)


def _diff_of_two_versions(ws: Workspace, cli, old: str, new: str) -> str:  # type: ignore[no-untyped-def]
    """`assay data diff t@v1 t@v2 --key id` of a table t.csv added as ``old`` and then as ``new``."""
    (ws.root / "d").mkdir()
    for text in (old, new):
        (ws.root / "d" / "t.csv").write_text(text)
        add(ws, [ws.root / "d"], name="t")
    return str(cli("data", "diff", "t@v1", "t@v2", "--key", "id", cwd=ws.root).stdout)


def test_the_diff_command_prints_schema_notes_duplicates_and_moved_summaries(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    out = _diff_of_two_versions(ws, cli, "id,x,c\n1,1.5,a\n2,2.5,b\n3,3.5,a\n",
                                "id,x,c,y\n1,1.5,a,1\n2,9.5,c,2\n4,3.5,a,3\n4,3.5,a,3\n")
    assert "column added    y (int64)" in out
    assert "duplicate keys: 0 in old (0 extra rows), 1 in new (1 extra rows)" in out
    assert "note: key is not unique" in out
    assert "x: 1 row changed, mean 2.5 -> 4.5, p50 2.5 -> 3.5, max 3.5 -> 9.5" in out
    assert "c: 1 row changed, new: c, gone: b, share: a 66.7% -> 75.0%" in out
    assert 'changed id=2: c "b" -> "c"; x 2.5 -> 9.5' in out
    assert "{" not in out  # no Python dicts
    empty = cli("data", "diff", "t@v1", "t@v2", "--key", "", cwd=ws.root, check=2)
    assert "empty column" in empty.stderr and "--key id,region" in empty.stderr  # was "e.g. key=['id']"
    twice = cli("data", "diff", "t@v1", "t@v2", "--key", "id,x", "--key", "id", "--json", cwd=ws.root, check=2)
    assert "key names a column twice: id" in twice.stdout and "once" in twice.stdout  # before any table is read


def test_the_diff_command_quotes_column_names_and_values_that_would_break_its_lines(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    out = _diff_of_two_versions(ws, cli, 'id,"a\tb","line\nbreak",c\n1,1.5,2,x\n2,2.5,3,y\n',
                                'id,"a\tb","line\nbreak","new\ncol",c\n1,1.5,7,1,x\n2,9.5,3,1,"z\nq"\n')
    assert 'column added    "new\\ncol" (int64)' in out
    assert '"a\\tb": 1 row changed, mean 2 -> 5.5' in out and '"line\\nbreak": 1 row changed, mean 2.5 -> 5' in out
    assert 'c: 1 row changed, new: "z\\nq", gone: y' in out
    assert 'changed id=1: "line\\nbreak" 2 -> 7\n' in out
    assert 'changed id=2: "a\\tb" 2.5 -> 9.5; c "y" -> "z\\nq"\n' in out
    assert "\t" not in out and all(line.startswith(("t@v1", "  ")) for line in out.splitlines())


def test_a_key_only_an_unchanged_table_has_is_not_called_a_typo(ws: Workspace) -> None:
    _two_versions(ws, {"users.csv": b"user_id,name\n1,a\n", "events.csv": b"event,t\nx,1\n"}, {"events.csv": b"event,t\nx,1\ny,2\n"})
    result = diff(ws, "ds@v1", "ds@v2", key=["user_id"])  # users.csv has it, unchanged: no input error
    assert "error" in result.tables["d/events.csv"] and "user_id" in result.tables["d/events.csv"]["error"]
    with pytest.raises(InputError, match="usr_idd"):
        diff(ws, "ds@v1", "ds@v2", key=["usr_idd"])  # in no table at all: a typo still


def test_a_misspelled_key_is_an_error_when_no_table_changed(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    _two_versions(ws, {"users.csv": b"user_id,name\n1,a\n", "notes.txt": b"one\n"}, {"notes.txt": b"two\n"})  # only a file that is no table changes
    assert diff(ws, "ds@v1", "ds@v2", key=["user_id"]).tables == {}  # the key is there: no error
    with pytest.raises(InputError, match="usr_idd") as raised:
        diff(ws, "ds@v1", "ds@v2", key=["usr_idd"])
    assert "d/users.csv: user_id, name" in (raised.value.hint or "")
    with pytest.raises(InputError, match="usr_idd"):
        diff(ws, "ds@v2", "ds@v2", key=["usr_idd"])  # the same version twice: nothing changed at all
    with pytest.raises(InputError, match="usr_idd"):
        diff(ws, "ds", key=["usr_idd"])  # against the (unchanged) files on disk
    assert not diff(ws, "ds", key=["user_id"]).changed
    out = cli("data", "diff", "ds@v1", "ds@v2", "--key", "usr_idd", cwd=ws.root, check=2)
    assert "usr_idd" in out.stderr and "user_id, name" in out.stderr


def test_a_key_only_some_changed_tables_have_is_said_per_table(ws: Workspace) -> None:
    _two_versions(ws, {"users.csv": b"user_id,name\n1,a\n", "events.csv": b"event,t\nx,1\n"},
                  {"users.csv": b"user_id,name\n1,b\n", "events.csv": b"event,t\nx,1\ny,2\n"})
    result = diff(ws, "ds@v1", "ds@v2", key=["user_id"])
    assert "error" not in result.tables["d/users.csv"]
    assert "user_id" in result.tables["d/events.csv"]["error"] and not result.tables_failed


def test_a_key_is_checked_against_unchanged_tables_from_their_headers(ws: Workspace) -> None:
    """Checking a key against tables that did not change reads their column names, not their
    rows: a Parquet file's footer (the rest a hole), a CSV's first MiB; whole where that fails."""
    import pyarrow.parquet as pq

    from assay.data._diff import HEADER_BYTES, _materialize_header
    from assay.data._tablediff import _table_columns
    from assay.data._versions import load_snapshot

    rng = np.random.default_rng(0)
    d = ws.root / "d"
    d.mkdir()
    pq.write_table(pa.table({"user_id": np.arange(400_000), "x": rng.random(400_000)}), d / "big.parquet", row_group_size=50_000)
    (d / "wide.csv").write_text("user_id,text\n" + "".join(f"{i},{'w' * 40}\n" for i in range(60_000)))
    (d / "long.csv").write_text("user_id,text\n1," + rng.bytes(4 * HEADER_BYTES).hex() + "\n2,b\n")  # a first row past the first MiB
    # a header longer than the first MiB: its names are read whole, not cut off
    header = ",".join(["user_id"] + [f"c{i}_{rng.bytes(4).hex()}" for i in range(120_000)])
    (d / "wide_header.csv").write_text(header + "\n" + "\n".join(",".join(["1"] * 120_001) for _ in range(40)) + "\n")
    (d / "notes.txt").write_text("one\n")
    add(ws, [d], name="ds")
    (d / "notes.txt").write_text("two\n")
    version = add(ws, [d], name="ds")
    files = load_snapshot(ws.store, version.version.snapshot).files
    for path, name, part in (("d/big.parquet", "x", True), ("d/wide.csv", "text", True), ("d/long.csv", "text", False), ("d/wide_header.csv", "c0", True)):
        copy = ws.tmp_dir / ("h" + Path(path).suffix)
        assert _materialize_header(ws, files[path], copy, path, Path(path).suffix) is part, path  # long.csv: its first row ends in the last chunk
        assert [c.split("_")[0] for c in _table_columns(copy, path)[:2]] == ["user", name]
        if not part:
            assert copy.stat().st_size == files[path].size
        elif path == "d/big.parquet":
            assert copy.stat().st_size == files[path].size and copy.stat().st_blocks * 512 < files[path].size / 2  # a hole
        else:
            assert copy.stat().st_size < files[path].size
        copy.unlink()
    with pytest.raises(InputError, match="usr_id") as raised:
        diff(ws, "ds@v1", "ds@v2", key=["usr_id"])
    assert all(f"d/{name}: user_id" in (raised.value.hint or "") for name in ("big.parquet", "wide.csv", "long.csv"))
    assert diff(ws, "ds@v1", "ds@v2", key=["user_id"]).tables == {}


def test_a_csv_header_longer_than_the_first_block_is_read(tmp_path: Path) -> None:
    """A header over 16 KiB (1,500 columns named column_N) could not be read for its names (what
    a diff's key check reads): Arrow's first block held no whole line ("cannot infer number of
    columns"), which was not taken for a long row."""
    from assay.data._tablediff import _table_columns

    names = [f"column_{i}" for i in range(1500)]
    for side, value in (("a", "1"), ("b", "2")):
        (tmp_path / f"{side}.csv").write_text(",".join(names) + "\n" + "\n".join(",".join([value] * 1500) for _ in range(3)) + "\n")
    assert _table_columns(tmp_path / "a.csv") == names
    result = diff_tables(tmp_path / "a.csv", tmp_path / "b.csv").to_dict()
    assert [c["name"] for c in result["schema"]["old"]] == names and (result["rows_old"], result["rows_new"]) == (3, 3)
    assert result["rows_added"] == 3 and result["rows_removed"] == 3


def test_a_wide_tables_text_diff_lists_columns_in_table_order_and_stops_at_a_screenful(ws: Workspace, cli) -> None:  # type: ignore[no-untyped-def]
    """2,000 changed columns printed 2,000 lines, sorted as text (f0, f1, f10, f100, ...)."""
    from assay.cli._table_diff import COLUMNS_SHOWN

    d = ws.root / "d"
    d.mkdir()
    width = COLUMNS_SHOWN + 12
    for step in (0, 1):
        pq.write_table(pa.table({f"f{i}": np.arange(50) * (i + 1) + step for i in range(width)}), d / "t.parquet")
        add(ws, [d], name="ds")
    out = cli("data", "diff", "ds@v1", "ds@v2", cwd=ws.root).stdout
    named = [line.split(":")[0].strip() for line in out.splitlines() if line.startswith("    f")]
    assert named == [f"f{i}" for i in range(COLUMNS_SHOWN)]
    assert "    ... and 12 more columns whose summary moved (--json lists every column)" in out
    assert len(cli.json("data", "diff", "ds@v1", "ds@v2", cwd=ws.root)["tables"]["d/t.parquet"]["columns"]) == width
