"""`make bench-specs`: wall time of a spec tier through the runner, and the runner's overhead over bare TLC."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from checks import cli, provenance, tools
from checks.sources import REPO_ROOT
from checks.specs import tlc
from checks.specs.manifest import ModelEntry, RunOptions, load_manifest
from checks.specs.runner import select

TARGET_WALL_S = 60.0
TARGET_OVERHEAD = 0.05


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(fn, *args) -> tuple[float, float, object]:
    """(wall s, CPU s of the child processes, fn's result): CPU is steadier than wall on a shared host."""
    cpu, start = _children_cpu(), time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, _children_cpu() - cpu, value


def time_runner(manifest: Path, tier: str, jobs: int, timeout: float) -> dict:
    """`python -m checks.specs` on the tier (interpreter start and report included); its JSON report."""
    with tempfile.TemporaryDirectory(prefix="bench-specs-") as art:
        cmd = [sys.executable, "-m", "checks.specs", "--manifest", str(manifest), "--tier", tier, "--jobs",
               str(jobs), "--timeout", str(timeout), "--format", "json", "--artifacts", art]
        proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise cli.UsageError(f"runner failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def time_direct(entries: list[ModelEntry], jobs: int, timeout: float) -> None:
    """The same TLC command lines, same parallelism, with nothing around them."""
    java, jar = tools.java(), tools.tla2tools_jar()
    opts = RunOptions(timeout=timeout)
    tlc.supported_options(java, jar)          # the runner's -help probe is cached per process too

    def one(entry: ModelEntry) -> None:
        with tempfile.TemporaryDirectory(prefix="tlc-meta-") as meta:
            # the model's own launch (options, library, simulation): the runner runs the same command
            launch = tlc.launch_for(entry, opts, jar)
            cfg = os.path.relpath(entry.cfg_path, entry.spec_path.parent)
            if launch.cfg_text is not None:
                cfg = str(Path(meta) / "model.cfg")
                Path(cfg).write_text(launch.cfg_text, encoding="utf-8")
            cmd = tlc.command(java, jar, entry.spec_path.stem, cfg, Path(meta), opts, (), launch)
            subprocess.run(cmd, cwd=entry.spec_path.parent, stdout=subprocess.DEVNULL,
                           stderr=subprocess.STDOUT, timeout=timeout)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, entries))


def main(argv: list[str]) -> int:
    """Alternate runner and direct runs, report medians; exit 1 when a target is missed."""
    p = cli.parser("python -m checks.bench_specs", __doc__, formats=("text", "json"))
    p.add_argument("--manifest", type=Path, default=REPO_ROOT / "specs" / "manifest.yaml")
    p.add_argument("--tier", choices=["fast", "slow", "all"], default="fast")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per model")
    p.add_argument("--json", type=Path, default=REPO_ROOT / ".mps-verify" / "bench" / "specs.json",
                   help="where the JSON result is written (besides the report)")
    args = p.parse_args(argv)
    if args.reps < 1 or args.jobs < 1:
        raise cli.UsageError("--reps and --jobs must be at least 1")
    entries = select(load_manifest(args.manifest), args.tier, None, "tlc")
    sides = {"runner": (time_runner, (args.manifest, args.tier, args.jobs, args.timeout)),
             "direct": (time_direct, (entries, args.jobs, args.timeout))}
    wall: dict[str, list[float]] = {"runner": [], "direct": []}
    cpu: dict[str, list[float]] = {"runner": [], "direct": []}
    last: dict = {}
    for rep in range(args.reps):
        # alternate the order so neither side always runs on a warmer page cache
        for side in (("runner", "direct") if rep % 2 == 0 else ("direct", "runner")):
            fn, fn_args = sides[side]
            seconds, cpu_s, value = measured(fn, *fn_args)
            wall[side].append(seconds)
            cpu[side].append(cpu_s)
            last = value if side == "runner" else last
    runner_s, direct_s = wall["runner"], wall["direct"]
    runner_med, direct_med = statistics.median(runner_s), statistics.median(direct_s)
    overhead = (runner_med - direct_med) / direct_med
    cpu_runner, cpu_direct = statistics.median(cpu["runner"]), statistics.median(cpu["direct"])
    cpu_overhead = (cpu_runner - cpu_direct) / cpu_direct
    result = {
        # the runner's own tool block: it carries the TLC banner of the runs it made
        "tool": last.get("tool") or provenance.tool_info(args.manifest.resolve().parent, ("java", "tlc")),
        "manifest": str(args.manifest), "tier": args.tier, "models": len(entries), "jobs": args.jobs,
        "cpu_count": os.cpu_count(), "reps": args.reps,
        "runner_s": [round(s, 3) for s in runner_s], "direct_s": [round(s, 3) for s in direct_s],
        "runner_median_s": round(runner_med, 3), "direct_median_s": round(direct_med, 3),
        "overhead": round(overhead, 4),
        "runner_cpu_s": [round(s, 3) for s in cpu["runner"]], "direct_cpu_s": [round(s, 3) for s in cpu["direct"]],
        "cpu_overhead": round(cpu_overhead, 4),
        "targets": {"wall_s": TARGET_WALL_S, "overhead": TARGET_OVERHEAD,
                    "wall_ok": runner_med < TARGET_WALL_S, "overhead_ok": overhead < TARGET_OVERHEAD},
        "all_matched": last.get("summary", {}).get("mismatched") == 0,
        "per_model_s": {m["entry"]["name"]: m["outcome"]["seconds"] for m in last.get("models", [])},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(cli.dump_json(result) + "\n", encoding="utf-8")
    if args.format == "json":
        cli.emit(cli.dump_json(result), args.output)
    else:
        tool = result["tool"]
        rows = [("models", f"{len(entries)} ({args.tier} tier, {args.jobs} at once, 1 TLC worker each)"),
                ("runner (median)", f"{runner_med:.2f} s  {result['runner_s']}"),
                ("bare TLC (median)", f"{direct_med:.2f} s  {result['direct_s']}"),
                ("overhead (wall)", f"{overhead * 100:+.1f} %"),
                ("CPU runner/bare", f"{cpu_runner:.2f} s / {cpu_direct:.2f} s (medians; {cpu_overhead * 100:+.1f} %)"),
                ("targets", f"wall < {TARGET_WALL_S:g} s: {'ok' if result['targets']['wall_ok'] else 'MISSED'}; "
                            f"overhead < {TARGET_OVERHEAD * 100:g} %: "
                            f"{'ok' if result['targets']['overhead_ok'] else 'MISSED'}"),
                ("all models matched", str(result["all_matched"])),
                ("versions", f"{tool.get('tlc')}, Java {tool.get('java')}, Python {tool.get('python')}"),
                ("written", str(args.json))]
        width = max(len(k) for k, _ in rows)
        cli.emit("\n".join(f"{k:<{width}}  {v}" for k, v in rows), args.output)
    ok = result["targets"]["wall_ok"] and result["targets"]["overhead_ok"] and result["all_matched"]
    return cli.Exit.CLEAN if ok else cli.Exit.FINDINGS


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
