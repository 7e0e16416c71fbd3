"""`python -m checks.specs`: run the TLA+ models of the manifest and compare with what it expects."""

from __future__ import annotations

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
from checks.specs.manifest import RunOptions, load_manifest
from checks.specs.report import RENDERERS, RunReport
from checks.specs.runner import run_models, select

DEFAULT_MANIFEST = REPO_ROOT / "specs" / "manifest.yaml"
DEFAULT_TIMEOUT = 600.0


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
    return p


def main(argv: list[str]) -> int:
    """Run the selected models; exit 0 when every one matches the manifest, 1 otherwise."""
    if argv[:1] == ["check-anchors"]:   # the models' code anchors against a tree: checks/specs/anchors.py
        from checks.specs import anchors
        return anchors.main(argv[1:])
    args = build_parser().parse_args(argv)
    settings = section(load_config(args.config, Path.cwd()), "specs")
    timeout = args.timeout or _setting(settings, "timeout", float, DEFAULT_TIMEOUT)
    jobs = args.jobs or _setting(settings, "jobs", int, os.cpu_count() or 1)
    entries = load_manifest(args.manifest)
    chosen = select(entries, args.tier, args.only, args.backend)
    opts = RunOptions(timeout=timeout, coverage=args.coverage, artifacts=args.artifacts.resolve(), trace=args.trace)
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
                       selection=f"only {', '.join(args.only)}" if args.only else f"tier {args.tier}",
                       seconds=seconds, tool=tool_block,
                       show_traces=args.trace, color=color,
                       # files and pipes get a width no model table wraps in; terminals their own
                       width=max(100, shutil.get_terminal_size().columns) if color else 220)
    cli.emit(RENDERERS[args.format](report), args.output)
    return cli.Exit.FINDINGS if report.mismatches else cli.Exit.CLEAN


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
