"""`python -m checks.lockgraph PATH...`: the lock-order graph of MPS sources, its cycles and hierarchy violations."""

from __future__ import annotations

import os
from pathlib import Path

from analyzers.discover import InputLimits
from analyzers.findings import Report
from analyzers.hierarchy import DEFAULT_PATH, REPO_FILE, find_hierarchy, load_hierarchy
from analyzers.catalogue import load_catalogue
from analyzers.lockgraph import DEFAULT_DEPTH, LockGraph, findings, graph_from
from analyzers.lockgraph_render import RENDERERS, as_dict, png
from analyzers.reporters import render
from checks import cli, inputs
from checks.config import load_config, section
from checks.provenance import started_tool_info
from checks.sources import torch_include, torch_mps_headers

FORMATS = ("text", "json", "dot", "graphml", "png", "sarif", "github")


def _args(argv: list[str]):
    p = cli.parser("checks.lockgraph", "Lock-order graph of MPS sources: cycles and declared-hierarchy "
                   "violations (ST.009).", formats=FORMATS)
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files or folders to analyse")
    p.add_argument("--torch-headers", action="store_true", help="analyse the installed torch wheel's MPS headers")
    p.add_argument("--hierarchy", type=Path, help=f"lock hierarchy YAML (default: the analysed repository's "
                   f"{REPO_FILE} at its top, else {DEFAULT_PATH.name} of our specs/)")
    p.add_argument("--depth", type=int, help=f"levels of calls to follow (default {DEFAULT_DEPTH})")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the analysis cache")
    inputs.add_options(p)
    return p.parse_args(argv)


def _targets(args) -> tuple[list[Path], Path]:
    """The paths to analyse and the root their reported paths are relative to."""
    paths = list(args.paths)
    if args.torch_headers:
        paths += torch_mps_headers()
    if not paths:
        raise cli.UsageError("checks.lockgraph: give PATH... or --torch-headers")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise cli.UsageError(f"no such file or folder: {missing[0]}")
    if args.torch_headers and not args.paths:
        return paths, torch_include()
    folders = [p.resolve() if p.is_dir() else p.resolve().parent for p in paths]
    return paths, Path(os.path.commonpath(folders))


def analyse(paths: list[Path], root: Path, hierarchy_path: Path | None = None, depth: int = DEFAULT_DEPTH,
            external: tuple[str, ...] = (), limits: InputLimits = InputLimits(),
            cache: bool = True) -> tuple[LockGraph, Report]:
    """Parse the sources, build the graph and the report (used by the CLI and the tests); the graph
    comes from the whole-run cache when no source, option or analyzer changed."""
    from analyzers import lockgraph_incremental
    from analyzers.engine import files_run

    tool = started_tool_info(root, external)       # git answers while the analysis runs
    # a repository that declares its own locks (a fork) is judged by its file, else by ours
    hierarchy_path = hierarchy_path or find_hierarchy(root) or DEFAULT_PATH
    hierarchy = load_hierarchy(hierarchy_path, cache=cache)
    skipped: list = []
    options = {"hierarchy": hierarchy_path.read_text(encoding="utf-8", errors="replace"), "depth": depth}
    def compute(found: list, keys: list[str], kind: str) -> tuple[LockGraph, list]:
        acqs, diagnostics = lockgraph_incremental.acquisitions(found, keys, hierarchy, depth, kind, cache)
        return graph_from(acqs, hierarchy), diagnostics
    graph, diagnostics, files = files_run("lockgraph", options, paths, root, compute, cache=cache, limits=limits,
                                          skipped=skipped)
    inputs.require_files(files, ", ".join(map(str, paths)))
    checks = [e.check for e in load_catalogue(cache=cache) if e.family == "ST.009"]
    report = Report(tool=tool(), root=str(root), checks=checks, findings=findings(graph),
                    diagnostics=skipped + diagnostics, files=files,
                    extra={"graph": as_dict(graph), "hierarchy": str(hierarchy_path)})
    return graph, report


def main(argv: list[str]) -> int:
    """Analyse, render in the chosen format, exit 1 on cycles or error-severity violations."""
    args = _args(argv)
    paths, root = _targets(args)
    settings = section(load_config(args.config, paths[0]), "lockgraph")
    depth = args.depth if args.depth is not None else settings.get("depth", DEFAULT_DEPTH)
    if not isinstance(depth, int) or depth < 0:
        raise cli.UsageError(f"--depth must be a non-negative integer, got {depth!r}")
    hierarchy = args.hierarchy or (Path(settings["hierarchy"]) if settings.get("hierarchy") else None)
    if args.format == "png" and args.output is None:
        raise cli.UsageError("--format png needs --output FILE")
    graph, report = analyse(paths, root, hierarchy, depth, ("torch",) if args.torch_headers else (),
                            inputs.limits(args), not args.no_cache)
    if args.format == "png":
        try:
            png(graph, args.output)
        except OSError as exc:
            raise cli.UsageError(f"cannot write {args.output}: {exc.strerror}") from exc
    elif args.format in RENDERERS:
        out = RENDERERS[args.format](graph)
        if args.format == "text":
            own = report.extra["hierarchy"] != str(DEFAULT_PATH)     # say so when the repository's file is used
            out = (f"lock hierarchy: {report.extra['hierarchy']}\n" if own else "") + out + "\n" + render(report, "text")
        cli.emit(out, args.output)
    else:
        cli.emit(render(report, args.format), args.output)
    failed = graph.cycles or any(f.severity == "error" for f in report.findings) or inputs.incomplete(report.diagnostics)
    return int(cli.Exit.FINDINGS if failed else cli.Exit.CLEAN)


if __name__ == "__main__":
    raise SystemExit(cli.run(main, collect=False))
