"""The structural analyzer's pipeline: discover -> parse (cached, parallel) -> rules -> suppressions -> baseline.

`load_models` is what the TSA inventory, the lock graph and the gate call; `analyze` is the whole run
behind `python -m checks.structural`.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Callable

from analyzers import baseline as baseline_file
from analyzers import suppress
from analyzers.cache import ParseCache, key
from analyzers.catalogue import Entry, load_catalogue, select
from analyzers.discover import discover
from analyzers.findings import Finding, Report
from analyzers.hierarchy import DEFAULT_PATH as DEFAULT_HIERARCHY
from analyzers.model import FileModel
from analyzers.rules import RuleContext, load_rules, rules_version

PARALLEL_MIN_FILES = 12   # below this a process pool costs more than it saves


@contextmanager
def paused_gc():
    """Pause the cyclic GC: building or unpickling ~10^5 small objects otherwise triggers collections
    that scan the whole growing heap (measured: parse 2.0 s -> 0.9 s CPU, cache load 0.58 -> 0.22 s)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse_job(job: tuple[str, str, str, bool]) -> FileModel:
    """Worker: parse one file and store it in the cache."""
    path, rel, k, use_cache = job
    model = parse_file(Path(path), rel)
    ParseCache(enabled=use_cache).put(k, model)
    return model


def parse_file(path: Path, rel: str) -> FileModel:
    """analyzers.parse.parse_file, imported on first use (a fully cached run never needs the parser)."""
    from analyzers.parse import parse_file as parse
    return parse(path, rel)


