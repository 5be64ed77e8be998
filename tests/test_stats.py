"""The Wilson score interval against values computed by hand."""

from __future__ import annotations

import math

import pytest

from cadence_pipeline.governance.stats import wilson_interval

Z95 = 1.959963984540054  # the 0.975 quantile of the standard normal distribution


def test_wilson_41_of_100_by_hand() -> None:
    # p = 0.41, z^2 = 3.841459, z^2/n = 0.0384146
    # centre = (0.41 + 0.0192073) / 1.0384146 = 0.413330
    # half   = z * sqrt(0.41 * 0.59 / 100 + 3.841459 / 40000) / 1.0384146 = 0.094658
    low, high = wilson_interval(41, 100)
    assert low == pytest.approx(0.318672, abs=1e-5)
    assert high == pytest.approx(0.507988, abs=1e-5)


def test_wilson_matches_formula_at_90_percent() -> None:
    z = 1.6448536269514722
    n, successes = 50, 45
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = wilson_interval(successes, n, confidence=0.90)
    assert low == pytest.approx(centre - half, abs=1e-9)
    assert high == pytest.approx(centre + half, abs=1e-9)


def test_wilson_all_successes_upper_is_one() -> None:
    low, high = wilson_interval(20, 20)
    assert high == pytest.approx(1.0)
    # With p = 1 the lower bound is n / (n + z^2).
    assert low == pytest.approx(20 / (20 + Z95 * Z95), abs=1e-9)


def test_wilson_no_successes_lower_is_zero() -> None:
    low, high = wilson_interval(0, 20)
    assert low == pytest.approx(0.0)
    assert high == pytest.approx(Z95 * Z95 / (20 + Z95 * Z95), abs=1e-9)


def test_wilson_empty_sample() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_narrows_with_sample_size() -> None:
    small = wilson_interval(9, 10)
    large = wilson_interval(900, 1000)
    assert small[1] - small[0] > large[1] - large[0]


@pytest.mark.parametrize(
    ("successes", "n", "confidence"),
    [(-1, 10, 0.95), (11, 10, 0.95), (0, -1, 0.95), (5, 10, 0.0), (5, 10, 1.0)],
)
def test_wilson_invalid_arguments(successes: int, n: int, confidence: float) -> None:
    with pytest.raises(ValueError):
        wilson_interval(successes, n, confidence)
