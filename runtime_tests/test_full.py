"""Full-size rounds on the best device there is (mps, then cuda, then cpu): every workload passes against
the CPU reference within the stated tolerances, and a fault is still classified there.
Marked `full` and `slow`: not part of `make test`; run with `pytest runtime_tests -m full`."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from runtime_tests import rounds, workloads

pytestmark = [pytest.mark.full, pytest.mark.slow]


@pytest.fixture(scope="module")
def results() -> dict[str, rounds.RoundResult]:
    base = {"mode": "round", "size": "full", "device": "auto", "threads": 8, "iterations": 20}
    specs = {name: dict(base, workload=name) for name in workloads.NAMES}
    specs["batched"] = dict(base, workload="mlp", batched={"max_batch": 8, "max_delay_ms": 2})
    specs["segv"] = dict(base, workload="mlp", fault="segv")
    with ThreadPoolExecutor(4) as pool:
        futures = {name: pool.submit(rounds.spawn, spec, timeout_s=300) for name, spec in specs.items()}
        return {name: f.result() for name, f in futures.items()}


@pytest.mark.parametrize("name", [*workloads.NAMES, "batched"])
def test_full_size_round_passes(results, name):
    r = results[name]
    assert r.outcome == "pass", r.detail
    assert r.doc["ops"] == 8 * 20


def test_a_segfault_is_classified_on_the_device_too(results):
    assert results["segv"].outcome == "signal:SIGSEGV"
