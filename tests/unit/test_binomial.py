"""The detectors' statistics: exact binomial and negative-binomial tails, scored as the equivalent normal z."""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist

import pytest
from hypothesis import given, strategies as st

from monitor.detectors.stats import Z_CAP, binomial_z, negative_binomial_z, regularized_beta


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


def count_mid_p(k: int, mean: float, dispersion: float) -> float:
    """P(X > k) + P(X = k) / 2 for a count with this mean and variance-to-mean ratio, summed term by term
    (the Poisson at a ratio of 1)."""
    if dispersion == 1.0:
        log_first, step = -mean + k * math.log(mean) - math.lgamma(k + 1), lambda j: mean / (j + 1)
    else:
        q, r = 1 / dispersion, mean / (dispersion - 1)
        log_first = math.lgamma(k + r) - math.lgamma(r) - math.lgamma(k + 1) + r * math.log(q) + k * math.log1p(-q)
        step = lambda j: (j + r) / (j + 1) * (1 - q)  # noqa: E731
    term, total, j = math.exp(log_first), 0.5 * math.exp(log_first), k
    while term > total * 1e-17:
        term *= step(j)
        total += term
        j += 1
    return total


@given(mean=st.floats(1, 500), dispersion=st.sampled_from([1.0, 1.05, 1.5, 3.0, 10.0]), excess=st.floats(0.05, 6))
def test_a_count_is_scored_by_its_negative_binomial_tail(mean: float, dispersion: float, excess: float) -> None:
    k = math.ceil(mean + excess * math.sqrt(mean * dispersion))
    tail = count_mid_p(k, mean, dispersion)
    if tail < 0.5:
        # (a ratio of exactly 1 is computed as 1 + 1e-6: the Poisson to five places of z)
        assert negative_binomial_z(k, mean, dispersion) == pytest.approx(-NormalDist().inv_cdf(tail), abs=1e-5)


def test_a_bursty_topic_is_not_scored_as_if_its_counts_were_normal() -> None:
    # 100 stories where 40 are usual and counts vary three times as much as a Poisson's: the normal
    # approximation calls it z 5.5 (a 2e-8 chance); the negative binomial's real tail is 1e-5
    normal = (100 - 40) / math.sqrt(40 * 3)
    assert normal > 5.4
    z = negative_binomial_z(100, 40, 3.0)
    assert z == pytest.approx(-NormalDist().inv_cdf(count_mid_p(100, 40, 3.0)), abs=1e-6)
    assert 4.0 < z < 4.4


def test_counts_below_the_mean_score_below_zero() -> None:
    assert negative_binomial_z(5, 40, 1.0) < -4
    assert negative_binomial_z(40, 40, 2.0) == pytest.approx(0.0, abs=0.1)
    assert negative_binomial_z(3, 0.0, 1.0) == Z_CAP
    assert negative_binomial_z(0, 0.0, 1.0) == 0.0
