"""`python -m checks.gate --base REV [--head REV]`: block new problems in a pull request, not old debt."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from analyzers import engine, tsa
from analyzers.findings import Diagnostic, Report
from analyzers.hierarchy import REPO_FILE, text_settings
from analyzers.reporters import sarif
from checks import cli
from checks.config import section, str_list
from checks.gate import settings as gate_settings
from checks.gate.diff import diff_findings
from checks.gate.summary import GateResult, annotations, markdown, text
from checks.gate.trees import (DEFAULT_MAX_BYTES, Tree, changed_files, materialise, read_file, read_tree, repo_root,
                               resolve)
from checks.provenance import tool_info

DEFAULT_PATHS = ["aten/src/ATen/mps", "aten/src/ATen/native/mps"]


@dataclass
class TreeResult:
    """What the analyzers found in one revision."""

    report: Report
    inventory: tsa.Inventory


def analyse(tree: Tree, workdir: Path, paths: list[str], opts: dict, changed: set[str]) -> TreeResult:
    """Run the structural rules (lock graph included) over one revision, the TSA inventory over its changed files.

    The TSA comparison is per file, so files the pull request leaves alone cannot regress.
    """
    root = materialise(tree, workdir)
    targets = [root / p for p in paths if (root / p).exists()]
    report = engine.analyze(targets, root, rules=opts["rules"], exclude=opts["exclude"], cache=opts["cache"],
                            baseline=opts["baseline"], settings=opts.get("settings"), naming=False) if targets else None
    if report is None:
        report = Report(tool={}, root=str(root), checks=[])
    # only the changed files: the inventory compares them alone (each file's part is cached by content)
    touched = [root / rel for rel in sorted(changed) if (root / rel).is_file()]   # trees hold sources only
    facts, diagnostics, _ = (tsa.collect(touched, root, opts["prefixes"], opts["exclude"], cache=opts["cache"])
                             if touched else ([], [], 0))
    report.diagnostics += [d for d in diagnostics if d.kind == "internal" and d not in report.diagnostics]
    return TreeResult(report, tsa.inventory_of([f for f in facts if f.path in changed]))


def gate(repo: Path, base: str, head: str, paths: list[str], opts: dict) -> GateResult:
    """Analyse base and head and decide: new blocking findings, TSA regressions, incomplete analysis."""
    start = time.perf_counter()
    base_tree, head_tree = read_tree(repo, base, paths, opts["max_bytes"]), read_tree(repo, head, paths, opts["max_bytes"])
    empty = [p or "." for p in paths if not base_tree.entries.get(p) and not head_tree.entries.get(p)]
    if empty and opts.get("explicit_paths", True):     # each default folder need not exist in every fork
        raise cli.UsageError(f"gate path {empty[0]!r} matches nothing at base {base[:12]} or head {head[:12]}")
    if not base_tree.files and not head_tree.files:
        raise cli.UsageError(f"nothing analysed: no C++/ObjC++ source under {', '.join(paths)} at base or head")
    changed = changed_files(base_tree, head_tree)
    with tempfile.TemporaryDirectory(prefix="mps-verify-gate-") as tmp:
        baseline = None
        if opts["baseline_data"] is not None:
            baseline = Path(tmp) / "baseline.json"
            baseline.write_bytes(opts["baseline_data"])
        opts = {**opts, "baseline": baseline}
        before = analyse(base_tree, Path(tmp) / "base", paths, opts, changed)
        after = analyse(head_tree, Path(tmp) / "head", paths, opts, changed)
    diff = diff_findings(before.report.findings, after.report.findings)
    blocking_levels = {"error", "warning"} if opts["strict"] else {"error"}
    # what the pull request's files told the analyzers: parse problems, failures, files not read
    shown = [d for d in after.report.diagnostics if d.path in changed or (d.kind == "internal" and not d.path)]
    too_big = {n for n, why in head_tree.skipped if "limit" in why} - {n for n, why in base_tree.skipped if "limit" in why}
    shown += [Diagnostic(n, 1, f"skipped: {why}", "internal" if n in too_big else "skipped")
              for n, why in head_tree.skipped if n not in base_tree.files or n in too_big]
    result = GateResult(base=base, head=head, diff=diff,
                        blocking=[f for f in diff.new if f.severity in blocking_levels],
                        tsa_regressions=tsa.compare(before.inventory, after.inventory),
                        files_changed=len(changed), strict=opts["strict"],
                        checks=after.report.checks or before.report.checks,
                        diagnostics=shown, settings_changes=opts["settings_changes"])
    result.seconds = time.perf_counter() - start
    return result


def as_json(result: GateResult, tool: dict) -> dict:
    """The gate's machine-readable result."""
    d = result.diff
    return {"tool": tool, "base": result.base, "head": result.head, "failed": result.failed,
            "summary": {"new": len(d.new), "fixed": len(d.fixed), "unchanged": len(d.unchanged),
                        "blocking": len(result.blocking), "tsa_regressions": len(result.tsa_regressions),
                        "files_changed": result.files_changed, "incomplete": len(result.incomplete),
                        "settings_changes": len(result.settings_changes), "seconds": round(result.seconds, 3)},
            "new": [f.to_json() for f in d.new], "fixed": [f.to_json() for f in d.fixed],
            "blocking": [f.fingerprint for f in result.blocking], "tsa_regressions": result.tsa_regressions,
            "incomplete": [d.to_json() for d in result.incomplete],
            "diagnostics": [d.to_json() for d in result.diagnostics],
            "settings_changes": result.settings_changes}


