"""Run a plan: rounds per configuration (optionally sequential), a soak, throughput measurements;
everything into the results database, then the model cross-check."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from checks.cli import ToolMissing, UsageError
from runtime_tests import backend, configs, crosscheck, db, images, stats, workloads
from runtime_tests.rounds import RoundResult, spawn


@dataclass
class Options:
    """What `python -m runtime_tests run` was asked to do."""

    plan: str = "quick"
    device: str = "auto"
    db_path: Path = db.DEFAULT_DB
    configs_path: Path | None = None
    only: tuple[str, ...] = ()
    rounds: int | None = None
    jobs: int | None = None
    sequential: bool = False
    soak_s: float | None = None
    perf: bool = True
    timeout_s: float | None = None
    manifest: Path = crosscheck.MANIFEST
    workloads: tuple[str, ...] = ()  # users' factories (pkg.module:function) replacing the plan's workloads
    repeat: int = 1  # measuring processes per performance setting, interleaved
    rounds_section: bool = True  # False: performance only (--no-rounds)
    append: int | None = None  # record into this existing run instead of a new one
    trace_limit: int | None = 5_000  # events of each batcher log checked in TLC (a soak's log is longer)


@dataclass
class Summary:
    """What a run found: counts per configuration, failed rounds, cross-checks, skipped configurations."""

    run_id: int
    device: str
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # config -> (failures, rounds)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (config, workload, outcome)
    checks: list[crosscheck.CrossCheck] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 when a round failed or a model was contradicted, else 0."""
        return int(bool(self.failed) or any(c.verdict == "contradiction" for c in self.checks))


def environment(device: str) -> dict[str, Any]:
    """The environment fingerprint stored with the run: git hash, torch, OS, device, CPUs."""
    from checks.provenance import tool_info

    return {"tool": tool_info(external=("torch",)), "os": platform.platform(),
            "device": device, "device_name": backend.backend(device).name, "versions": backend.versions(device),
            "cpus": os.cpu_count(), "python_executable": sys.executable}


