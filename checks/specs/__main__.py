"""`python -m checks.specs`: run the TLA+ models of the manifest and compare with what it expects."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from checks import cli, provenance, tools
from checks.config import load_config, section
from checks.sources import REPO_ROOT
from checks.specs import tlc
from checks.specs.backends import BACKENDS
from checks.specs.examples import load_examples_manifest
from checks.specs.manifest import RunOptions, load_manifest
from checks.specs.modelopts import Simulation
from checks.specs.report import RENDERERS, RunReport
from checks.specs.runner import run_models, select

DEFAULT_MANIFEST = REPO_ROOT / "specs" / "manifest.yaml"
DEFAULT_TIMEOUT = 600.0
DEFAULT_DEPTH = 100         # TLC's own default for -simulate


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise cli.UsageError(f"not a number: {text}") from None
        if value <= 0:
            raise cli.UsageError(f"must be positive: {text}")
        return value
    return parse


def _setting(settings: dict, key: str, kind: type, default):
    """A positive number from the `specs` config section (command-line options win)."""
    try:
        return _positive(kind)(str(settings.get(key, default)))
    except cli.UsageError as exc:
        raise cli.UsageError(f"config specs.{key}: {exc}") from None


def build_parser():
    """The command line of `python -m checks.specs`."""
    p = cli.parser("python -m checks.specs", __doc__, formats=("text", "json", "junit"))
    p.add_argument("--tier", choices=["fast", "slow", "all"], default="fast", help="which models (default fast)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run just these models (any tier)")
    p.add_argument("--timeout", type=_positive(float), help=f"seconds per model (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--trace", action="store_true", help="also show counterexamples of expected violations")
    p.add_argument("--coverage", action="store_true", help="run TLC with -coverage; warn about dead actions")
    p.add_argument("--backend", choices=sorted(BACKENDS), default="tlc")
    p.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="default specs/manifest.yaml")
    p.add_argument("--jobs", type=_positive(int), help="models run at once (default: cores)")
    p.add_argument("--artifacts", type=Path, default=Path(".mps-verify/specs"),
                   help="where tlc.out and summary.json of each model go (default .mps-verify/specs)")
    big = p.add_argument_group("models too big for one run (TLC backend)")
    big.add_argument("--workers", type=_positive(int), help="TLC worker threads per model (-workers; default 1)")
    big.add_argument("--simulate", type=_positive(int), metavar="N",
                     help="random simulation of N behaviours instead of exhaustive search (never a pass)")
    big.add_argument("--depth", type=_positive(int), help=f"simulation depth (default {DEFAULT_DEPTH})")
    big.add_argument("--seed", type=int, help="simulation seed (default: TLC picks one)")
    big.add_argument("--distributed", type=_positive(int), metavar="K",
                     help="TLC's own TLCServer with K TLCWorker processes on 127.0.0.1 (one model at a time)")
    big.add_argument("--worker-commands", action="store_true",
                     help="print the TLCServer and TLCWorker commands for the hosts of the config's "
                          "specs.distributed (one model, --only NAME); runs nothing")
    big.add_argument("--checkpoint", type=_positive(int), metavar="MIN",
                     help="TLC checkpoints every MIN minutes into <artifacts>/<model>/states")
    big.add_argument("--recover", action="store_true", help="resume each model from its last checkpoint")
    big.add_argument("--library", type=Path, action="append", default=[], metavar="PATH",
                     help="a folder of .tla modules or a jar (e.g. CommunityModules) for every model; repeatable")
    big.add_argument("--full-values", action="store_true", help="print long trace values whole, not elided")
    return p


def load_entries(path: Path, only: list[str] | None):
    """Our manifest.yaml, or a tlaplus/Examples-style manifest.json."""
    if path.suffix == ".json":
        entries = load_examples_manifest(path)
        if only and (unknown := [n for n in only if n not in {e.name for e in entries}]):
            raise cli.UsageError(f"--only: no model named {unknown[0]} in the manifest")
        return entries
    return load_manifest(path, only)


def _with_library(entries: list, library: list[Path]) -> list:
    if not library:
        return entries
    paths = tuple(p.resolve() for p in library)
    return [dataclasses.replace(e, library=e.library + paths) for e in entries]


def _check_combination(args) -> None:
    if args.backend != "tlc" and (args.simulate or args.distributed or args.checkpoint or args.recover
                                  or args.workers):
        raise cli.UsageError("--workers/--simulate/--distributed/--checkpoint/--recover need --backend tlc")
    if args.distributed and (args.simulate or args.checkpoint or args.recover):
        raise cli.UsageError("--distributed runs exhaustive search only (no --simulate/--checkpoint/--recover)")
    if not args.simulate and (args.depth or args.seed is not None):
        raise cli.UsageError("--depth and --seed belong to --simulate N")
    if args.simulate and (args.checkpoint or args.recover):
        raise cli.UsageError("--simulate keeps no checkpoints")


def _selection(args) -> str:
    """What ran, for the report's title: the models and any mode that is not plain exhaustive search."""
    parts = [f"only {', '.join(args.only)}" if args.only else f"tier {args.tier}"]
    if args.simulate:
        parts.append(f"simulation: {args.simulate} behaviours up to depth {args.depth or DEFAULT_DEPTH}"
                     + (f", seed {args.seed}" if args.seed is not None else ""))
    if args.workers:
        parts.append(f"{args.workers} workers")
    if args.distributed:
        parts.append(f"distributed: {args.distributed} TLCWorkers on 127.0.0.1")
    if args.checkpoint or args.recover:
        parts.append("recovered from checkpoints" if args.recover else f"checkpoint every {args.checkpoint} min")
    return "; ".join(parts)