def _jobs(requested: int | None, work: int) -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    jobs = requested if requested is not None else cpus
    return max(1, min(jobs, work // 4 or 1))


def file_keys(files: list[tuple[Path, str]]) -> list[str]:
    """Cache key of each file ('' when it cannot be read)."""
    keys = []
    for path, rel in files:
        try:
            keys.append(key(path.read_bytes(), rel))
        except OSError:
            keys.append("")
    return keys


def parse_all(files: list[tuple[Path, str]], jobs: int | None = None, cache: bool = True,
              keys: list[str] | None = None, meanwhile: Callable[[], object] | None = None) -> list[FileModel]:
    """Models of `files` (path, rel) in order: cache hits first, misses parsed (in parallel when many).

    `meanwhile` runs in this process while the workers parse (the engine imports the rules then).
    """
    store = ParseCache(enabled=cache)
    keys = file_keys(files) if keys is None else keys
    models: list[FileModel | None] = [None] * len(files)
    misses: list[tuple[int, tuple[str, str, str, bool]]] = []
    for n, ((path, rel), k) in enumerate(zip(files, keys)):
        if not k:
            models[n] = parse_file(path, rel)      # unreadable: records an `io` diagnostic
            continue
        hit = store.get(k)
        if isinstance(hit, FileModel):
            models[n] = hit
            continue
        misses.append((n, (str(path), rel, k, cache)))
    workers = _jobs(jobs, len(misses))
    if workers > 1 and len(misses) >= PARALLEL_MIN_FILES:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from analyzers.lexer import scanner
        scanner()    # compile once before forking: workers inherit it
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        # biggest files first so the pool's tail is short
        order = sorted(misses, key=lambda m: -os.path.getsize(m[1][0]))
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            results = pool.map(_parse_job, [job for _, job in order], chunksize=2)
            if meanwhile is not None:
                meanwhile()
            for (n, _), model in zip(order, results):
                models[n] = model
    else:
        for n, job in misses:
            models[n] = _parse_job(job)
        if meanwhile is not None:
            meanwhile()
    return [m for m in models if m is not None]


def load_models(paths: list[Path], root: Path, exclude: tuple[str, ...] = (), jobs: int | None = None,
                cache: bool = True) -> list[FileModel]:
    """Parse every C++/ObjC++ file under `paths` (paths in the models relative to `root`)."""
    with paused_gc():
        return parse_all(discover([Path(p) for p in paths], Path(root), tuple(exclude)), jobs, cache)


def run_rules(models: list[FileModel], entries: list[Entry], root: Path,
              settings: dict | None = None) -> list[Finding]:
    """Findings of the rule families that have a selected check, limited to the selected checks."""
    ctx = RuleContext({e.check.id: e.check for e in entries}, root, settings or {})
    families = {e.family for e in entries}
    selected = [e.check.id for e in entries]
    findings: list[Finding] = []
    for family, rule in load_rules().items():
        if family not in families:
            continue
        if rule.kind == "file":
            for model in models:
                findings.extend(rule.check(model, ctx))
        else:
            findings.extend(rule.check(models, ctx))
    return [f for f in findings if any(f.rule == c or f.rule.startswith(c + ".") for c in selected)]


def analyze(paths: list[Path], root: Path, rules: list[str] | None = None, exclude: tuple[str, ...] = (),
            jobs: int | None = None, cache: bool = True, baseline: Path | None = None,
            catalogue: Path | None = None, settings: dict | None = None) -> Report:
    """The whole structural run over `paths` -> Report (findings after suppressions and baseline)."""
    from checks.provenance import tool_info

    root = Path(root).resolve()
    entries = select(load_catalogue(catalogue) if catalogue else load_catalogue(), rules)
    prints = baseline_file.load(baseline) if baseline else None
    files = discover([Path(p) for p in paths], root, tuple(exclude))
    keys = file_keys(files)
    store = ParseCache(enabled=cache)
    run_key = _run_key(keys, entries, settings)
    hit = store.get(run_key)
    if isinstance(hit, dict) and {"findings", "diagnostics", "files"} <= set(hit):
        findings, diagnostics, nfiles = list(hit["findings"]), hit["diagnostics"], hit["files"]
    else:
        with paused_gc():
            models = parse_all(files, jobs, cache, keys, meanwhile=load_rules)
            findings = run_rules(models, entries, root, settings)
            ctx = RuleContext({e.check.id: e.check for e in entries}, root, settings or {})
            findings = suppress.apply(findings, models, ctx, {e.check.id for e in entries})
        diagnostics = [d for m in models for d in m.diagnostics]
        nfiles = len(models)
        if all(keys):
            store.put(run_key, {"findings": findings, "diagnostics": diagnostics, "files": nfiles})
    findings.sort(key=lambda f: (f.path, f.line, f.col, f.rule))
    report = Report(tool=tool_info(root), root=str(root), checks=[e.check for e in entries], findings=findings,
                    diagnostics=diagnostics, files=nfiles)
    return report if prints is None else with_baseline(report, prints, baseline)


def with_baseline(report: Report, prints: set[str], path: Path | None = None) -> Report:
    """The report without the findings whose fingerprints are in a baseline (and a `baseline` block)."""
    findings, dropped = baseline_file.apply(report.findings, prints)
    block = {"path": str(path) if path else "", "fingerprints": len(prints), "suppressed": dropped}
    return replace(report, findings=findings, extra={**report.extra, "baseline": block})


@lru_cache(maxsize=1)
def analyzer_version() -> str:
    """Hash of everything a run's findings depend on besides the inputs: all analyzer modules
    (rules, queries, lock graph, parser), the catalogue and the declared lock hierarchy."""
    digest = hashlib.sha256(rules_version().encode())
    here = Path(__file__).resolve().parent
    for path in sorted([*here.rglob("*.py"), *here.glob("*.yaml"), *here.glob("*.lark"), DEFAULT_HIERARCHY]):
        try:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        except OSError:
            digest.update(path.name.encode() + b"\0missing")
    return digest.hexdigest()[:16]


def _run_key(keys: list[str], entries: list[Entry], settings: dict | None) -> str:
    """Key of a whole run's findings: every file's key, the rules' sources, the selected checks."""
    digest = hashlib.sha256(analyzer_version().encode())
    digest.update(json.dumps([[e.check.id, e.check.severity] for e in entries]).encode())
    digest.update(json.dumps(settings or {}, sort_keys=True, default=str).encode())
    for k in keys:
        digest.update(k.encode() + b"\n")
    return "run-" + digest.hexdigest()