def _progress():
    """A rich progress bar on stderr, silent when stderr is not a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, disable=not console.is_terminal)


def _plan(matrix: configs.Matrix, opts: Options) -> dict[str, Any]:
    if opts.plan not in matrix.plans:
        raise UsageError(f"{matrix.source}: no plan {opts.plan!r} (have: {', '.join(matrix.plans) or 'none'})")
    plan = dict(matrix.plans[opts.plan])
    for key, value in (("rounds", opts.rounds), ("jobs", opts.jobs), ("soak_s", opts.soak_s),
                       ("timeout_s", opts.timeout_s)):
        if value is not None:
            plan[key] = value
    return plan


def _selected(matrix: configs.Matrix, only: tuple[str, ...]) -> list[configs.Configuration]:
    names = {c.name for c in matrix.configurations}
    unknown = [n for n in only if n not in names]
    if unknown:
        raise UsageError(f"unknown configuration {', '.join(unknown)} (have: {', '.join(sorted(names))})")
    return [c for c in matrix.configurations if not only or c.name in only]


def _spec(config: configs.Configuration, plan: dict[str, Any], device: str, workload: str) -> dict[str, Any]:
    return {"mode": "round", "workload": workload, "size": plan.get("size", "quick"), "device": device,
            "threads": plan.get("threads", 4), "iterations": plan.get("iterations", 20),
            "python_lock": config.python_lock, "batched": config.batched, "fault": config.fault,
            "factories": plan.get("factories", {})}


def _factories(matrix: configs.Matrix, refs: tuple[str, ...]) -> dict[str, workloads.FactoryRef]:
    """Users' workloads from the configs YAML and --workload, imported and tried once on the CPU; a bad
    factory is a UsageError (one line, exit 2)."""
    wanted = [(name, ref) for name, ref in matrix.workloads.items()] + [(None, ref) for ref in refs]
    found: dict[str, workloads.FactoryRef] = {}
    for name, ref in wanted:
        try:
            resolved = workloads.factory_ref(ref, name)
            if resolved.name in found or resolved.name in workloads.NAMES:
                raise workloads.FactoryError(f"workload name {resolved.name} ({ref}) is taken; "
                                             "name it in the configs YAML's workloads section")
            workloads.check_factory(resolved)
        except workloads.FactoryError as exc:
            raise UsageError(str(exc)) from None
        found[resolved.name] = resolved
    return found


def _with_users(plan: dict[str, Any], factories: dict[str, workloads.FactoryRef], cli: tuple[str, ...]) -> dict[str, Any]:
    """The plan with the users' factories attached; --workload ones replace the plan's workloads in the
    rounds and in every measurement (users' models have no hidden width to sweep)."""
    plan = {**plan, "factories": {n: {"ref": f.ref, "root": f.root} for n, f in factories.items()}}
    chosen = [n for n, f in factories.items() if f.ref in cli]
    if chosen:
        perf = dict(plan.get("perf") or {})
        for key in ("workloads", "batch_workloads", "batcher_workloads"):
            if key in perf:
                perf[key] = chosen
        perf.pop("batcher_widths", None)
        plan.update(workloads=chosen, perf=perf)
    return plan


def _traced(spec: dict[str, Any], config: configs.Configuration, folder: Path, name: str) -> dict[str, Any]:
    """The spec with an event-log path when the configuration runs the batcher (trace validation)."""
    return {**spec, "trace_log": str(folder / f"{name}.jsonl.gz")} if config.batched else spec


def validate_traces(conn, run_id: int, logs: list[tuple[str, Path]], limit: int | None) -> None:
    """Check each batcher event log against BatchQueue.tla in TLC and record the verdicts (or why not)."""
    from runtime_tests import tracecheck

    java = tracecheck.java_available()
    for source, path in logs:
        if not path.is_file():
            continue  # the round died before writing it: its outcome says so
        try:
            log = tracecheck.read_log(path, limit)
        except UsageError as exc:  # e.g. cut short by a kill: this log's problem, not the run's
            db.add_trace_validation(conn, run_id, source, 0, "not validated", None, None, f"{path.name}: {exc}")
            continue
        if not java:
            db.add_trace_validation(conn, run_id, source, len(log.events), "not validated", None, None,
                                    f"{path.name}: Java or TLC missing where it ran; later: python -m runtime_tests "
                                    f"validate-trace {path.name} --db DB --run {run_id}")
            continue
        try:
            v = tracecheck.validate(log)
        except (UsageError, ToolMissing) as exc:
            db.add_trace_validation(conn, run_id, source, len(log.events), "not validated", None, None,
                                    f"{path.name}: {exc}")
            continue
        db.add_trace_validation(conn, run_id, source, v.events, v.verdict, v.first_unexplained, v.seconds,
                                f"{path.name}: " + ("whole log" if log.total == v.events
                                                    else f"first {v.events:,} of {log.total:,} events"))


def _launch(config: configs.Configuration, spec: dict[str, Any], timeout: float, base: Path) -> RoundResult:
    preload = images.resolve_library(config.preload, base) if config.preload else None
    return spawn(spec, env=config.env, preload=preload, timeout_s=timeout)


def config_rounds(launch: Callable[[dict], RoundResult], specs: list[dict], pool: ThreadPoolExecutor, jobs: int,
                  sequential: bool, on_result: Callable[[dict, RoundResult, str | None], None]) -> list[bool]:
    """Run one configuration's rounds `jobs` at a time, in order; with `sequential`, stop as soon as the
    SPRT decides. Returns the failure flags of the rounds run (every attempt counts, no retries)."""
    flags: list[bool] = []
    for start in range(0, len(specs), jobs):
        chunk = specs[start:start + jobs]
        decision = None
        for spec, result in zip(chunk, pool.map(launch, chunk)):
            flags.append(result.failed)
            decision = stats.sprt(flags)[0] if sequential else None
            on_result(spec, result, decision)
        if sequential and decision != "continue":
            break
    return flags


def _soak_rows(config: str, result: RoundResult) -> list[dict[str, Any]]:
    """Measurement rows of a soak round: ops, errors (exceptions + mismatches), ops/s, seconds."""
    doc = result.doc
    values = {"ops": doc.get("ops") or 0, "errors": len(doc.get("errors", [])) + (doc.get("mismatches") or 0),
              "ops_per_s": doc.get("ops_per_s") or 0, "seconds": doc.get("elapsed_s") or result.duration_s}
    return [{"kind": "soak", "param": config, "rep": -1, "metric": m, "value": v} for m, v in values.items()]


def _perf_jobs(perf: dict[str, Any]) -> dict[str, tuple[str, list[str], int | None]]:
    """{label: (workload, [measurement kinds], width)}: one measuring child per workload at its size
    class, plus one batcher child per width listed in `batcher_widths` (label 'linear@32768')."""
    jobs: dict[str, tuple[str, list[str], int | None]] = {}
    widths = perf.get("batcher_widths") or {}
    for kind, key in (("scaling", "workloads"), ("batching", "batch_workloads"), ("batcher", "batcher_workloads")):
        for workload in perf.get(key, []):
            if kind == "batcher" and widths.get(workload):
                for width in widths[workload]:
                    jobs[f"{workload}@{width}"] = (workload, ["batcher"], int(width))
            else:
                jobs.setdefault(workload, (workload, [], None))[1].append(kind)
    return jobs


def _perf_seconds(perf: dict[str, Any]) -> float:
    """An upper estimate of one measurement child's work: settings x (repetitions + warm-up) x seconds."""
    settings = max(len(perf.get("threads", [])), len(perf.get("batches", [])), 4)   # 4 batcher modes
    return settings * (int(perf.get("reps", 5)) + 1) * float(perf.get("seconds", 0.5)) * 2


def run(opts: Options) -> Summary:
    """Execute the plan and record everything; returns the summary (the report is written separately)."""
    matrix = configs.load(opts.configs_path)
    plan = _plan(matrix, opts)
    selected = _selected(matrix, opts.only)
    try:
        device = backend.resolve(opts.device)
    except ImportError as exc:
        raise ToolMissing("torch is not installed; `pip install torch` (or `make setup`, which installs the "
                          "runtime extra)") from exc
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    plan = _with_users(plan, _factories(matrix, opts.workloads), opts.workloads)
    active = [c for c in selected if not c.preload_unset]
    skipped = [f"{c.name} (${{{c.preload_unset}}} unset)" for c in selected if c.preload_unset]
    conn = db.connect(opts.db_path)
    first_proc = 0
    if opts.append is not None:
        run_id = opts.append
        row = conn.execute("SELECT environment FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise UsageError(f"{opts.db_path}: no run {run_id} to append to")
        first_proc = db.next_proc(conn, run_id)
        env = json.loads(row[0])
        db.extend_run(conn, run_id, {"repeat": first_proc + opts.repeat, "appended": [
            *env.get("appended", []), {"started": time.time(), "processes": opts.repeat,
                                       "device_name": backend.backend(device).name}]})
    else:
        run_id = db.start_run(conn, opts.plan, device, {
            **environment(device), "settings": plan, "repeat": opts.repeat,
            "sequential": opts.sequential, "skipped": skipped,
            "configurations": {c.name: c.description for c in active}})
    summary = Summary(run_id, device, skipped=skipped)
    if not opts.rounds_section:
        active = []
    perf = plan.get("perf") or {}
    perf_jobs = _perf_jobs(perf) if opts.perf else {}
    soak = float(plan.get("soak_s") or 0)
    timeout = float(plan.get("timeout_s", 120))
    jobs = max(1, int(plan.get("jobs", 1)))
    rounds_per = int(plan.get("rounds", 3))
    workloads_ = plan["workloads"]
    base = matrix.source.parent
    verdicts = crosscheck.load_verdicts(opts.manifest)

    def record(name: str, workload: str, spec: dict, result: RoundResult, decision: str | None = None) -> None:
        db.add_round(conn, run_id, name, workload, spec.get("threads", 1), spec.get("iterations"), result, decision)
        if result.failed:
            summary.failed.append((name, workload, result.outcome))

    traces = opts.db_path.parent / "traces"
    logs: list[tuple[str, Path]] = []
    with _progress() as progress, \
            ThreadPoolExecutor(max_workers=jobs) as pool:
        # the soak: the first configuration, and the batcher with its event log on
        soaked = [active[0]] + [c for c in active[1:] if c.batched][:1] if soak > 0 and active else []
        task = progress.add_task("rounds", total=len(active) * rounds_per + len(soaked)
                                 + len(perf_jobs) * opts.repeat)
        for config in active:
            progress.update(task, description=f"rounds: {config.name}")
            specs = [_traced(_spec(config, plan, device, workloads_[i % len(workloads_)]), config, traces,
                             f"run{run_id}-{config.name}-{i + 1}") for i in range(rounds_per)]
            logs += [(f"{config.name} round {i + 1}", Path(s["trace_log"])) for i, s in enumerate(specs) if "trace_log" in s]

            def on_result(spec: dict, result: RoundResult, decision: str | None, name: str = config.name) -> None:
                record(name, spec["workload"], spec, result, decision)
                progress.advance(task)

            flags = config_rounds(lambda s, c=config: _launch(c, s, timeout, base), specs, pool, jobs,
                                  opts.sequential, on_result)
            progress.advance(task, rounds_per - len(flags))
            summary.counts[config.name] = (sum(flags), len(flags))
        for config in soaked:
            progress.update(task, description=f"soak {soak:g} s: {config.name}")
            spec = _traced({**_spec(config, plan, device, workloads_[0]), "duration_s": soak}, config, traces,
                           f"run{run_id}-{config.name}-soak")
            result = _launch(config, spec, soak + timeout, base)
            record("soak", spec["workload"], spec, result)
            db.add_measurements(conn, run_id, spec["workload"], _soak_rows(config.name, result))
            if "trace_log" in spec:
                logs.append((f"{config.name} soak", Path(spec["trace_log"])))
            progress.advance(task)
        # --repeat K: K separate measuring processes per setting, interleaved (all settings once, then
        # again), so that drift over the run and process-to-process differences show as between-run spread
        for proc in range(first_proc, first_proc + opts.repeat):
            for label, (workload, kinds, width) in perf_jobs.items():
                progress.update(task, description=f"{', '.join(kinds)}: {label} (process {proc + 1})")
                spec = {"mode": "perf", "kinds": kinds, "workload": workload, "size": plan.get("size", "quick"),
                        "device": device, "perf": perf, "width": width, "factories": plan.get("factories", {})}
                result = spawn(spec, timeout_s=timeout + _perf_seconds(perf) * len(kinds))
                record("perf", label, spec, result)
                db.add_measurements(conn, run_id, label, result.doc.get("measurements", []), proc=proc)
                progress.advance(task)
    validate_traces(conn, run_id, logs, opts.trace_limit)
    for config in active:
        k, n = summary.counts[config.name]
        check = crosscheck.check(config.name, config.model, k, n, device, verdicts)
        summary.checks.append(check)
        db.add_crosscheck(conn, run_id, check)
    if opts.append is None:  # an appended section leaves the run's own duration as it was
        db.finish_run(conn, run_id)
    conn.close()
    return summary
