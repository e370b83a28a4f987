"""The statistics of an A/B test: a two-proportion z-test, and the sample size a difference would need.

Plain formulas (no SciPy): the normal distribution's CDF is math.erfc's, and the two quantiles the
sample size needs (95 % two-sided confidence, 80 % power) are constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CONFIDENCE = 0.95  # a difference is called when its two-sided p-value is below 1 − CONFIDENCE
Z_CONFIDENCE = 1.959963984540054  # Φ⁻¹(0.975): two-sided 95 %
Z_POWER = 0.8416212335729143  # Φ⁻¹(0.80): 80 % power
# What the warning before sending assumes the variants could differ by, per measure: 20 % vs 25 % of people
# opening, 3 % vs 4.5 % clicking (a typical newsletter's rates, and a difference worth a test).
ASSUMED_RATES = {"opens": (0.20, 0.25), "clicks": (0.03, 0.045), "conversions": (0.01, 0.015)}


def normal_cdf(x: float) -> float:
    """Φ(x), the standard normal distribution's CDF."""
    return 0.5 * math.erfc(-x / math.sqrt(2))


@dataclass(frozen=True)
class Comparison:
    """Two variants' rates compared: z, the two-sided p-value, and whether the difference is called."""

    rate_a: float
    rate_b: float
    z: float
    p_value: float

    @property
    def significant(self) -> bool:
        """Whether the difference is unlikely to be chance, at CONFIDENCE."""
        return self.p_value < 1 - CONFIDENCE


def two_proportion_test(successes_a: int, total_a: int, successes_b: int, total_b: int) -> Comparison | None:
    """Compare two proportions with the pooled two-proportion z-test; None while either has no one to count."""
    if total_a <= 0 or total_b <= 0:
        return None
    rate_a, rate_b = successes_a / total_a, successes_b / total_b
    pooled = (successes_a + successes_b) / (total_a + total_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / total_a + 1 / total_b))
    if spread == 0:  # nobody (or everybody) in both: no difference to test
        return Comparison(rate_a, rate_b, 0.0, 1.0)
    z = (rate_b - rate_a) / spread
    return Comparison(rate_a, rate_b, z, math.erfc(abs(z) / math.sqrt(2)))  # = 2 (1 − Φ(|z|))


def sample_size(rate_a: float, rate_b: float) -> int | None:
    """Recipients each variant needs to tell these two rates apart (95 % confidence, 80 % power); None when equal.

    The standard formula for two proportions: n = (z_α/2 √(2 p̄ q̄) + z_β √(p₁q₁ + p₂q₂))² / (p₁ − p₂)².
    """
    if rate_a == rate_b:
        return None
    mean = (rate_a + rate_b) / 2
    root = (Z_CONFIDENCE * math.sqrt(2 * mean * (1 - mean))
            + Z_POWER * math.sqrt(rate_a * (1 - rate_a) + rate_b * (1 - rate_b)))
    return math.ceil(root ** 2 / (rate_a - rate_b) ** 2)


def needed_per_variant(measure: str) -> int:
    """Recipients each variant's test group needs for the difference ASSUMED_RATES names for this measure."""
    rate_a, rate_b = ASSUMED_RATES[measure]
    return sample_size(rate_a, rate_b) or 0
