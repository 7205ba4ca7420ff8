"""The Python client against a loopback stub of the events endpoint: refused rows are said, not lost."""

from __future__ import annotations

import http.server
import json
import math
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from assay.errors import InputError
from assay.monitor import Client


class _Service:
    """Answers POST /api/v1/monitors/m/events as the service does: 422 for a row with an unknown column."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                doc = json.loads(raw, parse_constant=lambda c: pytest.fail(f"the client sent {c}, which is not JSON"))
                service.bodies.append(doc)
                if any("extra" in row for row in doc["rows"]):
                    answer, status = {"error": "InputError", "message": "row 0 has unknown column 'extra'", "hint": "the monitor's columns are: x"}, 422
                else:
                    answer, status = {"batch_id": doc["batch_id"], "accepted": len(doc["rows"]), "duplicate": False}, 201
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def service() -> Iterator[_Service]:
    s = _Service()
    yield s
    s.server.shutdown()
    s.server.server_close()


def test_rows_the_service_refuses_are_raised_at_the_end_of_the_with_block(service: _Service) -> None:
    with pytest.raises(InputError, match=r"^3 rows not stored: .*HTTP 422.*row 0 has unknown column 'extra' \(hint: the monitor's columns are: x\)"):
        with Client(service.url, "t", monitor="m", batch_size=3, flush_interval=0.05) as client:
            client.log([{"x": 1.0}] * 3)
            client.flush()  # stored: nothing to say
            client.log([{"x": 1.0, "extra": 2}] * 3)
    assert client.sent_rows == 3 and client.refused_rows == 3
    with Client(service.url, "t", monitor="m", flush_interval=0.05) as again:
        again.log({"x": 1.0, "extra": 2})
        with pytest.raises(InputError, match="1 row not stored"):
            again.flush()
        again.log({"x": 1.0})
    assert again.sent_rows == 1 and again.refused_rows == 1


def test_an_error_inside_the_with_block_is_not_replaced_by_the_refusal(service: _Service) -> None:
    with pytest.raises(KeyError, match="mine"):
        with Client(service.url, "t", monitor="m", flush_interval=0.05) as client:
            client.log({"x": 1.0, "extra": 2})
            raise KeyError("mine")


def test_nan_is_sent_as_null_and_an_infinity_is_refused_by_name(service: _Service) -> None:
    with Client(service.url, "t", monitor="m", flush_interval=0.05) as client:
        client.log([{"x": math.nan, "c": "a"}, {"x": 1.5, "c": None}])
    assert service.bodies[-1]["rows"] == [{"x": None, "c": "a"}, {"x": 1.5, "c": None}]
    with pytest.raises(InputError, match=r"column 'x', row 1: -inf cannot be sent as JSON"):
        client.send([{"x": 1.0}, {"x": -math.inf}])


def test_numpy_scalars_are_sent_as_their_values_and_anything_else_is_refused_by_name(service: _Service) -> None:
    # json.dumps raised TypeError on np.int64 in the sending thread, which died: close() waited 60 s and said
    # "1 row not acknowledged yet, last error: None", and log() blocked for ever once the buffer filled
    np = pytest.importorskip("numpy")
    with Client(service.url, "t", monitor="m", flush_interval=0.05) as client:
        client.log([{"x": np.float32(1.5), "n": np.int64(3), "b": np.bool_(True), "c": np.str_("a")}, {"x": np.float64("nan"), "n": None, "b": False, "c": "b"}])
    assert service.bodies[-1]["rows"] == [{"x": 1.5, "n": 3, "b": True, "c": "a"}, {"x": None, "n": None, "b": False, "c": "b"}]
    with pytest.raises(InputError, match=r"^1 row not stored: column 'when', row 0: a datetime cannot be sent as JSON"):
        with Client(service.url, "t", monitor="m", flush_interval=0.05) as client:
            client.log({"x": 1.0, "when": __import__("datetime").datetime(2026, 1, 1)})
    assert client.sent_rows == 0 and client.refused_rows == 1
    with pytest.raises(InputError, match=r"column 'x', row 0: inf cannot be sent as JSON"):
        client.send([{"x": np.float32("inf")}])
