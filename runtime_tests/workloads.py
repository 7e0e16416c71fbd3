"""The inference workloads (eval mode, fixed seeds), users' own ones (factories named `pkg.module:function`)
and the one table of tolerances per dtype."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# The tolerances of the built-in workloads (users' factories bring their own):
# |device - cpu_reference| <= atol + rtol * |cpu_reference|.
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
    """A model taking a batch (B, *sample_shape), the shape of one sample, and (for users' workloads)
    their own input generator, tolerance and dtype."""

    name: str
    model: object  # torch.nn.Module
    sample_shape: tuple[int, ...]
    make_inputs: Callable[[int, int], Any] | None = None  # (count, seed) -> CPU tensor
    tolerance: dict[str, float] | None = None  # {rtol, atol}; None: the dtype's row of TOLERANCES
    dtype: str | None = None  # the user's dtype; None: the plan's


@dataclass(frozen=True)
class UserWorkload:
    """What a user's factory returns: the module, a seeded input generator `inputs(count, seed)` giving a
    CPU tensor (count, *sample_shape), the tolerance and the dtype to run in. A mapping with these keys
    (module, inputs, rtol, atol, dtype) is accepted too."""

    module: Any
    inputs: Callable[[int, int], Any]
    rtol: float = 1e-3
    atol: float = 1e-3
    dtype: str = "float32"


@dataclass(frozen=True)
class FactoryRef:
    """A user's workload factory: `pkg.module:function`, named, with the folder its top package lives in
    (put on the child's sys.path)."""

    name: str
    ref: str
    root: str | None = field(default=None, compare=False)


class FactoryError(ValueError):
    """A user's factory cannot be imported, called or does not return a UserWorkload."""


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


def _function(ref: str, root: str | None = None) -> Callable:
    """Import `pkg.module:function` (with `root` on sys.path) and return the function."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr.isidentifier():
        raise FactoryError(f"workload factory {ref!r} must look like pkg.module:function")
    if root and root not in sys.path:
        sys.path.insert(0, root)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the user's module raises at import
        raise FactoryError(f"workload factory {ref}: cannot import {module_name}: {type(exc).__name__}: {exc}") from exc
    function = getattr(module, attr, None)
    if not callable(function):
        raise FactoryError(f"workload factory {ref}: {module_name} has no function {attr}")
    return function


def factory_ref(ref: str, name: str | None = None) -> FactoryRef:
    """Resolve a `pkg.module:function` reference (importing it) into a FactoryRef; FactoryError if bad."""
    function = _function(ref)
    module = sys.modules[ref.partition(":")[0]]
    root = None
    if getattr(module, "__file__", None):
        path = Path(module.__file__).resolve()
        depth = ref.partition(":")[0].count(".") + (1 if path.name == "__init__.py" else 0)
        root = str(path.parents[depth])
    return FactoryRef(name or function.__name__, ref, root)


def _user(ref: FactoryRef) -> UserWorkload:
    """Call a user's factory (seeded) and check what it returned."""
    import torch

    torch.manual_seed(SEED)  # so an unseeded factory still builds the same weights for device and reference
    try:
        made = _function(ref.ref, ref.root)()
    except FactoryError:
        raise
    except Exception as exc:
        raise FactoryError(f"workload factory {ref.ref} raised {type(exc).__name__}: {exc}") from exc
    if isinstance(made, dict):
        try:
            made = UserWorkload(**made)
        except TypeError as exc:
            raise FactoryError(f"workload factory {ref.ref} returned a mapping with wrong keys ({exc}); "
                               "need module, inputs, rtol, atol, dtype") from exc
    if not isinstance(made, UserWorkload):
        raise FactoryError(f"workload factory {ref.ref} returned {type(made).__name__}, not a UserWorkload "
                           "(module, inputs, rtol, atol, dtype)")
    if not isinstance(made.module, torch.nn.Module):
        raise FactoryError(f"workload factory {ref.ref}: module is {type(made.module).__name__}, not a torch.nn.Module")
    if not callable(made.inputs):
        raise FactoryError(f"workload factory {ref.ref}: inputs must be a function (count, seed) -> tensor")
    if made.dtype not in TOLERANCES:
        raise FactoryError(f"workload factory {ref.ref}: dtype {made.dtype!r} is not one of {', '.join(TOLERANCES)}")
    if not all(isinstance(t, (int, float)) and t >= 0 for t in (made.rtol, made.atol)):
        raise FactoryError(f"workload factory {ref.ref}: rtol and atol must be non-negative numbers")
    return made


def _user_samples(ref: FactoryRef, made: UserWorkload, count: int, seed: int):
    import torch

    try:
        x = made.inputs(count, seed)
    except Exception as exc:
        raise FactoryError(f"workload factory {ref.ref}: inputs({count}, {seed}) raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(x, torch.Tensor) or x.dim() < 1 or x.shape[0] != count:
        raise FactoryError(f"workload factory {ref.ref}: inputs({count}, seed) must return a tensor with {count} rows")
    return x.cpu()


def check_factory(ref: FactoryRef) -> Workload:
    """Build a user's workload on the CPU and run it once on two samples: FactoryError (one line) if
    anything about it is wrong."""
    import torch

    wl = build(ref.name, device="cpu", factories={ref.name: ref})
    x = inputs(wl, 2)
    try:
        with torch.inference_mode():
            out = wl.model(x.to(getattr(torch, wl.dtype or "float32")))
    except Exception as exc:
        raise FactoryError(f"workload factory {ref.ref}: the module failed on a batch of 2: "
                           f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(out, torch.Tensor) or out.shape[:1] != (2,):
        raise FactoryError(f"workload factory {ref.ref}: the module must return one tensor with a row per sample")
    return wl


def build(name: str, size: str = "quick", dtype: str = "float32", device: str = "cpu",
          width: int | None = None, factories: dict[str, FactoryRef] | None = None,
          reference: bool = False) -> Workload:
    """Build workload `name` with fixed weights (seeded), in eval mode, on `device`; `width` overrides
    the size class's hidden width d. Names in `factories` are users' workloads, built by their factory
    in the factory's dtype (float32 when `reference`)."""
    import torch
    from torch import nn

    if factories and name in factories:
        ref = factories[name]
        made = _user(ref)
        user_dtype = "float32" if reference else made.dtype
        model = made.module.eval().to(device=device, dtype=getattr(torch, user_dtype))
        shape = tuple(_user_samples(ref, made, 1, SEED + 1).shape[1:])
        return Workload(name, model, shape, lambda count, seed: _user_samples(ref, made, count, seed),
                        {"rtol": float(made.rtol), "atol": float(made.atol)}, made.dtype)
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

    if workload.make_inputs is not None:
        return workload.make_inputs(count, SEED + 1).to(getattr(torch, dtype))
    gen = torch.Generator().manual_seed(SEED + 1)
    return torch.randn((count, *workload.sample_shape), generator=gen).to(getattr(torch, dtype))


def tolerance(workload: Workload | None, dtype: str) -> dict[str, float]:
    """The workload's own tolerance (users' workloads), else the dtype's row of TOLERANCES."""
    return workload.tolerance if workload is not None and workload.tolerance else TOLERANCES[dtype]


def compare(actual, expected, tol: dict[str, float]) -> tuple[bool, float]:
    """(within |a - e| <= atol + rtol |e|, largest |a - e|; inf when the shapes differ)."""
    import torch

    if actual.shape != expected.shape:
        return False, float("inf")
    a, e = actual.float(), expected.float()
    error = (a - e).abs().max().item() if a.numel() else 0.0
    return bool(torch.allclose(a, e, rtol=tol["rtol"], atol=tol["atol"])), float(error)


def close(actual, expected, dtype: str) -> bool:
    """Whether a device result matches the CPU reference within the dtype's tolerance."""
    return compare(actual, expected, TOLERANCES[dtype])[0]


def difference(actual, expected) -> str:
    """How far a result is from the reference, for the report."""
    if actual.shape != expected.shape:
        return f"shape {tuple(actual.shape)} instead of {tuple(expected.shape)}"
    return f"max |diff| {(actual.float() - expected.float()).abs().max().item():.3g}"
