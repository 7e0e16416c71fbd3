"""The device layer: pick a device and synchronise it (the only place that knows MPS from CUDA from CPU)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable

DEVICES = ("auto", "mps", "cuda", "cpu")


@dataclass(frozen=True)
class Backend:
    """A torch device with its synchronise function and a human-readable name."""

    device: str
    sync: Callable[[], None]
    name: str


def _available(torch, device: str) -> bool:
    if device == "mps":
        return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if device == "cuda":
        return torch.cuda.is_available()
    return device == "cpu"


def prepare(requested: str) -> None:
    """Settings that must precede `import torch`: on CPU one OpenMP thread per Python thread (the
    intra-op count set later by torch.set_num_threads only reaches the calling thread)."""
    if requested == "cpu":
        os.environ["OMP_NUM_THREADS"] = "1"


def resolve(requested: str) -> str:
    """The concrete device for `requested` (auto: mps, then cuda, then cpu); ValueError when unavailable."""
    import torch

    if requested not in DEVICES:
        raise ValueError(f"unknown device {requested!r} (choose from {', '.join(DEVICES)})")
    if requested == "auto":
        return next(d for d in ("mps", "cuda", "cpu") if _available(torch, d))
    if not _available(torch, requested):
        raise ValueError(f"device {requested!r} is not available in this torch build ({torch.__version__})")
    return requested


def backend(device: str) -> Backend:
    """The Backend for a concrete device (call resolve() first)."""
    import torch

    if device == "mps":
        return Backend("mps", torch.mps.synchronize, f"Apple GPU (MPS) on macOS {platform.mac_ver()[0]}")
    if device == "cuda":
        # Strict float32 so that the CPU reference and the GPU agree within the stated tolerances.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        return Backend("cuda", torch.cuda.synchronize, torch.cuda.get_device_name(0))
    # One intra-op thread: the threads under test are ours; OpenMP workers competing with them for the
    # same cores made batch >= 4 up to 100x slower and erratic on a busy 2-core machine.
    torch.set_num_threads(1)
    return Backend("cpu", lambda: None, f"{platform.machine()} CPU, 1 intra-op thread")


def _command_output(cmd: list[str]) -> str | None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def versions(device: str) -> dict[str, str | None]:
    """The accelerator stack under the results: CUDA runtime (torch's build) and driver, or macOS and
    Metal; None where it cannot be read."""
    import torch

    if device == "cuda":
        driver = None
        if shutil.which("nvidia-smi"):
            out = _command_output(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
            driver = out.splitlines()[0].strip() if out else None
        return {"CUDA runtime": torch.version.cuda, "CUDA driver": driver,
                "cuDNN": str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else None}
    if device == "mps":
        metal = None
        out = _command_output(["system_profiler", "SPDisplaysDataType"])
        for line in (out or "").splitlines():
            if "Metal" in line and ":" in line:  # "Metal Support: Metal 3"
                metal = line.split(":", 1)[1].strip()
                break
        return {"macOS": platform.mac_ver()[0] or None, "Metal": metal}
    return {}
