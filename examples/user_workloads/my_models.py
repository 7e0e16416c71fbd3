"""Example user workloads for `python -m runtime_tests run --workload my_models:NAME` (run from this folder).

Each factory returns a runtime_tests.workloads.UserWorkload: the module, a seeded input generator
`inputs(count, seed)` giving a CPU tensor (count, *sample_shape), the tolerance and the dtype.
"""

import torch
from torch import nn

from runtime_tests.workloads import UserWorkload

WIDTH = 256


def _inputs(count: int, seed: int) -> torch.Tensor:
    return torch.randn(count, WIDTH, generator=torch.Generator().manual_seed(seed))


def tiny_classifier() -> UserWorkload:
    """A small MLP classifier head: thread-safe, as any stateless module is."""
    model = nn.Sequential(nn.Linear(WIDTH, 4 * WIDTH), nn.ReLU(), nn.Linear(4 * WIDTH, 10), nn.LogSoftmax(-1))
    return UserWorkload(model, _inputs, rtol=1e-3, atol=1e-3, dtype="float32")


class SharedOutput(nn.Module):
    """NOT thread-safe on purpose: every call writes its result into one buffer kept on the module and
    returns that buffer, so two threads calling at once read each other's results."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(WIDTH, WIDTH)
        self.out: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        if self.out is None or self.out.shape != y.shape or self.out.device != y.device:
            self.out = torch.empty_like(y)
        self.out.copy_(y)
        return torch.tanh(self.out, out=self.out)


def shared_output_buffer() -> UserWorkload:
    """The unsafe workload above: the harness should report `mismatch` under native threads."""
    return UserWorkload(SharedOutput(), _inputs, rtol=1e-3, atol=1e-3, dtype="float32")
