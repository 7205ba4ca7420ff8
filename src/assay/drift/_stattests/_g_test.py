"""G-test (log-likelihood ratio) of homogeneity on the 2 x k table of category counts.

The same table, pooling of rare categories and effect size (total variation) as the
chi-squared test; G is often preferred when some expected counts are small.
Equals ``scipy.stats.chi2_contingency(table, lambda_="log-likelihood")``.
"""

from __future__ import annotations

import numpy as np

from assay.drift._comparison import CategoricalComparison
from assay.drift._distributions import chi2_sf
from assay.drift._registry import StatTest, TestOutcome, register_stat_test
from assay.drift._stattests._chi2 import contingency


@register_stat_test
class GTest(StatTest):
    """Effect: total variation distance between category frequencies."""

    name = "gtest"
    kinds = frozenset({"categorical"})
    has_p_value = True
    default_threshold = 0.1
    effect_name = "total variation"

    def categorical(self, cmp: CategoricalComparison) -> TestOutcome:
        effect, table, expected = contingency(cmp)
        if table is None or expected is None:
            return TestOutcome(statistic=0.0, p_value=1.0, effect=effect)
        observed = table > 0  # 0 * log 0 = 0
        g = 2.0 * float(np.sum(table[observed] * np.log(table[observed] / expected[observed])))
        dof = table.shape[1] - 1
        return TestOutcome(statistic=g, p_value=chi2_sf(g, dof), effect=effect)
