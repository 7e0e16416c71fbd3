"""`python -m checks.structural PATH...`: the structural analyzer (ST catalogue) over C++/ObjC++ sources.

Exit 1 when a check failed (an error-severity finding), 0 otherwise; 2 for bad input or options.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from checks import cli, inputs
from checks.config import load_config, section

FORMATS = ("text", "json", "sarif", "github")


def _args(argv: list[str]) -> argparse.Namespace:
    p = cli.parser("checks.structural", "Structural thread-safety checks (ST catalogue) for the MPS backend.",
                   formats=FORMATS)
    p.add_argument("paths", nargs="*", type=Path, help="files or folders (.h .hpp .cpp .cc .mm .m)")
    p.add_argument("--torch-headers", action="store_true",
                   help="analyse the installed torch wheel's MPS headers (root: torch/include)")
    p.add_argument("--context", action="append", default=[], type=Path, metavar="DIR",
                   help="analyse DIR too (repeatable), but report only the findings in PATHS or reaching them: "
                        "the cross-file rules see the whole tree (the pre-commit hook's staged files)")
    p.add_argument("--root", type=Path, help="report paths relative to DIR (default: common parent of the inputs)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="skip files whose relative path or name matches (repeatable)")
    p.add_argument("--rules", help="comma-separated check ids or prefixes, e.g. ST.001,ST.003.e")
    p.add_argument("--baseline", type=Path, help="drop findings whose fingerprint is in FILE")
    p.add_argument("--write-baseline", type=Path, metavar="FILE", help="write the findings' fingerprints to FILE")
    p.add_argument("--no-cache", action="store_true", help="parse everything again (ignore .mps-verify/cache)")
    p.add_argument("--jobs", "-j", type=int, help="parallel parser processes (default: the idle cores)")
    p.add_argument("--catalogue", type=Path, help="use another catalogue file (default: analyzers/catalogue.yaml)")
    inputs.add_options(p)
    return p.parse_args(argv)


def _targets(args: argparse.Namespace) -> tuple[list[Path], Path, list[Path]]:
    """(what to analyse, the root paths are reported from, the paths whose findings alone are reported:
    [] for all)."""
    from analyzers.discover import common_root
    from checks import sources

    if args.torch_headers:
        if args.paths or args.context:
            raise cli.UsageError("give paths or --torch-headers, not both")
        return sources.torch_mps_headers(), (args.root or sources.torch_include()).resolve(), []
    if not args.paths and not args.context:
        raise cli.UsageError("nothing to analyse: give files or folders, or --torch-headers")
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        raise cli.UsageError(f"no such file or directory: {missing[0]}")
    missing = [p for p in args.context if not p.is_dir()]
    if missing:
        raise cli.UsageError(f"--context {missing[0]}: not a directory")
    if args.root is not None and not args.root.is_dir():
        raise cli.UsageError(f"--root {args.root}: not a directory")
    analysed = [*args.context, *args.paths]
    return analysed, (args.root or common_root(analysed)).resolve(), list(args.paths) if args.context else []


def _setting_list(settings: dict, name: str) -> list[str]:
    value = settings.get(name, [])
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise cli.UsageError(f"config: structural.{name} must be a list of strings")
    return value


def main(argv: list[str]) -> int:
    """Analyse, report in the chosen format, exit 1 when any check failed."""
    args = _args(argv)
    if args.jobs is not None and args.jobs < 1:
        raise cli.UsageError("--jobs must be at least 1")
    paths, root, focus = _targets(args)
    settings = section(load_config(args.config, Path(paths[0])), "structural")
    exclude = (*_setting_list(settings, "exclude"), *args.exclude)
    rules = ([r.strip() for r in args.rules.split(",") if r.strip()] if args.rules
             else _setting_list(settings, "rules")) or None
    baseline = args.baseline or (Path(settings["baseline"]) if settings.get("baseline") else None)
    if baseline is not None and not baseline.exists():
        raise cli.UsageError(f"--baseline {baseline}: no such file")

    from analyzers import baseline as baseline_file
    from analyzers.engine import analyze, focused, with_baseline
    from analyzers.hierarchy import repository_settings
    from analyzers.reporters import render

    settings = {**settings, **repository_settings(root)}   # a fork's own lock_hierarchy.yaml, if any

    prints = baseline_file.load(baseline) if baseline is not None else None
    report = analyze(paths, root, rules=rules, exclude=exclude, jobs=args.jobs, cache=not args.no_cache,
                     catalogue=args.catalogue, settings=settings, limits=inputs.limits(args))
    inputs.require_files(report.files, ", ".join(map(str, paths)))
    if args.write_baseline is not None:     # every current finding, including those already baselined
        baseline_file.write(args.write_baseline, report.findings, report.tool)
    if prints is not None:
        report = with_baseline(report, prints, baseline)
    if focus:
        report = focused(report, focus)
    cli.emit(render(report, args.format), args.output)
    failed = any(report.status(c) == "failed" for c in report.checks) | inputs.incomplete(report.diagnostics)
    return int(cli.Exit.FINDINGS if failed else cli.Exit.CLEAN)


if __name__ == "__main__":
    raise SystemExit(cli.run(main, collect=False))
