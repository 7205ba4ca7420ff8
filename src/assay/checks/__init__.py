"""The checks pillar: is the candidate worse than the baseline anywhere that matters?

Build a :class:`Suite` (or load one from YAML), then ``run()`` it::

    suite = Suite.load("suite.yaml")
    result = suite.run(candidate="new.skops", baseline="old.skops")
    result.passed, [g.status for g in result.gates]
"""

from assay.checks._bootstrap import PairedBootstrap
from assay.checks._delong import delong
from assay.checks._mcnemar import mcnemar
from assay.checks._multitest import adjust
from assay.checks._record import check_edges, get_result, list_results, record_result, shareable_check
from assay.checks._result import CheckResult, GateResult, readable_check
from assay.checks._runner import run_suite
from assay.checks._suite import (
    SCHEMA,
    BehaviourSpec,
    BudgetSpec,
    DiscoverySpec,
    GateSpec,
    MetricSpec,
    RobustnessSpec,
    SliceSpec,
    Suite,
    SuiteError,
)

__all__ = [
    "BehaviourSpec",
    "BudgetSpec",
    "CheckResult",
    "DiscoverySpec",
    "GateResult",
    "GateSpec",
    "MetricSpec",
    "PairedBootstrap",
    "RobustnessSpec",
    "SCHEMA",
    "SliceSpec",
    "Suite",
    "SuiteError",
    "adjust",
    "check_edges",
    "delong",
    "get_result",
    "list_results",
    "mcnemar",
    "readable_check",
    "record_result",
    "run_suite",
    "shareable_check",
]
