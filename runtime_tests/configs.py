"""Load and validate the configuration matrix and the plans (runtime_tests/configs.yaml)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.cli import UsageError
from checks.config import read_yaml
from runtime_tests import workloads

DEFAULT_CONFIGS = Path(__file__).with_name("configs.yaml")
_VAR = re.compile(r"\$\{(\w+)\}")
PLAN_KEYS = {"size", "rounds", "threads", "iterations", "workloads", "timeout_s", "jobs", "soak_s", "perf"}
CONFIG_KEYS = {"name", "description", "model", "env", "preload", "python_lock", "batched", "fault"}
FAULTS = ("none", "segv", "hang", "wrong", "raise")  # injected on purpose, to test the harness itself


@dataclass(frozen=True)
class Configuration:
    """One way of running inference, with the spec model that describes it."""

    name: str
    description: str = ""
    model: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    preload: str | None = None  # after ${VAR} expansion; None when not requested
    preload_unset: str | None = None  # the variable that was empty, so the configuration is skipped
    python_lock: bool = False
    batched: dict[str, Any] | None = None
    fault: str = "none"


@dataclass(frozen=True)
class Matrix:
    """All configurations and plans of one configs.yaml."""

    configurations: tuple[Configuration, ...]
    plans: dict[str, dict[str, Any]]
    source: Path
    workloads: dict[str, str] = field(default_factory=dict)  # users' workloads: name -> pkg.module:factory


def _expand(text: str) -> tuple[str, str | None]:
    """Expand ${VAR}; returns (text, name of the first variable that is unset or empty)."""
    missing = next((m.group(1) for m in _VAR.finditer(text) if not os.environ.get(m.group(1))), None)
    return _VAR.sub(lambda m: os.environ.get(m.group(1), ""), text), missing


def _configuration(raw: Any, where: str) -> Configuration:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise UsageError(f"{where}: each configuration needs a name")
    unknown = set(raw) - CONFIG_KEYS
    if unknown:
        raise UsageError(f"{where}: configuration {raw['name']}: unknown keys {', '.join(sorted(unknown))}")
    env = raw.get("env") or {}
    if not isinstance(env, dict):
        raise UsageError(f"{where}: configuration {raw['name']}: env must be a mapping")
    batched = raw.get("batched")
    if batched is not None and not isinstance(batched, dict):
        raise UsageError(f"{where}: configuration {raw['name']}: batched must be a mapping")
    fault = str(raw.get("fault", "none"))
    if fault not in FAULTS:
        raise UsageError(f"{where}: configuration {raw['name']}: fault must be one of {', '.join(FAULTS)}")
    preload, missing = (None, None)
    if raw.get("preload"):
        preload, missing = _expand(str(raw["preload"]))
    return Configuration(name=raw["name"], description=str(raw.get("description", "")), model=raw.get("model"),
                         env={str(k): str(v) for k, v in env.items()}, preload=None if missing else preload,
                         preload_unset=missing, python_lock=bool(raw.get("python_lock", False)),
                         batched=batched, fault=fault)


def _user_workloads(raw: Any, where: str) -> dict[str, str]:
    """The `workloads:` section: {name: pkg.module:factory}; names must not shadow built-in ones."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise UsageError(f"{where}: workloads must map names to factories, e.g. {{mymodel: mypkg.models:build}}")
    clash = sorted(set(raw) & set(workloads.NAMES))
    if clash:
        raise UsageError(f"{where}: workloads: {', '.join(clash)} is a built-in workload name; choose another")
    bad = [f"{k}: {v}" for k, v in raw.items() if not re.fullmatch(r"[\w.]+:\w+", v)]
    if bad:
        raise UsageError(f"{where}: workloads: {bad[0]} must look like pkg.module:function")
    return dict(raw)


def _plan(name: str, raw: Any, where: str, user: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: plan {name} must be a mapping")
    unknown = set(raw) - PLAN_KEYS
    if unknown:
        raise UsageError(f"{where}: plan {name}: unknown keys {', '.join(sorted(unknown))}")
    perf = raw.get("perf") or {}
    names = [*raw.get("workloads", []), *perf.get("workloads", []), *perf.get("batch_workloads", []),
             *perf.get("batcher_workloads", [])]
    bad = sorted({n for n in names if n not in workloads.NAMES and n not in user})
    if bad:
        raise UsageError(f"{where}: plan {name}: unknown workloads {', '.join(bad)} "
                         f"(known: {', '.join((*workloads.NAMES, *user))})")
    if raw.get("size", "quick") not in workloads.SIZES:
        raise UsageError(f"{where}: plan {name}: size must be one of {', '.join(workloads.SIZES)}")
    for key in ("rounds", "threads", "iterations", "jobs"):
        if key in raw and (not isinstance(raw[key], int) or raw[key] < 1):
            raise UsageError(f"{where}: plan {name}: {key} must be a positive integer")
    if not raw.get("workloads"):
        raise UsageError(f"{where}: plan {name}: needs at least one workload")
    widths = perf.get("batcher_widths") or {}
    if not isinstance(widths, dict) or any(
            w not in perf.get("batcher_workloads", []) or not isinstance(ds, list) or not ds
            or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in ds) for w, ds in widths.items()):
        raise UsageError(f"{where}: plan {name}: perf.batcher_widths must map batcher workloads to lists of "
                         "positive widths, e.g. {linear: [512, 8192]}")
    return raw


def load(path: Path | None = None) -> Matrix:
    """Read and validate a configs.yaml (the packaged one by default)."""
    path = path or DEFAULT_CONFIGS
    data = read_yaml(path, "configuration matrix")
    if not isinstance(data, dict) or not isinstance(data.get("configurations"), list):
        raise UsageError(f"{path}: needs a 'configurations' list")
    configs = tuple(_configuration(c, str(path)) for c in data["configurations"])
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise UsageError(f"{path}: configuration names must be unique")
    user = _user_workloads(data.get("workloads"), str(path))
    plans = {name: _plan(name, raw, str(path), tuple(user)) for name, raw in (data.get("plans") or {}).items()}
    return Matrix(configs, plans, path, user)
