"""The round loop: in order, every attempt recorded, stopping early only when the SPRT decides."""

import pytest

pytestmark = pytest.mark.quick


def _fake(outcome):
    from runtime_tests.rounds import RoundResult

    return RoundResult(outcome, 0, 0.0, 0)


@pytest.mark.parametrize("sequential, failures_at, expect_rounds, last", [
    (False, set(), 40, None),
    (True, set(), 31, "accept"),          # 31 clean rounds accept 1% against 10%
    (True, {0, 1}, 2, "reject"),          # two early failures reject at once
    (True, {0}, 40, "continue"),          # one early failure: 40 rounds do not decide
])
def test_rounds_stop_when_the_sequential_test_decides(sequential, failures_at, expect_rounds, last):
    from concurrent.futures import ThreadPoolExecutor

    from runtime_tests.runner import config_rounds

    specs = [{"i": i} for i in range(40)]
    seen = []
    with ThreadPoolExecutor(3) as pool:
        flags = config_rounds(lambda s: _fake("hang" if s["i"] in failures_at else "pass"), specs, pool, 1,
                              sequential, lambda spec, result, decision: seen.append((spec["i"], decision)))
    assert len(flags) == expect_rounds == len(seen)
    assert [i for i, _ in seen] == list(range(expect_rounds))  # in order, every attempt recorded
    assert seen[-1][1] == last