def base_hierarchy(repo: Path, base: str) -> dict:
    """Analyzer settings for the BASE revision's own lock_hierarchy.yaml (the PR cannot relax its own
    judge); {} when the base has none, so ours applies."""
    text = read_file(repo, base, REPO_FILE)
    return text_settings(text, f"{REPO_FILE} of the base revision") if text is not None else {}


def main(argv: list[str]) -> int:
    """Parse options, run the gate, write SARIF / annotations / step summary, exit 1 when blocked."""
    p = cli.parser("python -m checks.gate", "Fail a pull request on new MPS thread-safety problems.",
                   formats=("text", "json"))
    p.add_argument("--base", required=True, help="the revision the pull request starts from")
    p.add_argument("--head", default="HEAD", help="the pull request's revision (default HEAD)")
    p.add_argument("--paths", nargs="+", help=f"folders to gate (default: {' '.join(DEFAULT_PATHS)})")
    p.add_argument("--repo", type=Path, default=Path.cwd(), help="the fork's checkout (default: cwd)")
    p.add_argument("--strict", action="store_true", help="block on new warnings too")
    p.add_argument("--sarif", type=Path, help="write the new findings as SARIF 2.1.0 for code scanning")
    p.add_argument("--summary", type=Path, help="append the Markdown summary here (default $GITHUB_STEP_SUMMARY)")
    p.add_argument("--annotations", choices=("auto", "on", "off"), default="auto",
                   help="print GitHub annotation lines (auto: when GITHUB_ACTIONS=true)")
    p.add_argument("--baseline", type=Path, help="fingerprints of accepted findings (see checks.structural); "
                   "inside the repository it is read from the base revision")
    p.add_argument("--rules", help="comma-separated rule prefixes (default: all)")
    p.add_argument("--exclude", action="append", default=[], help="glob of files to leave out (repeatable)")
    p.add_argument("--prefix", action="append", default=[], help="extra TSA macro prefix (e.g. MPS_)")
    p.add_argument("--no-cache", action="store_true", help="parse everything afresh")
    p.add_argument("--max-file-bytes", type=int, default=DEFAULT_MAX_BYTES, metavar="N",
                   help=f"skip (with a note) sources larger than N bytes (default {DEFAULT_MAX_BYTES})")
    args = p.parse_args(argv)
    if args.max_file_bytes < 1:
        raise cli.UsageError("--max-file-bytes must be at least 1")

    repo = repo_root(args.repo)
    base, head = resolve(repo, args.base), resolve(repo, args.head)
    # the base's settings and baseline, read from git objects: the pull request cannot loosen its own gate
    loaded = gate_settings.load(repo, base, head, args.config, args.baseline)
    settings, structural = section(loaded.config, "gate"), section(loaded.config, "structural")
    rules = args.rules.split(",") if args.rules else (str_list(structural.get("rules")) or None)
    opts = {"exclude": tuple(args.exclude or str_list(structural.get("exclude"))), "rules": rules,
            "cache": not args.no_cache, "baseline_data": loaded.baseline,
            "strict": args.strict or bool(settings.get("strict")), "max_bytes": args.max_file_bytes,
            "settings_changes": loaded.changes,
            "prefixes": tuple(dict.fromkeys([*tsa.DEFAULT_PREFIXES, *args.prefix,
                                             *str_list(section(loaded.config, "tsa").get("prefixes"))]))}
    opts["settings"] = base_hierarchy(repo, base)
    paths = args.paths or str_list(settings.get("paths")) or DEFAULT_PATHS
    opts["explicit_paths"] = paths is not DEFAULT_PATHS
    result = gate(repo, base, head, [str(x).strip("/") for x in paths], opts)

    tool = tool_info(repo)
    if args.sarif:
        new_only = Report(tool=tool, root=str(repo), checks=result.checks, findings=result.diff.new)
        cli.emit(json.dumps(sarif.as_dict(new_only), indent=2), args.sarif)
    show = args.annotations == "on" or (args.annotations == "auto" and os.environ.get("GITHUB_ACTIONS") == "true")
    if show:
        lines, _rest = annotations(result.diff.new)   # the rest are listed in the step summary
        print("\n".join(lines)) if lines else None
    summary_path = args.summary or (Path(os.environ["GITHUB_STEP_SUMMARY"])
                                    if os.environ.get("GITHUB_STEP_SUMMARY") else None)
    if summary_path is not None:
        try:
            with summary_path.open("a", encoding="utf-8") as fh:
                fh.write(markdown(result))
        except OSError as exc:
            raise cli.UsageError(f"cannot write summary {summary_path}: {exc.strerror}") from exc
    report = cli.dump_json(as_json(result, tool)) if args.format == "json" else text(result)
    cli.emit(report, args.output)
    return int(cli.Exit.FINDINGS if result.failed else cli.Exit.CLEAN)


if __name__ == "__main__":
    raise SystemExit(cli.run(main, collect=False))
