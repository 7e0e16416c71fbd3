"""The statistics reproduce the numbers in shared/notes/runtime-method.md."""

import math

import pytest

from runtime_tests import stats

pytestmark = pytest.mark.quick


def test_zero_failures_upper_bounds():
    assert stats.rate(0, 20).upper == pytest.approx(0.139, abs=5e-4)
    assert stats.rate(0, 160).upper == pytest.approx(0.0185, abs=5e-5)
    assert stats.rate(0, 20).upper == pytest.approx(1 - 0.05 ** (1 / 20))


def test_clopper_pearson_interval():
    r = stats.rate(3, 20)
    assert (r.low, r.high) == pytest.approx((0.0321, 0.3789), abs=5e-4)
    assert r.low < r.estimate < r.upper < r.high
    assert stats.rate(20, 20).upper == 1.0


def test_plain_statement_says_when_a_run_is_too_small():
    assert stats.sentence(stats.rate(0, 20)) == "0/20 failures: rate below 13.9% at 95%, not shown safe"
    assert stats.sentence(stats.rate(0, 400)).endswith("shown below 1%")
    assert stats.sentence(stats.rate(3, 20)).startswith("3/20 failures: rate 15.0%")


def test_fisher_20_of_20_vs_12_of_20():
    assert stats.fisher(0, 20, 8, 20) == pytest.approx(0.0033, abs=5e-5)
    assert stats.fisher(0, 20, 0, 20) == 1.0


@pytest.mark.parametrize("rate, rounds", [(0.10, 29), (0.05, 59), (0.01, 299), (0.001, 2995)])
def test_rounds_needed_to_see_a_rate(rate, rounds):
    assert stats.rounds_to_detect(rate) == rounds


def test_sprt_accepts_after_31_clean_rounds():
    assert stats.sprt([False] * 30) == ("continue", 30)
    assert stats.sprt([False] * 100) == ("accept", 31)


def test_sprt_rejects_on_early_crashes_and_a_crash_delays_acceptance():
    assert stats.sprt([True, True]) == ("reject", 2)
    decision, used = stats.sprt([True] + [False] * 100)
    assert decision == "accept" and used > 31 + 20


def test_efficiency_and_its_interval():
    assert stats.efficiency([100.0] * 5, [400.0] * 5, 4) == (1.0, 1.0, 1.0)
    point, low, high = stats.efficiency([100, 110, 90, 105, 95], [150, 170, 130, 160, 140], 4)
    assert point == pytest.approx(150 / (4 * 100))
    assert low <= point <= high and high - low > 0


def test_median_iqr():
    assert stats.median_iqr([1, 2, 3, 4, 5]) == (3.0, 2.0, 4.0)
    assert math.isnan(stats.rate(0, 0).estimate)
