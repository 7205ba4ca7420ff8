"""Statistical tests, one per file under ``_stattests/``, registered by name."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from assay.errors import UsageError

if TYPE_CHECKING:
    from assay.drift._comparison import CategoricalComparison, NumericComparison

__all__ = ["StatTest", "TestOutcome", "get_stat_test", "register_stat_test", "stat_test_names"]

_REGISTRY: dict[str, type[StatTest]] = {}
_BUILTINS = ("_ks", "_wasserstein", "_energy", "_psi", "_jensen_shannon", "_hellinger", "_chi2", "_g_test", "_total_variation")
_loaded = False


@dataclass(frozen=True)
class TestOutcome:
    """What a test says about one column: a statistic, maybe a p-value, and an effect size."""

    statistic: float
    p_value: float | None
    effect: float

    __test__ = False  # not a pytest class


class StatTest:
    """Base of a drift test. Subclasses set the class attributes and implement the kinds they support."""

    name: ClassVar[str] = ""
    kinds: ClassVar[frozenset[str]] = frozenset()
    has_p_value: ClassVar[bool] = False
    default_threshold: ClassVar[float] = 0.1
    effect_name: ClassVar[str] = ""
    # resampled p-values (the distance tests) draw from a generator seeded here: the detector sets
    # the spec's seed, so a report is reproducible
    seed: int = 0
    permutations: int = 1000

    def numeric(self, cmp: NumericComparison) -> TestOutcome:
        raise NotImplementedError(f"{self.name} does not judge numeric columns")

    def categorical(self, cmp: CategoricalComparison) -> TestOutcome:
        raise NotImplementedError(f"{self.name} does not judge categorical columns")


def register_stat_test(cls: type[StatTest]) -> type[StatTest]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if not cls.name or not cls.kinds:
        raise TypeError(f"{cls.__name__} must set name and kinds")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtins() -> None:
    """Built-in tests, then plugins: entry points named ``drift_test.NAME`` in the ``assay.plugins`` group."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTINS:
        importlib.import_module(f"assay.drift._stattests.{module}")
    from importlib.metadata import entry_points

    for ep in entry_points(group="assay.plugins"):
        if not ep.name.startswith("drift_test."):
            continue
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must say which one
            raise UsageError(f"the drift test plugin {ep.name} ({ep.value}) failed to load: {exc}") from None
        if isinstance(obj, type) and issubclass(obj, StatTest) and obj.kinds:
            _REGISTRY.setdefault(obj.name or ep.name.removeprefix("drift_test."), obj)


def stat_test_names() -> list[str]:
    """Names of every registered test, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_stat_test(name: str) -> StatTest:
    """An instance of the test registered as ``name``."""
    _load_builtins()
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise UsageError(f"unknown drift test {name!r}", hint=f"choose one of: {', '.join(sorted(_REGISTRY))}") from None
