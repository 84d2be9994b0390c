"""The negative-share detector's statistics: exact binomial tails, scored as the equivalent normal z."""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist

import pytest
from hypothesis import given, strategies as st

from monitor.detectors.stats import Z_CAP, binomial_z, regularized_beta


def upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k), summed in exact rationals (float powers lose precision below 1e-308)."""
    q = Fraction(p)
    return float(sum(math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(k, n + 1)))


@given(n=st.integers(1, 300), p=st.floats(0.01, 0.99), data=st.data())
def test_the_incomplete_beta_is_the_binomial_tail(n: int, p: float, data: st.DataObject) -> None:
    k = data.draw(st.integers(1, n))
    exact = upper_tail(k, n, p)
    assert regularized_beta(p, k, n - k + 1) == pytest.approx(exact, rel=1e-7, abs=1e-300)


def test_a_small_window_is_scored_by_its_true_tail_not_the_normal_approximation() -> None:
    # 26 negative of 47 where 21 % is usual: the normal approximation says z 5.8 (a 3e-9 chance);
    # the real chance of 26 or more is 2.4e-7, which is z 5.0
    normal = (26 / 47 - 0.209) / math.sqrt(0.209 * 0.791 / 47)
    assert normal > 5.7
    mid_p = upper_tail(26, 47, 0.209) - 0.5 * (upper_tail(26, 47, 0.209) - upper_tail(27, 47, 0.209))
    z = binomial_z(26, 47, 0.209)
    assert z == pytest.approx(-NormalDist().inv_cdf(mid_p))
    assert 5.0 < z < 5.2


def test_large_windows_agree_with_the_normal_approximation() -> None:
    n, p = 100_000, 0.3
    k = round(n * p + 5 * math.sqrt(n * p * (1 - p)))
    assert binomial_z(k, n, p) == pytest.approx(5.0, abs=0.05)


def test_below_the_usual_share_is_negative_and_extremes_are_capped() -> None:
    assert binomial_z(2, 100, 0.3) < -5
    assert binomial_z(100, 100, 0.3) == pytest.approx(-NormalDist().inv_cdf(0.5 * 0.3**100))
    assert binomial_z(5000, 5000, 0.3) == Z_CAP  # 0.3 ** 5000 underflows a double
    assert binomial_z(0, 0, 0.3) == 0.0
    assert binomial_z(30, 100, 0.3) == 0.0
