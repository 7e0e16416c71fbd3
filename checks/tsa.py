"""`python -m checks.tsa`: inventory of Clang thread-safety annotations (default) or clang's own pass (--clang).

Inventory: `python -m checks.tsa PATH... | --torch-headers [--baseline F | --min-counts F] [--write-baseline F]`
  text | json | markdown; exit 1 when a gate finds a regression.
Clang pass: `python -m checks.tsa --clang [FILE...] [--compile-commands F] [--clang-arg=-I...] [--beta]`
  text | json | sarif | github; exit 1 on thread-safety warnings, 2 when a unit does not compile.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from analyzers import clang_tsa, tsa
from analyzers.discover import common_root
from analyzers.findings import Report
from analyzers.reporters import render
from checks import cli, inputs, provenance, sources, tools
from checks.config import load_config, read_text, read_yaml, section, str_list

INVENTORY_FORMATS = ("text", "json", "markdown")
INVENTORY_ONLY = ("--torch-headers", "--prefix", "--exclude", "--min-counts", "--baseline", "--write-baseline",
                  "--no-cache")
CLANG_ONLY = ("--compile-commands", "--clang-arg", "--beta")
CLANG_FORMATS = ("text", "json", "sarif", "github")


def build_parser() -> argparse.ArgumentParser:
    """The command line of both modes."""
    p = cli.parser("mps-verify tsa", "Inventory of Clang thread-safety annotations, or clang's -Wthread-safety pass.",
                   formats=("text", "json", "markdown", "sarif", "github"))
    p.add_argument("paths", nargs="*", type=Path, help="files or folders (with --clang: translation units)")
    p.add_argument("--root", type=Path, help="report paths relative to DIR (default: common parent of the inputs)")
    inv = p.add_argument_group("inventory")
    inv.add_argument("--torch-headers", action="store_true", help="analyse the installed torch wheel's MPS headers")
    inv.add_argument("--prefix", action="append", default=[], help="extra macro prefix, e.g. MYPROJ_ (repeatable)")
    inv.add_argument("--exclude", action="append", default=[], help="glob of files to skip (repeatable)")
    inv.add_argument("--min-counts", type=Path, help="YAML of per-file minimum counts per kind and coverage")
    inv.add_argument("--baseline", type=Path, help="a previous JSON inventory; fail on any regression from it")
    inv.add_argument("--write-baseline", type=Path, help="write this run's JSON inventory to FILE")
    cl = p.add_argument_group("clang pass")
    cl.add_argument("--clang", action="store_true", help="run clang++ -Wthread-safety instead of the inventory")
    cl.add_argument("--compile-commands", type=Path, help="compile_commands.json with the translation units")
    cl.add_argument("--clang-arg", action="append", default=[],
                    help="extra clang flag, written --clang-arg=-Iinclude (repeatable)")
    cl.add_argument("--beta", action="store_true", help="also -Wthread-safety-beta")
    p.add_argument("--jobs", "-j", type=int, help="parallel processes (default: the idle cores)")
    inv.add_argument("--no-cache", action="store_true", help="neither read nor write the analysis cache")
    inputs.add_options(inv)
    return p


# ---- inventory ------------------------------------------------------------------------------------

def _load_baseline(path: Path) -> tsa.Inventory:
    try:
        return tsa.Inventory.from_json(json.loads(read_text(path, "baseline")))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise cli.UsageError(f"{path}: not a TSA inventory written by --write-baseline ({exc})") from exc


def _facts(paths: list[Path], root: Path, exclude: list[str], jobs: int | None, limits, prefixes: tuple[str, ...],
           cache: bool = True) -> tuple[list[tsa.FileFacts], list]:
    """Each file's inventory facts (cached per file) and the files' diagnostics."""
    skipped: list = []
    facts, diagnostics, files = tsa.collect(paths, root, prefixes, tuple(exclude), jobs, cache, limits, skipped)
    for note in skipped:
        print(f"note: {note.path}: {note.message}", file=sys.stderr)
    inputs.require_files(files, ", ".join(map(str, paths)))
    return facts, diagnostics


def run_inventory(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    """The inventory, its gates, and the report."""
    if args.format not in INVENTORY_FORMATS:
        raise cli.UsageError(f"--format {args.format} is for --clang; the inventory writes {', '.join(INVENTORY_FORMATS)}")
    if args.torch_headers:
        if args.paths:
            raise cli.UsageError("give paths or --torch-headers, not both")
        paths, root = sources.torch_mps_headers(), sources.torch_include()
    else:
        if not args.paths:
            raise cli.UsageError("nothing to analyse: give files or folders, or --torch-headers")
        paths = args.paths
        root = (args.root or common_root(paths)).resolve()
    prefixes = (*tsa.DEFAULT_PREFIXES, *settings.get("prefixes", []), *args.prefix)
    # git answers while the analysis runs; the wheel is no checkout (inside .venv, git would name the
    # enclosing repository): no target_git
    tool = provenance.started_tool_info(None if args.torch_headers else root,
                                        external=("torch",) if args.torch_headers else ())
    facts, diagnostics = _facts(paths, root, [*str_list(settings.get("exclude")), *args.exclude], args.jobs,
                                inputs.limits(args), prefixes, not args.no_cache)
    inv = tsa.inventory_of(facts)
    failed = inputs.incomplete(diagnostics)

    regressions: list[str] | None = None
    against = ""
    baseline = args.baseline or settings.get("baseline")
    min_counts = args.min_counts or settings.get("min_counts")
    if baseline:
        regressions = tsa.compare(_load_baseline(Path(baseline)), inv)
        against = f"baseline {baseline}"
    if min_counts:
        try:
            minimums = tsa.validate_minimums(read_yaml(Path(min_counts), "min-counts") or {}, str(min_counts))
        except ValueError as exc:
            raise cli.UsageError(str(exc)) from exc
        regressions = (regressions or []) + tsa.check_minimums(inv, minimums)
        against = " and ".join(filter(None, [against, f"minimums {min_counts}"]))

    doc = {"tool": tool(), "root": str(root), "prefixes": list(dict.fromkeys(prefixes)), **inv.to_json()}
    if regressions is not None:
        doc["regressions"] = regressions
    if args.write_baseline:
        cli.emit(cli.dump_json(doc), args.write_baseline)
    renderers = {"text": lambda: _tables().text(inv, regressions, against),
                 "markdown": lambda: _tables().markdown(inv, regressions, against),
                 "json": lambda: cli.dump_json(doc)}
    cli.emit(renderers[args.format](), args.output)
    return cli.Exit.FINDINGS if regressions or failed else cli.Exit.CLEAN


def _tables():
    """analyzers.tsa_render, imported for the text and Markdown outputs only (it imports rich: ~20 ms of a
    run that finds everything cached)."""
    from analyzers import tsa_render
    return tsa_render


# ---- clang pass -----------------------------------------------------------------------------------

def _units(args: argparse.Namespace, clang_args: list[str]) -> list[clang_tsa.Unit]:
    if args.compile_commands:
        units = clang_tsa.load_compile_commands(args.compile_commands)
        if args.paths:
            wanted = {p.resolve() for p in args.paths}
            units = [u for u in units if u.file in wanted]
            if not units:
                raise cli.UsageError(f"none of the given files is in {args.compile_commands}")
        return [clang_tsa.Unit(u.file, u.directory, (*u.args, *clang_args)) for u in units]
    if not args.paths:
        raise cli.UsageError("nothing to analyse: give translation units or --compile-commands FILE")
    return clang_tsa.units_for_files(args.paths, clang_args)


def run_clang(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    """clang++ -Wthread-safety over the units; findings through analyzers.reporters."""
    if args.format not in CLANG_FORMATS:
        raise cli.UsageError(f"--format {args.format} is for the inventory; --clang writes {', '.join(CLANG_FORMATS)}")
    units = _units(args, [*settings.get("clang_args", []), *args.clang_arg])
    clang = tools.clangxx()
    if args.root:
        root = args.root.resolve()
    elif args.compile_commands:
        root = args.compile_commands.resolve().parent
    else:
        root = common_root([u.file for u in units])
    result = clang_tsa.analyse(units, clang, root, beta=args.beta or bool(settings.get("beta")), jobs=args.jobs)
    report = Report(tool=provenance.tool_info(root, external=("clang",)), root=str(root),
                    checks=clang_tsa.checks_for(units), findings=result.findings, diagnostics=result.diagnostics,
                    files=result.units)
    out = render(report, args.format)
    if args.format == "text":
        plural = "" if result.units == 1 else "s"
        out += (f"clang thread-safety pass: {result.units} translation unit{plural}, {len(result.findings)} findings "
                f"({tools.clang_version() or clang})\n")
    cli.emit(out, args.output)
    if result.diagnostics:
        first = result.diagnostics[0]
        raise cli.UsageError(f"clang could not compile {len(result.failed)} of {result.units} translation units "
                             f"(first: {first.path}:{first.line}: {first.message})")
    return cli.Exit.FINDINGS if result.findings else cli.Exit.CLEAN


SETTINGS = {"prefixes": list, "exclude": list, "clang_args": list, "baseline": str, "min_counts": str,
            "beta": bool}


def check_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The `tsa` config section, with its keys and value types checked (one-line error otherwise)."""
    for key, value in settings.items():
        if key not in SETTINGS:
            continue      # checks.config.validate has warned about it, naming the key
        want = SETTINGS[key]
        if not isinstance(value, want) or (want is list and not all(isinstance(v, str) for v in value)):
            kind = "a list of strings" if want is list else want.__name__
            raise cli.UsageError(f"config: [tsa] {key} must be {kind}")
    return settings


def main(argv: list[str]) -> int:
    """Entry point: the inventory, or the clang pass with --clang."""
    args = build_parser().parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        raise cli.UsageError("--jobs must be at least 1")
    wrong = CLANG_ONLY if not args.clang else INVENTORY_ONLY
    given = [opt for opt in wrong if getattr(args, opt.lstrip("-").replace("-", "_"))]
    if given:
        raise cli.UsageError(f"{given[0]} is {'only for --clang' if not args.clang else 'for the inventory, not --clang'}")
    start = args.paths[0] if args.paths else Path.cwd()
    settings = check_settings(section(load_config(args.config, start), "tsa"))
    return run_clang(args, settings) if args.clang else run_inventory(args, settings)


if __name__ == "__main__":
    raise SystemExit(cli.run(main, collect=False))
