from __future__ import annotations

import json

import pyarrow as pa
import pytest

from assay.errors import InputError
from assay.monitor._schema import (
    MalformedPayload,
    parse_json_body,
    rows_from_arrow,
    rows_from_json,
    to_ipc,
)

SCHEMA = {"age": "numeric", "country": "categorical"}


def test_json_rows_become_canonical_arrow() -> None:
    table = rows_from_json([{"age": 3, "country": "DE", "event_id": "a"}, {"age": None, "country": None}, {"age": 2.5, "country": True}], SCHEMA)
    assert table.schema.names == ["age", "country", "event_id"]
    assert table.column("age").to_pylist() == [3.0, None, 2.5]
    assert table.column("country").to_pylist() == ["DE", None, "true"]
    assert table.column("event_id").to_pylist() == ["a", None, None]


@pytest.mark.parametrize(("rows", "message"), [
    ([{"age": "3", "country": "DE"}], "column 'age', row 0: expected a number, got str"),
    ([{"age": 1, "country": "DE"}, {"age": True, "country": "DE"}], "column 'age', row 1: expected a number, got a boolean"),
    ([{"age": 1, "country": 7}], "column 'country', row 0: expected a string, got int"),
    ([{"age": 1}], "row 0 has no column 'country'"),
    ([{"age": 1, "country": "x", "<script>": 1}], "row 0 has unknown column '<script>'"),
    ([{"age": 1, "country": "x", "event_id": 5}], "column 'event_id', row 0: expected a string event id"),
    ([[1, "x"]], "row 0 is a list, not an object"),
    # stored, and no label could ever name it (labels take 1 to 200 characters)
    ([{"age": 1, "country": "x", "event_id": "a"}, {"age": 1, "country": "x", "event_id": ""}],
     "row 1: the event id is empty; an event id is 1 to 200 characters, as a label names it"),
    ([{"age": 1, "country": "x", "event_id": "é" * 201}], "row 0: the event id has 201 characters"),
    ([], "the batch has no rows"),
    ({"age": 1}, '"rows" must be a list'),
])  # fmt: skip
def test_json_rows_are_refused_with_a_clear_message(rows: object, message: str) -> None:
    with pytest.raises(InputError) as err:
        rows_from_json(rows, SCHEMA)
    assert message in err.value.message


def test_malformed_json_is_its_own_error() -> None:
    with pytest.raises(MalformedPayload):
        parse_json_body(b'{"rows": [')
    with pytest.raises(MalformedPayload):
        parse_json_body(b"[1, 2]")
    assert parse_json_body(json.dumps({"rows": []}).encode()) == {"rows": []}


def test_arrow_batches_are_checked_and_cast() -> None:
    good = pa.table({"age": pa.array([1, 2], pa.int32()), "country": pa.array(["a", "b"]).dictionary_encode()})
    table = rows_from_arrow(to_ipc(good), SCHEMA)
    assert table.column("age").type == pa.float64()
    assert table.column("country").to_pylist() == ["a", "b"]
    assert table.column("event_id").null_count == 2
    with pytest.raises(InputError, match="column 'age' has Arrow type string"):
        rows_from_arrow(to_ipc(pa.table({"age": ["1"], "country": ["a"]})), SCHEMA)
    with pytest.raises(InputError, match="no column"):
        rows_from_arrow(to_ipc(pa.table({"age": [1.0]})), SCHEMA)
    with pytest.raises(InputError, match="unknown column"):
        rows_from_arrow(to_ipc(pa.table({"age": [1.0], "country": ["a"], "extra": [1]})), SCHEMA)
    with pytest.raises(InputError, match="row 1: the event id is empty"):
        rows_from_arrow(to_ipc(pa.table({"age": [1.0, 2.0], "country": ["a", "b"], "event_id": ["e1", ""]})), SCHEMA)
    assert rows_from_arrow(to_ipc(pa.table({"age": [1.0], "country": ["a"], "event_id": ["x" * 200]})), SCHEMA).num_rows == 1
    with pytest.raises(MalformedPayload):
        rows_from_arrow(b"ARROW1 but not really", SCHEMA)
    with pytest.raises(MalformedPayload):
        rows_from_arrow(to_ipc(good)[:-40], SCHEMA)


def test_numeric_json_values_keep_nulls_and_non_finite_values() -> None:
    table = rows_from_json([{"x": 1.5, "c": "a"}, {"x": None, "c": None}, {"x": 3, "c": "b"}], {"x": "numeric", "c": "categorical"})
    column = table.column("x")
    column.validate(full=True)
    assert column.type == pa.float64()
    assert column.to_pylist() == [1.5, None, 3.0]
    assert column.null_count == 1


def test_the_service_warm_up_loads_everything_the_first_batch_needs() -> None:
    # pyarrow imports pandas (half a second) on its first conversion of a Python list; a fresh
    # service must pay that before it announces itself, not on its first acknowledged batch
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from assay.monitor._service import _warm_up\n"
        "from assay.monitor._schema import rows_from_json, rows_from_arrow, to_ipc\n"
        "_warm_up()\n"
        "before = set(sys.modules)\n"
        "s = {'x': 'numeric', 'y': 'numeric', 'c': 'categorical'}\n"
        "rows = [{'x': i / 3, 'y': None, 'c': str(i), 'event_id': f'e{i}'} for i in range(500)]\n"
        "t = rows_from_json(rows, s)\n"
        "rows_from_arrow(to_ipc(t), s)\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_json_nested_too_deeply_is_a_malformed_payload_without_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    # the stdlib fallback raised RecursionError (a 500) where orjson says "depth limit exceeded" (a 400)
    import assay.monitor._schema as schema_module

    monkeypatch.setattr(schema_module, "_loads", json.loads)
    with pytest.raises(MalformedPayload, match="nested too deeply"):
        parse_json_body(b'{"rows": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
