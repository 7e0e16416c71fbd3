"""The inference workloads (eval mode, fixed seeds) and the one table of tolerances per dtype."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

# The only place tolerances live: |device - cpu_reference| <= atol + rtol * |cpu_reference|.
# float32 runs with TF32 off (backend.py); the slack covers reduction-order differences between
# kernels, batch sizes and devices, not wrong answers (a wrong or swapped result is off by O(1)).
TOLERANCES = {
    "float32": {"rtol": 1e-3, "atol": 1e-3},
    "float16": {"rtol": 1e-2, "atol": 1e-2},
    "bfloat16": {"rtol": 5e-2, "atol": 5e-2},
}

# Hidden width, sequence length, image side per size class.
SIZES = {
    "quick": {"d": 64, "seq": 8, "side": 8, "channels": 4},
    "full": {"d": 512, "seq": 64, "side": 32, "channels": 32},
}

SEED = 1234


@dataclass(frozen=True)
class Workload:
    """A model taking a batch (B, *sample_shape) and the shape of one sample."""

    name: str
    model: object  # torch.nn.Module
    sample_shape: tuple[int, ...]


def _linear(nn, torch, s):
    return nn.Linear(s["d"], s["d"]), (s["d"],)


def _mlp(nn, torch, s):
    d = s["d"]
    return nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d)), (d,)


def _layernorm(nn, torch, s):
    return nn.LayerNorm(s["d"]), (s["seq"], s["d"])


def _softmax(nn, torch, s):
    return nn.Softmax(dim=-1), (s["seq"], s["d"])


def _gelu(nn, torch, s):
    return nn.GELU(), (s["seq"], s["d"])


def _matmul(nn, torch, s):
    class MatMul(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.w = nn.Parameter(torch.randn(d, d) / d**0.5)

        def forward(self, x):
            return x @ self.w

    return MatMul(s["d"]), (s["d"],)


def _bmm(nn, torch, s):
    class BMM(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.w = nn.Parameter(torch.randn(d, d) / d**0.5)

        def forward(self, x):
            return torch.bmm(x, self.w.expand(x.shape[0], *self.w.shape))

    return BMM(s["d"]), (s["seq"], s["d"])


def _conv2d(nn, torch, s):
    c = s["channels"]
    return nn.Conv2d(c, c, kernel_size=3, padding=1), (c, s["side"], s["side"])


def _transformer(nn, torch, s):
    d = s["d"]
    layer = nn.TransformerEncoderLayer(d, nhead=4, dim_feedforward=2 * d, dropout=0.0, batch_first=True)
    return layer, (s["seq"], d)


BUILDERS: dict[str, Callable] = {
    "linear": _linear,
    "mlp": _mlp,
    "layernorm": _layernorm,
    "softmax": _softmax,
    "gelu": _gelu,
    "matmul": _matmul,
    "bmm": _bmm,
    "conv2d": _conv2d,
    "transformer": _transformer,
}
NAMES = tuple(BUILDERS)


def build(name: str, size: str = "quick", dtype: str = "float32", device: str = "cpu",
          width: int | None = None) -> Workload:
    """Build workload `name` with fixed weights (seeded), in eval mode, on `device`; `width` overrides
    the size class's hidden width d."""
    import torch
    from torch import nn

    if name not in BUILDERS:
        raise ValueError(f"unknown workload {name!r} (choose from {', '.join(NAMES)})")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r} (choose from {', '.join(SIZES)})")
    if dtype not in TOLERANCES:
        raise ValueError(f"unknown dtype {dtype!r} (choose from {', '.join(TOLERANCES)})")
    if width is not None and (isinstance(width, bool) or not isinstance(width, int) or width < 1):
        raise ValueError(f"width must be a positive integer, not {width!r}")
    torch.manual_seed(SEED)
    model, shape = BUILDERS[name](nn, torch, SIZES[size] if width is None else {**SIZES[size], "d": width})
    model = model.eval().to(device=device, dtype=getattr(torch, dtype))
    return Workload(name, model, shape)


def inputs(workload: Workload, count: int, dtype: str = "float32"):
    """`count` fixed samples (CPU tensor of shape (count, *sample_shape)), seeded."""
    import torch

    gen = torch.Generator().manual_seed(SEED + 1)
    return torch.randn((count, *workload.sample_shape), generator=gen).to(getattr(torch, dtype))


def close(actual, expected, dtype: str) -> bool:
    """Whether a device result matches the CPU reference within the dtype's tolerance."""
    import torch

    tol = TOLERANCES[dtype]
    return actual.shape == expected.shape and bool(
        torch.allclose(actual.float(), expected.float(), rtol=tol["rtol"], atol=tol["atol"]))


def difference(actual, expected) -> str:
    """How far a result is from the reference, for the report."""
    if actual.shape != expected.shape:
        return f"shape {tuple(actual.shape)} instead of {tuple(expected.shape)}"
    return f"max |diff| {(actual.float() - expected.float()).abs().max().item():.3g}"
