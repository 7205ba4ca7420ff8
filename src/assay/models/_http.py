"""A model behind an HTTP endpoint: JSON in, JSON out, with timeouts and retries.

Request: ``POST {"columns": [...], "instances": [[...], ...]}``. Response: ``{"predictions": [...]}``
and/or ``{"probabilities": [[...], ...], "classes": [...]}``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import numpy as np

from assay.models._base import Features, ModelAdapter, ModelError, Prediction
from assay.models._callable import prediction_from_output
from assay.models._hashing import hash_bytes

__all__ = ["HttpModel", "load_http"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if np.isfinite(f) else None  # JSON has no NaN; send null
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class HttpModel(ModelAdapter):
    url: str = ""
    timeout_s: float = 30.0
    retries: int = 2
    backoff_s: float = 0.2
    headers: dict[str, str] | None = None

    def _predict(self, features: Features) -> Prediction:
        rows = [[_jsonable(v) for v in row] for row in features.to_numpy().tolist()]
        body = json.dumps({"columns": features.columns, "instances": rows}).encode()
        headers = {"Content-Type": "application/json", **(self.headers or {})}
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 - user-given URL
                    payload = json.loads(response.read().decode("utf-8"))
                break
            except urllib.error.HTTPError as exc:
                last = exc
                if exc.code < 500 and exc.code != 429:  # a client error will not heal by retrying
                    detail = exc.read()[:300].decode("utf-8", "replace")
                    raise ModelError(f"{self.name}: the endpoint answered HTTP {exc.code}: {detail}") from None
            except (urllib.error.URLError, TimeoutError, OSError, json.JSONDecodeError) as exc:
                last = exc
            if attempt < self.retries:
                time.sleep(self.backoff_s * (2**attempt))
        else:
            raise ModelError(
                f"{self.name}: no usable answer after {self.retries + 1} tries ({type(last).__name__}: {last})",
                hint="check that the endpoint is up, or raise its timeout",
            )
        if not isinstance(payload, dict):
            raise ModelError(f"{self.name}: the endpoint returned {type(payload).__name__}, expected a JSON object")
        classes = payload.get("classes")
        return prediction_from_output(payload, np.asarray(classes) if classes is not None else self.classes, len(features))


def load_http(url: str, *, name: str | None = None, timeout_s: float = 30.0, retries: int = 2) -> HttpModel:
    return HttpModel(name=name or url, flavor="http", hash=hash_bytes(url.encode()), url=url, timeout_s=timeout_s, retries=retries)
