"""specs/manifest.yaml: which models exist, what each must yield, validated before anything runs."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.cli import UsageError
from checks.config import read_yaml
from checks.sources import REPO_ROOT
from checks.specs import modelopts
from checks.specs.cfgfile import read_cfg
from checks.specs.modelopts import Simulation


@dataclass(frozen=True)
class ApalacheSettings:
    """How the Apalache backend checks a model (bounded)."""

    length: int
    inv: tuple[str, ...]
    temporal: tuple[str, ...]
    cinit: str | None
    init: str = "Init"
    next: str = "Next"
    expect: str = "pass"


@dataclass(frozen=True)
class ModelEntry:
    """One model of the manifest: a module + cfg and the result it must yield."""

    name: str
    module: str
    cfg: str
    tier: str
    expect: str
    distinct: int | None
    total: int | None
    variant_of: str | None
    shows: str
    apalache: ApalacheSettings | None
    spec_path: Path
    cfg_path: Path
    tlc_options: tuple[str, ...] = ()       # allow-listed (checks/specs/modelopts.py)
    jvm_options: tuple[str, ...] = ()
    library: tuple[Path, ...] = ()          # folders go to -DTLA-Library, jars to the classpath
    simulate: Simulation | None = None      # run by random simulation, never reported as a pass
    workers: int | None = None              # TLC -workers for this model (--workers overrides)
    skip: str | None = None                 # why TLC does not run this listed model (e.g. symbolic mode)


@dataclass(frozen=True)
class RunOptions:
    """How to run the selected models."""

    timeout: float
    workers: int | None = None              # --workers N for every model; None: each model's own (default 1)
    coverage: bool = False
    artifacts: Path = Path(".mps-verify/specs")
    trace: bool = False
    simulate: Simulation | None = None      # --simulate: every selected model by simulation
    distributed: int | None = None          # --distributed K: TLCServer + K TLCWorkers on loopback
    checkpoint: int | None = None           # --checkpoint MIN: keep TLC's states under the artifacts
    recover: bool = False                   # --recover: resume from the last checkpoint there
    full_values: bool = False               # --full-values: no eliding of long values in traces


TIERS = ("fast", "slow")
# a bare `invariant` / `property` matches any name (tlaplus/Examples' "safety failure" / "liveness failure")
EXPECT = re.compile(r"^(pass|deadlock|assumption|invariant|property|(invariant|property): [A-Za-z_][A-Za-z0-9_]*)$")
_REQUIRED = ("name", "module", "cfg", "tier", "expect", "shows")
# code: checks/specs/anchors.py; tlc_options ... simulate: checks/specs/modelopts.py
_OPTIONAL = ("distinct", "total", "variant_of", "apalache", "code", "tlc_options", "jvm_options", "library",
             "simulate", "workers")
_TOP_OPTIONAL = ("require_refutation",)
_HIERARCHY_MODULE = "LockHierarchyData"
_APALACHE_REQUIRED = ("length",)
_APALACHE_OPTIONAL = ("inv", "temporal", "cinit", "init", "next", "expect")


def _fail(where: str, message: str) -> UsageError:
    return UsageError(f"{where}: {message}")


def _names(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(where, f"apalache.{key} must be a list of operator names")
    return tuple(value)


def _apalache(raw: Any, where: str) -> ApalacheSettings | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _fail(where, "apalache must be a mapping")
    _keys(raw, _APALACHE_REQUIRED, _APALACHE_OPTIONAL, where, "apalache.")
    length = raw["length"]
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise _fail(where, "apalache.length must be a non-negative integer")
    expect = raw.get("expect", "pass")
    if not isinstance(expect, str) or not EXPECT.match(expect):
        raise _fail(where, f"apalache.expect {expect!r} is not pass | deadlock | assumption | "
                           "'invariant: NAME' | 'property: NAME'")
    for key in ("cinit", "init", "next"):
        if key in raw and raw[key] is not None and not isinstance(raw[key], str):
            raise _fail(where, f"apalache.{key} must be an operator name")
    return ApalacheSettings(length=length, inv=_names(raw.get("inv"), where, "inv"),
                            temporal=_names(raw.get("temporal"), where, "temporal"),
                            cinit=raw.get("cinit"), init=raw.get("init") or "Init",
                            next=raw.get("next") or "Next", expect=expect)


def _keys(raw: dict, required: tuple[str, ...], optional: tuple[str, ...], where: str, prefix: str = "") -> None:
    unknown = sorted(set(map(str, raw)) - set(required) - set(optional))
    if unknown:
        raise _fail(where, f"unknown key {prefix}{unknown[0]} (allowed: {', '.join(required + optional)})")
    missing = [k for k in required if k not in raw]
    if missing:
        raise _fail(where, f"missing key {prefix}{missing[0]}")


def _entry(raw: Any, index: int, folder: Path, source: Path) -> ModelEntry:
    where = f"{source}: models[{index}]"
    if not isinstance(raw, dict):
        raise _fail(where, "each model must be a mapping")
    if isinstance(raw.get("name"), str):
        where = f"{source}: model {raw['name']}"
    _keys(raw, _REQUIRED, _OPTIONAL, where)
    for key in ("name", "module", "cfg", "shows", "expect", "tier"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise _fail(where, f"{key} must be a non-empty string")
    modelopts.model_name(raw["name"], where)
    simulate = modelopts.simulation(raw.get("simulate"), where)
    if raw["tier"] not in TIERS:
        raise _fail(where, f"tier {raw['tier']!r} is not one of {', '.join(TIERS)}")
    if not EXPECT.match(raw["expect"]):
        raise _fail(where, f"expect {raw['expect']!r} is not pass | deadlock | assumption | "
                           "'invariant: NAME' | 'property: NAME'")
    for key in ("distinct", "total"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise _fail(where, f"{key} must be a non-negative integer or null")
    if raw["expect"] == "pass" and simulate is None and (raw.get("distinct") is None or raw.get("total") is None):
        raise _fail(where, "a passing model needs exact distinct and total state counts")
    if simulate is not None and (raw.get("distinct") is not None or raw.get("total") is not None):
        raise _fail(where, "a simulated model has no exact state counts; set distinct/total to null")
    if raw["expect"] != "pass" and (raw.get("distinct") is not None or raw.get("total") is not None):
        raise _fail(where, "distinct/total are compared only for passing runs; set them to null")
    if raw.get("variant_of") is not None and not isinstance(raw["variant_of"], str):
        raise _fail(where, "variant_of must be a model name")
    if "\n" in raw["shows"].strip():
        raise _fail(where, "shows must be one line")
    spec_path, cfg_path = folder / f"{raw['module']}.tla", folder / raw["cfg"]
    for key, path in (("module", spec_path), ("cfg", cfg_path)):
        if not path.is_file():
            raise _fail(where, f"{key}: {path} does not exist")
    return ModelEntry(name=raw["name"], module=raw["module"], cfg=raw["cfg"], tier=raw["tier"],
                      expect=raw["expect"], distinct=raw.get("distinct"), total=raw.get("total"),
                      variant_of=raw.get("variant_of"), shows=raw["shows"].strip(),
                      apalache=_apalache(raw.get("apalache"), where), spec_path=spec_path,
                      cfg_path=cfg_path, tlc_options=modelopts.tlc_options(raw.get("tlc_options"), where),
                      jvm_options=modelopts.jvm_options(raw.get("jvm_options"), where),
                      library=modelopts.library(raw.get("library"), folder, where), simulate=simulate,
                      workers=modelopts.workers(raw.get("workers"), where))


def _cross_check(entries: list[ModelEntry], source: Path, require_refutation: bool = True,
                 checked: set[str] | None = None) -> None:
    """Names unique; for the `checked` models (None: all) variants, cfg names and the refutation rule."""
    by_name: dict[str, ModelEntry] = {}
    for entry in entries:
        if entry.name in by_name:
            raise _fail(f"{source}: model {entry.name}", "duplicate name")
        by_name[entry.name] = entry
    refuted = {(e.module, e.expect.split(": ", 1)[1]) for e in entries if e.expect.startswith("invariant: ")}
    for entry in entries:
        if checked is not None and entry.name not in checked:
            continue
        where = f"{source}: model {entry.name}"
        if entry.variant_of is not None:
            base = by_name.get(entry.variant_of)
            if base is None:
                raise _fail(where, f"variant_of: no model named {entry.variant_of}")
            if base.expect != "pass":
                raise _fail(where, f"variant_of: {entry.variant_of} is not a passing model")
        names = read_cfg(entry.cfg_path)
        kind, _, checked_name = entry.expect.partition(": ")
        listed = {"invariant": names.invariants, "property": names.properties}.get(kind)
        if checked_name and listed is not None and checked_name not in listed:
            raise _fail(where, f"expects {entry.expect} but {entry.cfg} does not check {checked_name}")
        if entry.expect != "pass" or not require_refutation:
            continue
        # an invariant that no model refutes may be vacuous: demand a bug variant that breaks it
        for invariant in names.invariants:
            if (entry.module, invariant) not in refuted:
                raise _fail(where, f"invariant {invariant} is never refuted: add a bug variant of "
                                   f"module {entry.module} that expects 'invariant: {invariant}' "
                                   "(or set require_refutation: false at the top of the manifest)")


def _require_refutation(raw: dict, path: Path) -> bool:
    value = raw.get("require_refutation", True)
    if not isinstance(value, bool):
        raise UsageError(f"{path}: require_refutation must be true or false")
    if not value and path.resolve().parent == REPO_ROOT / "specs":
        raise UsageError(f"{path}: require_refutation stays on for the project's own specs")
    return value


def _entries(models: list, folder: Path, path: Path, only: list[str] | None) -> list[ModelEntry]:
    """Every entry validated; with `only`, a broken entry that is not selected is left out, not fatal."""
    if only is None:
        return [_entry(item, i, folder, path) for i, item in enumerate(models)]
    names = {item.get("name") for item in models if isinstance(item, dict)}
    unknown = [name for name in only if name not in names]
    if unknown:
        raise UsageError(f"--only: no model named {unknown[0]} in the manifest")
    entries = []
    for i, item in enumerate(models):
        try:
            entries.append(_entry(item, i, folder, path))
        except UsageError:
            if isinstance(item, dict) and item.get("name") in only:
                raise
    return entries


def _hierarchy_check() -> None:
    """Fail when specs/LockHierarchyData.tla is stale (the models helper's generator, when present)."""
    try:
        hierarchy = importlib.import_module("checks.specs.hierarchy")
    except ModuleNotFoundError as exc:
        if exc.name == "checks.specs.hierarchy":
            return
        raise
    check = getattr(hierarchy, "check_generated", None)
    if check is None:
        return
    problem = check()
    if problem:
        raise UsageError(problem if isinstance(problem, str) else "; ".join(map(str, problem)))


def load_manifest(path: Path, only: list[str] | None = None) -> list[ModelEntry]:
    """Load and validate a manifest; every problem is a one-line UsageError naming model and key.

    With `only`, just those models (and what they refer to) must be valid."""
    raw = read_yaml(path, "manifest")
    if (not isinstance(raw, dict) or "models" not in raw or not set(raw) <= {"models", *_TOP_OPTIONAL}
            or not isinstance(raw["models"], list)):
        raise UsageError(f"{path}: a manifest is a mapping with models: a list of models "
                         f"(and optionally {', '.join(_TOP_OPTIONAL)})")
    require_refutation = _require_refutation(raw, path)
    entries = _entries(raw["models"], path.parent, path, only)
    if not entries:
        raise UsageError(f"{path}: the manifest lists no models")
    _cross_check(entries, path, require_refutation, set(only) if only else None)
    # the generated hierarchy belongs to our specs; with --only, only when a chosen model uses it
    if path.resolve().parent == REPO_ROOT / "specs" and (
            only is None or any(e.name in only and _HIERARCHY_MODULE in e.spec_path.read_text(encoding="utf-8")
                                for e in entries)):
        _hierarchy_check()
    return entries
