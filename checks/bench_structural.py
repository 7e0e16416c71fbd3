"""`python -m checks.bench_structural`: time the structural analyzer on the PyTorch 2.6.0 MPS tree.

Measures, each in a fresh process and as the median of --repeat runs:
  cold   `python -m checks.structural <tree> --no-cache` (start-up, parsing, rules, report)
  warm   the same with the cache filled by a previous run (unchanged files)
  parse  parsing only, in-process, one core (the parser's own throughput)
  floor  a plain regex tokenizer over the same files, in-process (what reading + lexing costs at least)
The first run (not measured) builds the Lark grammar cache and the .pyc files, as any first use does.
Peak RSS is the largest resident set of the measured process and its workers (getrusage of children).
Writes .mps-verify/bench/structural.json.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from checks import cli
from checks.provenance import tool_info
from checks.sources import CORPUS_DIR, REPO_ROOT, corpus_mps_dirs

OUT = REPO_ROOT / ".mps-verify" / "bench" / "structural.json"
TARGETS = {"cold_s": 1.5, "warm_s": 0.3, "peak_rss_mb": 300}
FLOOR_RE = re.compile(r"""\s+|//[^\n]*|/\*.*?\*/|#[^\n]*|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|\w+|\S""", re.S)
# Runs a command; prints its wall time, the peak RSS (KiB) and CPU seconds of it and its children.
WRAPPER = ("import resource, subprocess, sys, time\n"
           "t = time.perf_counter()\n"
           "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
           "wall = time.perf_counter() - t\n"
           "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
           "print(wall, u.ru_maxrss, u.ru_utime + u.ru_stime, rc)\n")


def _files() -> list[Path]:
    from analyzers.discover import discover
    return [p for p, _ in discover(corpus_mps_dirs(), CORPUS_DIR)]


def _measure(argv: list[str], env: dict[str, str], cwd: Path = REPO_ROOT) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MiB, CPU seconds) of one fresh-process run."""
    proc = subprocess.run([sys.executable, "-c", WRAPPER, *argv], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)
    wall, rss_kib, cpu, rc = proc.stdout.split()
    if int(rc) not in (0, 1):
        raise cli.UsageError(f"benchmark run failed (exit {rc}): {' '.join(argv)}")
    return float(wall), int(rss_kib) / 1024, float(cpu)


def _in_process(fn, repeat: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of `fn()`."""
    walls, cpus = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def bench(repeat: int, jobs: int | None) -> dict:
    """Run every measurement and return the result document."""
    from analyzers.engine import paused_gc
    from analyzers.parse import parse_file

    files = _files()
    size = sum(f.stat().st_size for f in files)
    dirs = [str(d) for d in corpus_mps_dirs()]
    base = [sys.executable, "-m", "checks.structural", *dirs, "--format", "json", "--output", os.devnull]
    if jobs:
        base += ["--jobs", str(jobs)]
    with tempfile.TemporaryDirectory(prefix="mps-verify-bench-") as cache:
        # bytecode on (as in any installed use): the first run writes the .pyc files
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["MPS_VERIFY_CACHE_DIR"] = cache
        _measure(base, env)     # builds the Lark grammar cache and fills the parse cache
        cold = [_measure([*base, "--no-cache"], env) for _ in range(repeat)]
        warm = [_measure(base, env) for _ in range(repeat)]

    def parse_only():
        with paused_gc():
            for f in files:
                parse_file(f, f.name)

    def floor():
        for f in files:
            for _ in FLOOR_RE.finditer(f.read_bytes().decode("utf-8", "replace")):
                pass

    parse_s, parse_cpu = _in_process(parse_only, repeat)
    floor_s, floor_cpu = _in_process(floor, repeat)
    mb = size / 1e6
    result = {
        "tool": tool_info(CORPUS_DIR),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "loadavg": list(os.getloadavg())},
        "input": {"files": len(files), "bytes": size, "tree": str(CORPUS_DIR)},
        "repeat": repeat,
        "cold_s": statistics.median(w for w, _, _ in cold),
        "warm_s": statistics.median(w for w, _, _ in warm),
        "parse_1core_s": parse_s,
        "floor_regex_s": floor_s,
        "peak_rss_mb": max(r for _, r, _ in cold + warm),
        # CPU seconds (user + sys, the process and its workers): what a busy machine does not inflate
        "cpu_s": {"cold": statistics.median(c for _, _, c in cold), "warm": statistics.median(c for _, _, c in warm),
                  "parse_1core": parse_cpu, "floor_regex": floor_cpu},
    }
    result["throughput_mb_s"] = {"cold": mb / result["cold_s"], "parse_1core": mb / parse_s,
                                 "floor_regex": mb / floor_s}
    result["targets"] = {k: {"target": v, "met": result[k] <= v} for k, v in TARGETS.items()}
    return result


def table(r: dict) -> str:
    """The result as a small text table."""
    mb = r["input"]["bytes"] / 1e6
    cpu = r["cpu_s"]
    rows = [("cold (fresh process, --no-cache)", r["cold_s"], cpu["cold"], TARGETS["cold_s"]),
            ("warm (fresh process, cached)", r["warm_s"], cpu["warm"], TARGETS["warm_s"]),
            ("parse only, 1 core, in-process", r["parse_1core_s"], cpu["parse_1core"], None),
            ("regex tokenizer floor, in-process", r["floor_regex_s"], cpu["floor_regex"], None)]
    lines = [f"structural analyzer on {r['input']['files']} files, {mb:.2f} MB "
             f"(median of {r['repeat']}; {r['machine']['cpus']} CPUs, load {r['machine']['loadavg'][0]:.1f})",
             f"{'measurement':36} {'wall s':>8} {'MB/s':>7} {'CPU s':>7}  target (wall)"]
    for name, secs, cpu_s, target in rows:
        mark = "" if target is None else f"< {target} s {'ok' if secs <= target else 'MISSED'}"
        lines.append(f"{name:36} {secs:8.3f} {mb / secs:7.2f} {cpu_s:7.3f}  {mark}")
    rss_ok = "ok" if r["peak_rss_mb"] <= TARGETS["peak_rss_mb"] else "MISSED"
    lines.append(f"{'peak RSS (MiB, process + workers)':36} {r['peak_rss_mb']:8.1f} {'':7}  "
                 f"< {TARGETS['peak_rss_mb']} MiB {rss_ok}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Benchmark, print the table, write the JSON."""
    p = cli.parser("checks.bench_structural", "Time the structural analyzer on the PyTorch 2.6.0 MPS tree.")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement (median reported)")
    p.add_argument("--jobs", type=int, help="pass --jobs N to the analyzer")
    p.add_argument("--output", type=Path, default=OUT, help=f"JSON result (default {OUT.relative_to(REPO_ROOT)})")
    args = p.parse_args(argv)
    if args.repeat < 1:
        raise cli.UsageError("--repeat must be at least 1")
    return publish(bench(args.repeat, args.jobs), args.output, table)


def publish(result: dict, output: Path, table_of) -> int:
    """Write a benchmark's JSON, print its table and where the JSON went; exit 0."""
    cli.emit(cli.dump_json(result), output)
    print(table_of(result))
    print(f"wrote {output}")
    return int(cli.Exit.CLEAN)


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
