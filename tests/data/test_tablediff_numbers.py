"""Which CSV cells are numbers, and how they meet a Parquet file's numbers (see
:mod:`assay.data._tablediff`, "CSV"): codes with leading zeros or in hex stay text, and the
same table as Parquet and as CSV reads alike for NaN and float32 columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv  # noqa: F401 (pa.csv)
import pyarrow.parquet as pq
import pytest

from assay.data._tablediff import diff_tables


def csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def assert_alike_with_its_csv_exports(tmp_path: Path, table: pa.Table) -> None:
    """``table`` as Parquet (t.parquet) against its Arrow (t.csv) and pandas (p.csv) CSV
    exports: no row changed (by key ``id``), none added or removed (by row hash)."""
    pq.write_table(table, tmp_path / "t.parquet")
    pa.csv.write_csv(table, tmp_path / "t.csv")
    table.to_pandas().to_csv(tmp_path / "p.csv", index=False)
    for other in ("t.csv", "p.csv"):
        d = diff_tables(tmp_path / "t.parquet", tmp_path / other, key=["id"])
        assert (d.rows_changed, d.rows_unchanged) == (0, 3), other
        d = diff_tables(tmp_path / other, tmp_path / "t.parquet")
        assert (d.rows_added, d.rows_removed, d.rows_unchanged) == (0, 0, 3), other


def test_codes_with_leading_zeros_are_text_so_a_lost_zero_is_a_change(tmp_path):  # type: ignore[no-untyped-def]
    # Zip codes that lost their zero (an Excel round trip) are the change a diff should show,
    # not "no change" because 02134 and 2134 are one number. (Each side shows its own type.)
    a = csv(tmp_path / "a.csv", "id,zip\n1,02134\n2,10001\n")
    b = csv(tmp_path / "b.csv", "id,zip\n1,2134\n2,10001\n")
    d = diff_tables(a, b, key=["id"])
    assert (d.rows_changed, d.rows_unchanged) == (1, 1)
    assert d.changed_examples == [{"key": {"id": 1}, "columns": {"zip": {"old": "02134", "new": 2134}}}]
    assert d.schema["type_changed"] == [{"name": "zip", "old": "string", "new": "int64"}]


def test_keys_with_leading_zeros_are_distinct_keys(tmp_path):  # type: ignore[no-untyped-def]
    a = csv(tmp_path / "a.csv", "code,v\n007,a\n7,b\n")
    b = csv(tmp_path / "b.csv", "code,v\n007,a\n7,c\n")
    d = diff_tables(a, b, key=["code"])
    assert d.duplicate_keys is not None and (d.duplicate_keys["old"], d.duplicate_keys["new"]) == (0, 0)
    assert (d.rows_changed, d.rows_unchanged) == (1, 1)
    assert d.changed_examples == [{"key": {"code": "7"}, "columns": {"v": {"old": "b", "new": "c"}}}]


def test_hex_cells_are_text(tmp_path):  # type: ignore[no-untyped-def]
    # Arrow casts "0x10" to 16; pandas and a reader see text.
    a = csv(tmp_path / "a.csv", "id,color\n1,0xFF\n2,0x10\n")
    b = csv(tmp_path / "b.csv", "id,color\n1,0xff\n2,0x10\n")
    d = diff_tables(a, b, key=["id"])
    assert (d.rows_changed, d.rows_unchanged) == (1, 1)
    assert d.changed_examples == [{"key": {"id": 1}, "columns": {"color": {"old": "0xFF", "new": "0xff"}}}]


def test_zero_and_decimals_below_one_are_still_numbers(tmp_path):  # type: ignore[no-untyped-def]
    a = csv(tmp_path / "a.csv", "id,x\n1,0\n2,0.50\n3,-0.25\n4,0e3\n")
    b = csv(tmp_path / "b.csv", "id,x\n1,0.0\n2,0.5\n3,-0.250\n4,0\n")
    d = diff_tables(a, b, key=["id"])
    assert (d.rows_changed, d.rows_unchanged) == (0, 4)


def test_a_plus_signed_whole_number_is_a_number(tmp_path):  # type: ignore[no-untyped-def]
    # "+5" failed the int64 parse and was taken for a whole number past int64 (text).
    a = csv(tmp_path / "a.csv", "id,x\n1,+5\n2,-3\n")
    b = csv(tmp_path / "b.csv", "id,x\n1,5\n2,-3\n")
    d = diff_tables(a, b, key=["id"])
    assert (d.rows_changed, d.rows_unchanged) == (0, 2)
    assert d.schema["type_changed"] == []


def test_parquet_nan_is_no_value_against_a_csv(tmp_path):  # type: ignore[no-untyped-def]
    # A CSV has no NaN apart from null ("NaN", "nan" and "" are all no value), so a Parquet
    # NaN compared with a CSV is no value too: a table and its own CSV export read alike.
    table = pa.table({"id": [1, 2, 3], "x": [float("nan"), 1.5, None]})
    assert_alike_with_its_csv_exports(tmp_path, table)


def test_float32_parquet_against_its_csv_is_unchanged(tmp_path):  # type: ignore[no-untyped-def]
    # float32 0.1 is written to CSV as "0.1" (its shortest text), which as a double is not the
    # float32 widened (0.10000000149...): compared at the float32's precision.
    table = pa.table({"id": [1, 2, 3], "x": pa.array([0.1, 2.5, 16777217.0], pa.float32())})
    assert_alike_with_its_csv_exports(tmp_path, table)
    # A real change is still one.
    csv(tmp_path / "c.csv", "id,x\n1,0.1\n2,2.75\n3,16777216\n")
    d = diff_tables(tmp_path / "t.parquet", tmp_path / "c.csv", key=["id"])
    assert (d.rows_changed, d.rows_unchanged) == (1, 2)
    assert d.rows_changed_by_column == {"x": 1}


def test_a_csv_row_longer_than_the_read_block_is_read(tmp_path):  # type: ignore[no-untyped-def]
    # Arrow's CSV reader cannot hold a row past its block ("straddling object straddles two block
    # boundaries"): the file was refused. The block grows until the row fits.
    big = "x" * 100_000  # the block is 16 KB at batch_rows=256
    rows = [f"{i},v{i}" for i in range(2000)]
    a = csv(tmp_path / "a.csv", "id,s\n" + "\n".join([f"0,{big}", *rows, f"9999,{big}"]) + "\n")
    b = csv(tmp_path / "b.csv", "id,s\n" + "\n".join([f"0,{big}y", *rows, f"9999,{big}"]) + "\n")
    d = diff_tables(a, b, key=["id"], batch_rows=256)
    assert (d.rows_old, d.rows_changed, d.rows_unchanged) == (2002, 1, 2001)
    assert d.changed_examples is not None and d.changed_examples[0]["key"] == {"id": 0}
    unkeyed = diff_tables(a, b, batch_rows=256)
    assert (unkeyed.rows_added, unkeyed.rows_removed, unkeyed.rows_unchanged) == (1, 1, 2001)


def test_a_row_past_the_largest_block_is_refused_with_its_cause(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    from assay.data import _tablesource
    from assay.errors import InputError

    monkeypatch.setattr(_tablesource, "_MAX_BLOCK", 1 << 16)
    a = csv(tmp_path / "a.csv", "id,s\n1,a\n2," + "x" * 300_000 + "\n")
    with pytest.raises(InputError) as err:
        diff_tables(a, a, batch_rows=4)
    assert "a row is longer than 0 MB" in (err.value.hint or "")


def _reference_hash(values: list[bytes]) -> list[int]:
    # The string hash as documented in _hash_bytes, one string at a time in Python integers.
    from assay.data._tablehash import _TAG_STR, _mix, _position_weights

    out = []
    for v in values:
        w = _position_weights(max(len(v), 1))
        total = sum((b + 1) * int(w[i]) for i, b in enumerate(v)) % (1 << 64)
        out.append(int(_mix(np.array([total], np.uint64) ^ _mix(np.array([len(v)], np.uint64) ^ _TAG_STR))[0]))
    return out


def test_hashing_a_huge_text_value_takes_memory_bounded_by_a_chunk_not_by_its_length(monkeypatch):  # type: ignore[no-untyped-def]
    # Each byte of a batch's text took ~40 bytes while hashed (a 20 MB cell: ~1.3 GB peak).
    import tracemalloc

    from assay.data._tablehash import _hash_bytes

    big = pa.array(["", "ab", "x" * 8_000_000, "", "cd" * 300_000, "z"])
    tracemalloc.start()
    got = _hash_bytes(big)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100_000_000
    small = [b"", b"ab", b"", b"cd" * 3_000, b"z", "é€".encode()]
    assert list(map(int, _hash_bytes(pa.array([v.decode() for v in small])))) == _reference_hash(small)
    # The chunked path gives the hashes of the one-pass path, however the chunks cut the strings.
    from assay.data import _tablehash

    monkeypatch.setattr(_tablehash, "_ONE_PASS_BYTES", 1 << 30)
    assert list(map(int, _hash_bytes(big))) == list(map(int, got))
    mixed = pa.array(["", "ab", None, "x" * 5000, "", "cd" * 3_000, "é€", "z"]).slice(1)
    one_pass = list(map(int, _hash_bytes(mixed)))
    monkeypatch.setattr(_tablehash, "_ONE_PASS_BYTES", 0)
    for chunk in (1, 7, 1000, 4096, 1 << 20):
        monkeypatch.setattr(_tablehash, "_CHUNK_BYTES", chunk)
        assert list(map(int, _hash_bytes(mixed))) == one_pass, chunk


def test_whole_numbers_past_2_53_in_a_column_with_fractions_stay_text(tmp_path):  # type: ignore[no-untyped-def]
    # 17-19 digit ids and a 0.5 in one column: as doubles, ids 2 apart are one number. The ids were
    # exact int64 in the batches before the 0.5 and rounded in later reads: a row counted changed
    # with no column differing (small batches), or no row changed (the 0.5 in the first batch).
    ids = [f"{i},{2**60 + 2 * i + 4},a" for i in range(3000)]
    for fraction_first in (False, True):
        extra = ["3000,0.5,a"]
        old = extra + ids if fraction_first else ids + extra
        new = list(old)
        new[1 if fraction_first else 0] = f"0,{2**60 + 1},a"
        a = csv(tmp_path / "a.csv", "id,x,y\n" + "\n".join(old) + "\n")
        b = csv(tmp_path / "b.csv", "id,x,y\n" + "\n".join(new) + "\n")
        for batch_rows in (8, 65_536):
            d = diff_tables(a, b, key=["id"], batch_rows=batch_rows)
            assert (d.rows_changed, d.rows_unchanged) == (1, 3000), (fraction_first, batch_rows)
            assert d.rows_changed_by_column == {"x": 1}
            assert d.changed_examples == [{"key": {"id": 0}, "columns": {
                "x": {"old": str(2**60 + 4), "new": str(2**60 + 1)}}}]


def test_a_parquet_boolean_against_its_pandas_csv_is_unchanged(tmp_path):  # type: ignore[no-untyped-def]
    # pandas writes True / False, Arrow's text of a boolean is true / false: every row differed.
    table = pa.table({"id": [1, 2, 3], "ok": [True, False, None]})
    assert_alike_with_its_csv_exports(tmp_path, table)
    csv(tmp_path / "c.csv", "id,ok\n1,True\n2,True\n3,\n")
    d = diff_tables(tmp_path / "t.parquet", tmp_path / "c.csv", key=["id"])
    assert (d.rows_changed, d.rows_unchanged) == (1, 2)
    assert d.changed_examples == [{"key": {"id": 2}, "columns": {"ok": {"old": False, "new": "True"}}}]
    # Between two CSVs the text is compared as it is.
    d = diff_tables(tmp_path / "p.csv", tmp_path / "t.csv", key=["id"])
    assert (d.rows_changed, d.rows_unchanged) == (2, 1)


def test_a_renamed_boolean_is_told_between_pandas_and_arrow_text(tmp_path):  # type: ignore[no-untyped-def]
    # ok, written True / False by pandas, renamed flag in Parquet or an Arrow CSV (true / false):
    # the lower-casing that made them one value applied only to columns both files have.
    ok = np.random.default_rng(0).random(2000) < 0.5
    pa.table({"id": np.arange(2000), "ok": ok}).to_pandas().to_csv(tmp_path / "p.csv", index=False)
    for rows in (2000, 1900):  # the same rows (the same values), or rows removed too (mostly)
        new = pa.table({"id": np.arange(rows), "flag": ok[:rows]})
        pq.write_table(new, tmp_path / "n.parquet")
        pa.csv.write_csv(new, tmp_path / "n.csv")
        for other in ("n.parquet", "n.csv"):
            for key in (["id"], None):
                for a, b, pair in (("p.csv", other, ("ok", "flag")), (other, "p.csv", ("flag", "ok"))):
                    found = diff_tables(tmp_path / a, tmp_path / b, key=key).schema["renamed"]
                    assert [(r["old"], r["new"]) for r in found] == [pair], (rows, a, b, key, found)
    # Only a boolean's spelling: text in other case is other text.
    words = [f"Word{i % 50}" for i in range(2000)]
    pa.table({"id": np.arange(2000), "w": words}).to_pandas().to_csv(tmp_path / "w.csv", index=False)
    pq.write_table(pa.table({"id": np.arange(2000), "v": [w.lower() for w in words]}), tmp_path / "v.parquet")
    assert diff_tables(tmp_path / "w.csv", tmp_path / "v.parquet", key=["id"]).schema["renamed"] == []


def test_a_renamed_csv_column_is_told_by_its_numbers_not_their_text(tmp_path):  # type: ignore[no-untyped-def]
    # price written 12.0, renamed cost and written 12: the same numbers, so the same column.
    rows = [(i, (i * 37) % 1000) for i in range(2000)]
    a = csv(tmp_path / "a.csv", "id,price\n" + "".join(f"{i},{x}.0\n" for i, x in rows))
    b = csv(tmp_path / "b.csv", "id,cost\n" + "".join(f"{i},{x}\n" for i, x in rows))
    assert diff_tables(a, b, key=["id"]).schema["renamed"] == [{"old": "price", "new": "cost"}]
    pq.write_table(pa.table({"id": [i for i, _ in rows], "cost": [float(x) for _, x in rows]}), tmp_path / "b.parquet")
    assert diff_tables(a, tmp_path / "b.parquet", key=["id"]).schema["renamed"] == [{"old": "price", "new": "cost"}]
    # Text stays text: "12.0" and "12" are two values.
    t = csv(tmp_path / "t.csv", "id,label\n" + "".join(f"{i},n{x}\n" for i, x in rows))
    u = csv(tmp_path / "u.csv", "id,name\n" + "".join(f"{i},n{x}.0\n" for i, x in rows))
    assert diff_tables(t, u, key=["id"]).schema["renamed"] == []
