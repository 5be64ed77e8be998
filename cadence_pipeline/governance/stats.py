"""Statistics for governance rates computed on small weekly counts."""

from __future__ import annotations

import math

from scipy.stats import norm


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Return the Wilson score interval (low, high) for a binomial proportion.

    Unlike the normal-approximation interval, the Wilson interval stays inside [0, 1] and
    keeps close to its nominal coverage for small n and for rates near 0 or 1, which is
    why pass rates of small weekly samples use it. With n = 0 nothing is known, so the
    interval is (0.0, 1.0).

    Raises ValueError when n is negative, when successes lies outside 0..n, or when
    confidence lies outside the open interval (0, 1).
    """
    if n < 0:
        raise ValueError(f"sample size n must be >= 0, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in 0..n (n={n}), got {successes}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if n == 0:
        return 0.0, 1.0

    z = float(norm.ppf(1 - (1 - confidence) / 2))
    p = successes / n
    z_squared_over_n = z * z / n
    denominator = 1 + z_squared_over_n
    centre = (p + z_squared_over_n / 2) / denominator
    half_width = z * math.sqrt(p * (1 - p) / n + z_squared_over_n / (4 * n)) / denominator
    return max(0.0, centre - half_width), min(1.0, centre + half_width)
