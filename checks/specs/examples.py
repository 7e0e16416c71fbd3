"""tlaplus/Examples-style `manifest.json` files read as our model entries (the same runner, verdicts, counts).

Such a manifest lists modules and, per module, models: a cfg path, `result` (success | safety failure |
liveness failure | deadlock failure | assumption failure | unknown), `mode` (exhaustive search |
generate | symbolic | {simulate: {traceCount: N}}), exact `distinctStates`/`totalStates` for successful
exhaustive runs, and `runtime` (hh:mm:ss). Paths are relative to the repository root, which is found by
walking up from the manifest until they resolve.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from checks.cli import UsageError
from checks.specs.cfgfile import read_cfg
from checks.specs.manifest import ApalacheSettings, ModelEntry
from checks.specs.modelopts import Simulation, model_name

# Examples' result -> our expectation (exit 12 is "safety failure", 13 "liveness failure" in its CI)
RESULTS = {"success": "pass", "safety failure": "invariant", "liveness failure": "property",
           "deadlock failure": "deadlock", "assumption failure": "assumption"}
# TLC's -simulate without a depth goes 100 steps deep; Examples' CI passes none
DEFAULT_DEPTH = 100
GENERATE_BEHAVIOURS = 100
SLOW_AFTER_S = 30               # Examples' CI gives models over 30 s only a smoke run
SYMBOLIC_LENGTH = 5             # Examples' CI caps Apalache at 5 steps


def _fail(path: Path, message: str) -> UsageError:
    return UsageError(f"{path}: {message}")


def _root(manifest: Path, first: str) -> Path:
    """The repository root: the nearest folder above the manifest in which its paths resolve."""
    for folder in [manifest.parent, *manifest.parent.parents]:
        if (folder / first).exists():
            return folder
    raise _fail(manifest, f"cannot find the repository root: {first} resolves under no folder above the manifest")


def _seconds(runtime: Any) -> int | None:
    m = re.fullmatch(r"(\d\d):(\d\d):(\d\d)", str(runtime))
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3)) if m else None


def _workers(value: Any, path: Path, where: str) -> int | None:
    """Examples' `workers`: a count, or "auto" (all cores; TLC 2.15 has no -workers auto)."""
    if value is None:
        return None
    if value == "auto":
        return os.cpu_count() or 1
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _fail(path, f"{where}: workers must be a positive integer or auto")
    return value


def _mode(mode: Any, where: str, path: Path) -> tuple[Simulation | None, str | None]:
    """(simulation, skip reason) for a model's mode."""
    if mode == "exhaustive search":
        return None, None
    if mode == "symbolic":
        return None, "mode symbolic: an Apalache model (run it with --backend apalache)"
    if mode == "generate":
        return Simulation(num=GENERATE_BEHAVIOURS, depth=DEFAULT_DEPTH), None
    if isinstance(mode, dict) and isinstance(mode.get("simulate"), dict):
        count = mode["simulate"].get("traceCount")
        if isinstance(count, (int, float)) and not isinstance(count, bool) and count >= 1:
            return Simulation(num=int(count), depth=DEFAULT_DEPTH), None
    raise _fail(path, f"{where}: unknown mode {mode!r}")


def _model(raw: Any, module: Path, root: Path, manifest: Path, index: str) -> ModelEntry:
    where = f"modules{index}"
    if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
        raise _fail(manifest, f"{where}: a model needs a path")
    cfg_path = root / raw["path"]
    where = f"model {raw['path']}"
    if not cfg_path.is_file():
        raise _fail(manifest, f"{where}: {cfg_path} does not exist")
    result = raw.get("result")
    if result not in (*RESULTS, "unknown"):
        raise _fail(manifest, f"{where}: result {result!r} is not one of {', '.join(RESULTS)}, unknown")
    simulate, skip = _mode(raw.get("mode"), where, manifest)
    if result == "unknown":
        skip = "result unknown in manifest.json"
    exhaustive_pass = result == "success" and simulate is None and skip is None
    distinct, total = (raw.get("distinctStates"), raw.get("totalStates")) if exhaustive_pass else (None, None)
    for key, value in (("distinctStates", distinct), ("totalStates", total)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise _fail(manifest, f"{where}: {key} must be a non-negative integer")
    seconds = _seconds(raw.get("runtime"))
    folder = manifest.parent
    name = model_name(str(cfg_path.relative_to(folder).with_suffix("")).replace("/", ".")
                      if cfg_path.is_relative_to(folder) else cfg_path.stem, f"{manifest}: {where}")
    apalache = None
    if raw.get("mode") == "symbolic" and result != "unknown":
        apalache = ApalacheSettings(length=SYMBOLIC_LENGTH, inv=read_cfg(cfg_path).invariants, temporal=(),
                                    cinit=None, expect=RESULTS.get(result, "pass"))
    return ModelEntry(name=name, module=str(module.relative_to(root).with_suffix("")), cfg=raw["path"],
                      tier="slow" if seconds is None or seconds > SLOW_AFTER_S else "fast",
                      expect=RESULTS.get(result, "pass"), distinct=distinct, total=total, variant_of=None,
                      shows=f"tlaplus/Examples model {raw['path']} ({result})", apalache=apalache,
                      spec_path=module, cfg_path=cfg_path, simulate=simulate, skip=skip,
                      workers=_workers(raw.get("workers"), manifest, where))


def load_examples_manifest(path: Path) -> list[ModelEntry]:
    """Every model of an Examples-style manifest.json, in file order."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read manifest {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None
    modules = data.get("modules") if isinstance(data, dict) else None
    if not isinstance(modules, list) or not modules or not all(isinstance(m, dict) for m in modules):
        raise _fail(path, "an Examples manifest.json has modules: a list of {path, models}")
    if not all(isinstance(m.get("path"), str) and isinstance(m.get("models"), list) for m in modules):
        raise _fail(path, "every module needs path (a string) and models (a list)")
    root = _root(path, modules[0]["path"])
    entries: list[ModelEntry] = []
    for i, module in enumerate(modules):
        spec = root / module["path"]
        if not spec.is_file():
            raise _fail(path, f"module {module['path']}: {spec} does not exist")
        entries += [_model(raw, spec, root, path, f"[{i}].models[{j}]") for j, raw in enumerate(module["models"])]
    names = [e.name for e in entries]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise _fail(path, f"two models are named {duplicate}")
    if not entries:
        raise _fail(path, "the manifest lists no models")
    return entries
