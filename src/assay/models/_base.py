"""The one interface every model flavor speaks: batched ``predict`` / ``predict_proba``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay.errors import InputError

__all__ = ["Features", "ModelAdapter", "ModelError", "ModelExitError", "Prediction", "model_exit_error"]


class ModelError(InputError):
    """A model could not be loaded or called, or returned unusable output (exit 2)."""


class ModelExitError(ModelError):
    """Model code raised :class:`SystemExit` (``sys.exit``, ``exit()``) while loading or predicting.

    Left alone it would end assay with the model's exit code and no output, report or record
    (``sys.exit(0)``: a silent pass in CI). Unlike other errors a model raises, it is never
    counted as a failing input by a robustness test: it ends the check (exit 2)."""

    def __reduce__(self) -> tuple[object, ...]:
        # raised in forked robustness workers and Ray tasks and re-raised here: keep the hint
        return (_rebuild_exit_error, (self.message, self.hint))


def _rebuild_exit_error(message: str, hint: str | None) -> ModelExitError:
    return ModelExitError(message, hint=hint)


def model_exit_error(name: str, exc: SystemExit, doing: str) -> ModelExitError:
    """The :class:`ModelExitError` for model ``name`` that raised ``exc`` while ``doing``."""
    code = exc.code if exc.code is None or isinstance(exc.code, int) else repr(exc.code)
    return ModelExitError(f"{name} called sys.exit({'' if code is None else code}) while {doing}; "
                          f"a model must {'return predictions' if doing == 'predicting' else 'load'}, not end the process",
                          hint="remove the sys.exit (or exit()/quit()) from the model's code, or raise an exception instead")


@dataclass
class Features:
    """Input rows as named columns (one numpy array per column, all the same length)."""

    columns: list[str]
    arrays: list[np.ndarray]

    def __post_init__(self) -> None:
        if len(self.columns) != len(self.arrays):
            raise InputError(f"{len(self.columns)} column names for {len(self.arrays)} columns")

    def __len__(self) -> int:
        return int(len(self.arrays[0])) if self.arrays else 0

    @property
    def n_features(self) -> int:
        return len(self.columns)

    @property
    def numeric(self) -> bool:
        return all(a.dtype.kind in "biuf" for a in self.arrays)

    def to_numpy(self) -> np.ndarray:
        """A 2-D array: float64 when every column is numeric, object otherwise."""
        if not self.arrays:
            return np.empty((0, 0))
        if self.numeric:
            return np.column_stack([a.astype(np.float64, copy=False) for a in self.arrays])
        out = np.empty((len(self), len(self.arrays)), dtype=object)
        for j, a in enumerate(self.arrays):
            out[:, j] = a
        return out

    def to_pandas(self) -> Any:
        import pandas as pd  # lazy: pandas is heavy and only some models want frames

        return pd.DataFrame(dict(zip(self.columns, self.arrays, strict=True)), columns=self.columns)

    def take(self, index: np.ndarray | slice) -> Features:
        return Features(list(self.columns), [a[index] for a in self.arrays])

    def replace(self, column: str, values: np.ndarray) -> Features:
        arrays = list(self.arrays)
        arrays[self.columns.index(column)] = values
        return Features(list(self.columns), arrays)

    @classmethod
    def from_numpy(cls, matrix: np.ndarray, columns: Sequence[str] | None = None) -> Features:
        matrix = np.asarray(matrix)
        if matrix.ndim != 2:
            raise InputError(f"features must be a 2-D array, got shape {matrix.shape}")
        names = list(columns) if columns is not None else [f"x{j}" for j in range(matrix.shape[1])]
        return cls(names, [matrix[:, j] for j in range(matrix.shape[1])])


@dataclass
class Prediction:
    """What a model said about a batch: labels (or values), and class probabilities if any."""

    labels: np.ndarray
    proba: np.ndarray | None = None
    classes: np.ndarray | None = None  # column order of ``proba``

    def __len__(self) -> int:
        return int(len(self.labels))


@dataclass
class ModelAdapter:
    """Base class of the flavors. Subclasses implement :meth:`_predict`.

    ``hash`` identifies the exact model bytes (or endpoint) so predictions can be cached
    and results linked to the model version they judged.
    """

    name: str
    flavor: str
    hash: str
    meta: dict[str, Any] = field(default_factory=dict)

    #: the number of input features the model expects, when the model knows it
    n_features: int | None = None
    #: class labels in the order of ``predict_proba`` columns, for classifiers that know them
    classes: np.ndarray | None = None
    #: size on disk in bytes, when the model is a file
    size_bytes: int | None = None

    def predict(self, features: Features) -> Prediction:
        """Predict one batch. Raises whatever the model raises (see :func:`guarded_predict`),
        except that a ``sys.exit`` in model code is a :class:`ModelExitError`: every call of a
        model (cached, timed, robustness workers, budgets) goes through here."""
        try:
            return self._predict(features)
        except SystemExit as exc:  # (KeyboardInterrupt is the user's and passes through)
            raise model_exit_error(self.name, exc, "predicting") from None

    def _predict(self, features: Features) -> Prediction:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "flavor": self.flavor, "hash": self.hash, **({"meta": self.meta} if self.meta else {})}
