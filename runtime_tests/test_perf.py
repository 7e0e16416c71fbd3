"""The throughput measurements on CPU: every batcher mode yields its rows, widths build real models."""

import pytest

from runtime_tests import perf, workloads

pytestmark = pytest.mark.quick


def test_the_batcher_measurement_has_a_floor_row_next_to_threads_batcher_and_offline():
    import torch

    calls = []

    def call(batch):
        calls.append(batch.shape[0])
        return batch * 2

    rows = perf.batcher(call, torch.stack, torch.ones(4), clients=2, max_delay_s=0.001, reps=2, seconds=0.02)
    modes = {r["param"] for r in rows if r["metric"] == "requests_per_s"}
    assert modes == {"threads", "batcher", "offline", "floor"}
    assert all(r["value"] > 0 for r in rows if r["metric"] == "requests_per_s")
    assert {r["param"] for r in rows if r["metric"] == "p99_ms"} == modes


def test_a_width_overrides_the_size_class():
    wl = workloads.build("linear", "quick", width=24)
    assert wl.sample_shape == (24,) and wl.model.weight.shape == (24, 24)
    assert workloads.build("mlp", "quick", width=8).model[0].weight.shape == (32, 8)


@pytest.mark.parametrize("width", [0, -3, 2.5, True, "64"])
def test_a_bad_width_is_refused(width):
    with pytest.raises(ValueError, match="width must be a positive integer"):
        workloads.build("linear", "quick", width=width)