def main(argv: list[str]) -> int:
    """Run the selected models; exit 0 when every one matches the manifest, 1 otherwise."""
    if argv[:1] == ["check-anchors"]:   # the models' code anchors against a tree: checks/specs/anchors.py
        from checks.specs import anchors
        return anchors.main(argv[1:])
    args = build_parser().parse_args(argv)
    _check_combination(args)
    settings = section(load_config(args.config, Path.cwd()), "specs")
    timeout = args.timeout or _setting(settings, "timeout", float, DEFAULT_TIMEOUT)
    jobs = args.jobs or _setting(settings, "jobs", int, os.cpu_count() or 1)
    entries = _with_library(load_entries(args.manifest, args.only), args.library)
    chosen = select(entries, args.tier, args.only, args.backend)
    simulate = (Simulation(num=args.simulate, depth=args.depth or DEFAULT_DEPTH, seed=args.seed)
                if args.simulate else None)
    opts = RunOptions(timeout=timeout, coverage=args.coverage, artifacts=args.artifacts.resolve(), trace=args.trace,
                      workers=args.workers, simulate=simulate, distributed=args.distributed,
                      checkpoint=args.checkpoint, recover=args.recover, full_values=args.full_values)
    if args.worker_commands:
        if len(chosen) != 1:
            raise cli.UsageError("--worker-commands needs exactly one model (--only NAME)")
        from checks.specs import distributed
        cli.emit("\n".join(distributed.plan(chosen[0], settings.get("distributed"))) + "\n", args.output)
        return cli.Exit.CLEAN
    if args.backend == "tlc":
        tlc.check_features(chosen)
    if args.recover:
        for entry in chosen:
            if tlc.latest_checkpoint(tlc.checkpoint_dir(entry, opts)) is None:
                raise cli.UsageError(f"--recover: no checkpoint of model {entry.name} under "
                                     f"{tlc.checkpoint_dir(entry, opts)} (run it with --checkpoint MIN first)")
    if args.distributed:
        jobs = 1        # each distributed run uses all its workers (and one port): one model at a time
    external = ("java",)
    start = time.perf_counter()
    # the tool block probes java and the jar (JVM starts): do it while the models run, not after
    with ThreadPoolExecutor(max_workers=1) as side:
        tool = side.submit(provenance.tool_info, args.manifest.resolve().parent, external)
        results = run_models(chosen, args.backend, opts, jobs)
        seconds = time.perf_counter() - start
        missing = next((r.outcome for r in results if r.outcome.kind == "tool-missing"), None)
        if missing is not None:
            raise cli.ToolMissing(missing.detail)
        tool_block = tool.result()
    if args.backend == "tlc":
        outputs = [opts.artifacts / r.entry.name / "tlc.out" for r in results]
        tool_block["tlc"] = tlc.reported_version(outputs) or tools.tlc_version()
    color = args.output is None and sys.stdout.isatty()
    report = RunReport(results=results, manifest=args.manifest, backend=args.backend,
                       selection=_selection(args),
                       seconds=seconds, tool=tool_block,
                       show_traces=args.trace, color=color, full_values=args.full_values,
                       # files and pipes get a width no model table wraps in; terminals their own
                       width=max(100, shutil.get_terminal_size().columns) if color else 220)
    cli.emit(RENDERERS[args.format](report), args.output)
    return cli.Exit.FINDINGS if report.mismatches else cli.Exit.CLEAN


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
