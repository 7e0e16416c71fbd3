"""`make bench-scaling`: how the analyzers scale, next to a previous design measured in the same run.

Inputs: the 2.6.0 MPS tree and the nested 5, 10 and 20 MB subsets of the whole 2.6.0 source that
`python -m checks.corpus --scaling` extracts. For each input and each design (this checkout, and the
--previous revision, exported with `git archive` and run from its own folder), in fresh processes with
an empty cache:
  cold        `checks.structural` with no cache, the default process count (wall, CPU, peak RSS)
  cold_jobs1  the same with --jobs 1
  warm        again, nothing changed
  edit        after appending a function to one MPS file (the edit a developer makes between runs)
  daemon_warm, daemon_edit   the same through `checks.daemon run` (a design that has it), its server
              started and primed before with one edit and its undo (daemon_first_edit: the first edit a
              new server runs, a second after its warm runs, as between two commits: a server prepares the
              edit run's imports when idle); other appended functions: the one-shot edit's is cached
  resident_warm, resident_edit   the same request sent by this process over the server's socket: what an
              editor or another client that stays running waits for (no interpreter start)
  lockgraph / tsa   cold, warm and edit of `checks.lockgraph` and `checks.tsa`
and the size of the cache the cold run left. Then single generated files (checks.shapes: many functions,
a class of many methods, one huge function, a table, ObjC sends, raw strings) through a cold
`checks.structural --jobs 1`: at 1 and 4 MB with this checkout, at 1 MB with the previous design (its
class shape was quadratic: 4 MB took 400 s). Writes .mps-verify/bench/scaling.json.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from checks import cli
from checks.bench_structural import _measure, publish
from checks import shapes
from checks.daemon import protocol
from checks.corpus import SCALING_MB, scaling_dir
from checks.provenance import tool_info
from checks.sources import CORPUS_DIR, MPS_SUBDIRS, REPO_ROOT

OUT = REPO_ROOT / ".mps-verify" / "bench" / "scaling.json"
# the design before issue #19's work (the previous session's last commit)
DEFAULT_PREVIOUS = "4e812c9"
EDITED = "aten/src/ATen/native/mps/OperationUtils.mm"     # in every input: each subset starts with the MPS tree
EDIT = "\nstatic int mps_verify_bench_edit(int x) {\n  return x + 1;\n}\n"
DAEMON_EDIT = EDIT.replace("bench_edit", "bench_daemon_edit")
RESIDENT_EDIT = EDIT.replace("bench_edit", "bench_resident_edit")
IDLE_BEFORE_FIRST_EDIT_S = 1.0    # a developer's pause: a server idle for checks.daemon.server.COLLECT_AFTER_S
                                  # prepares what an edit run imports
COMMANDS = {"structural": ["checks.structural", "--format", "json", "--output", os.devnull],
            "lockgraph": ["checks.lockgraph", "--format", "json", "--output", os.devnull],
            "tsa": ["checks.tsa", "--format", "json", "--output", os.devnull]}


def inputs(sizes: tuple[int, ...]) -> list[tuple[str, Path]]:
    """(name, folder) of each input; a usage error naming the command that makes a missing one."""
    found = [("mps-tree", CORPUS_DIR)] + [(f"{mb}mb", scaling_dir(mb)) for mb in sizes]
    for name, folder in found:
        if not (folder / "SOURCE").is_file():
            raise cli.UsageError(f"{folder} missing; run `python -m checks.corpus --scaling` "
                                 "(`make bench-scaling` does)")
    return found


def source_bytes(folder: Path, name: str) -> int:
    """Bytes of C++/ObjC++ source the analyzers read in an input."""
    from analyzers.discover import discover
    roots = [folder / sub for sub in MPS_SUBDIRS] if name == "mps-tree" else [folder]
    return sum(p.stat().st_size for p, _ in discover(roots, folder))


def export(rev: str, dest: Path) -> Path:
    """The checkout's files at `rev` in `dest` (git archive: no worktree left behind)."""
    try:
        archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", "--format=tar", rev],
                                 capture_output=True, check=True).stdout
    except subprocess.CalledProcessError as exc:
        raise cli.UsageError(f"--previous {rev}: not a revision of this checkout "
                             f"({exc.stderr.decode(errors='replace').strip()[:120]})") from exc
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def _du(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def measure_design(code: Path, tree: Path, targets: list[str], work: Path, repeat: int = 1) -> dict:
    """Every measurement of one design (its code in `code`) on one input (a copy in `tree`): the median of
    `repeat` passes."""
    cache = work / "cache"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(MPS_VERIFY_CACHE_DIR=str(cache), PYTHONPATH=str(code), XDG_RUNTIME_DIR=str(work / "run"))
    (work / "run").mkdir(mode=0o700, parents=True, exist_ok=True)

    def run(command: str, *extra: str) -> tuple[float, float, float]:
        return _measure([sys.executable, "-m", *COMMANDS[command][:1], *targets, *COMMANDS[command][1:], *extra],
                        env, cwd=code)

    # the same command through the server: a fresh client process ("daemon"), or this process ("resident")
    through = {"daemon": lambda command: _measure([sys.executable, "-m", "checks.daemon", "run", command, *targets,
                                                   *COMMANDS[command][1:]], env, cwd=code),
               "resident": lambda command: _asked(command, [*targets, *COMMANDS[command][1:]], env, code)}

    def stop() -> None:
        _measure([sys.executable, "-m", "checks.daemon", "stop"], env, cwd=code)

    def fresh() -> None:
        shutil.rmtree(cache, ignore_errors=True)

    edited = tree / EDITED
    original = edited.read_bytes()
    fresh()
    run("structural")                          # .pyc files and the grammar cache, as any first use
    daemon = (through, stop) if (code / "checks" / "daemon").is_dir() else None
    reps = [_one_pass(run, fresh, cache, edited, original, daemon) for _ in range(repeat)]
    out = _medians(reps)
    fresh()
    return out


def _one_pass(run, fresh, cache: Path, edited: Path, original: bytes, daemon: tuple | None) -> dict:
    """One pass of every measurement: {command: {measurement: {wall, cpu, rss_mib}}, plus cache_bytes}."""
    out: dict = {}
    for command in COMMANDS:
        fresh()
        out[command] = {"cold": _as_dict(run(command))}
        if command == "structural":
            out[command]["cache_bytes"] = _du(cache / "structural") if (cache / "structural").is_dir() else 0
            fresh()
            out[command]["cold_jobs1"] = _as_dict(run(command, "--jobs", "1"))
            fresh()
            run(command)
        out[command]["warm"] = _as_dict(run(command))
        edited.write_bytes(original + EDIT.encode())
        try:
            out[command]["edit"] = _as_dict(run(command))
        finally:
            edited.write_bytes(original)
        if daemon is not None:
            out[command].update(_through_daemon(*daemon, command, edited, original))
    return out


def _through_daemon(through: dict, stop, command: str, edited: Path, original: bytes) -> dict:
    """daemon_ and resident_ warm and edit of one command, after the server's start, its first edit (timed
    as daemon_first_edit: it imports what only an edit run needs, once per server) and that edit's undo."""
    out = {}
    try:
        for how, edit in (("daemon", DAEMON_EDIT), ("resident", RESIDENT_EDIT)):
            edited.write_bytes(original)
            run = through[how]
            for _ in range(2):
                run(command)
            edited.write_bytes(original + edit.replace("edit", "first_edit").encode())
            time.sleep(IDLE_BEFORE_FIRST_EDIT_S)
            first = _as_dict(run(command))
            if how == "daemon":
                out["daemon_first_edit"] = first
            edited.write_bytes(original)
            run(command)
            out[f"{how}_warm"] = _as_dict(run(command))
            edited.write_bytes(original + edit.encode())
            out[f"{how}_edit"] = _as_dict(run(command))
    finally:
        edited.write_bytes(original)
        stop()
    return out


def _asked(command: str, argv: list[str], env: dict, code: Path) -> tuple[float, float, float]:
    """(wall, 0, 0) of one request sent from this process to the server started under `env`."""
    path = protocol.socket_path(env)
    request = {"op": "run", "command": command, "argv": argv, "cwd": str(code), "env": env}
    start = time.perf_counter()
    reply = protocol.ask(path, request, env)
    wall = time.perf_counter() - start
    if reply is None or reply.get("rc") not in (0, 1):
        raise cli.UsageError(f"benchmark request failed: {command} {' '.join(argv)}: {reply}")
    return wall, 0.0, 0.0


def _as_dict(measured: tuple[float, float, float]) -> dict:
    wall, rss, cpu = measured
    return {"wall": wall, "cpu": cpu, "rss_mib": rss}


def _medians(reps: list[dict]) -> dict:
    """The per-measurement median of several passes (by wall time), with the spread of the wall times."""
    out: dict = {}
    for command, measured in reps[0].items():
        out[command] = {}
        for name, value in measured.items():
            if not isinstance(value, dict):
                out[command][name] = statistics.median(r[command][name] for r in reps)
                continue
            out[command][name] = _median_run([r[command][name] for r in reps])
    return out


def _median_run(runs: list[dict]) -> dict:
    """The run of median wall time, with the range of the wall times."""
    runs = sorted(runs, key=lambda m: m["wall"])
    return {**runs[len(runs) // 2], "wall_range": [runs[0]["wall"], runs[-1]["wall"]]}


def bench(sizes: tuple[int, ...], previous: str | None, repeat: int = 1) -> dict:
    """Measure every input with each design; the result document."""
    result = {"tool": tool_info(REPO_ROOT), "previous": previous, "repeat": repeat,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "loadavg_start": list(os.getloadavg())}, "inputs": {}}
    with tempfile.TemporaryDirectory(prefix="mps-verify-scaling-") as tmp:
        designs = {"current": REPO_ROOT}
        if previous:
            designs["previous"] = export(previous, Path(tmp) / "previous")
        for name, folder in inputs(sizes):
            tree = Path(tmp) / "input"
            shutil.copytree(folder, tree)
            targets = [str(tree / sub) for sub in MPS_SUBDIRS] if name == "mps-tree" else [str(tree)]
            entry = {"bytes": source_bytes(folder, name)}
            for design, code in designs.items():
                entry[design] = measure_design(code, tree, targets, Path(tmp) / design / name, repeat)
                print(f"  {name}: {design} done", file=sys.stderr)
            result["inputs"][name] = entry
            shutil.rmtree(tree)
        # the previous design's class shape is quadratic (1 MB: ~100 s): its shapes run once, for context
        result["shapes"] = {design: measure_shapes(code, Path(tmp) / "shapes", Path(tmp) / design / "shape-cache",
                                                   (1, 4) if design == "current" else (1,),
                                                   repeat if design == "current" else 1)
                            for design, code in designs.items()}
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    return result


def measure_shapes(code: Path, folder: Path, cache: Path, sizes: tuple[int, ...], repeat: int = 1) -> dict:
    """MB/s of a cold one-process structural run on each generated shape, by size (CPU and wall): the run
    of median wall time of `repeat`, with the range (one run of a shape varied by up to 20% here)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(MPS_VERIFY_CACHE_DIR=str(cache), PYTHONPATH=str(code))
    out: dict = {}
    for mb in sizes:
        for path in shapes.write(folder, mb):
            run = _median_run([_as_dict(_measure([sys.executable, "-m", "checks.structural", str(path.parent),
                                                  "--no-cache", "--jobs", "1", "--format", "json", "--output",
                                                  os.devnull], env, cwd=code)) for _ in range(repeat)])
            size, (fastest, slowest) = path.stat().st_size / 1e6, run["wall_range"]
            out.setdefault(path.parent.name, {})[str(mb)] = {
                "mb": size, "wall": run["wall"], "cpu": run["cpu"], "mb_per_s": size / run["wall"],
                "rss_mib_per_mb": run["rss_mib"] / size, "mb_per_s_range": [size / slowest, size / fastest]}
        print(f"  shapes at {mb} MB done", file=sys.stderr)
    return out


def table(r: dict) -> str:
    """The result as text: per input, each measurement for both designs and their ratio."""
    designs = [d for d in ("previous", "current") if any(d in e for e in r["inputs"].values())]
    lines = [f"scaling on {r['machine']['cpus']} CPUs, load {r['machine']['loadavg_start'][0]:.1f} at start, "
             f"{r['machine']['loadavg_end'][0]:.1f} at end; previous = {r['previous'] or '(not measured)'}; "
             f"median of {r.get('repeat', 1)} pass(es) (wall ranges in the JSON)"]
    for name, e in r["inputs"].items():
        mb = e["bytes"] / 1e6
        lines.append(f"\n{name} ({mb:.2f} MB)")
        lines.append(f"  {'measurement':32}" + "".join(f"{d:>12}" for d in designs) + ("       ratio" if len(designs) == 2 else ""))
        for label, value in _rows(e, mb, designs):
            cells = [value(e[d]) for d in designs]
            ratio = f"{cells[1] / cells[0]:11.2f}x" if len(cells) == 2 and cells[0] and not math.isnan(cells[0]) else ""
            lines.append(f"  {label:32}" + "".join(f"{c:12.3f}" for c in cells) + ratio)
    if r.get("shapes"):
        lines.append("\nsingle generated files, MB/s of a cold one-process run (wall)")
        for shape, by in r["shapes"]["current"].items():
            prev = r["shapes"].get("previous", {}).get(shape, {}).get("1")
            spread = by["1"].get("mb_per_s_range")
            lines.append(f"  {shape:10} 1 MB {by['1']['mb_per_s']:6.2f}"
                         + (f" [{spread[0]:.2f}-{spread[1]:.2f}]" if spread and r.get("repeat", 1) > 1 else "")
                         + (f" (previous {prev['mb_per_s']:.2f})" if prev else "")
                         + (f"   4 MB {by['4']['mb_per_s']:6.2f}, peak {by['4']['rss_mib_per_mb']:.0f} MiB/MB" if "4" in by else ""))
    return "\n".join(lines)


def _wall(measured: dict, name: str) -> float:
    """The wall time of a measurement, NaN where the design has none (no daemon before it existed)."""
    return measured[name]["wall"] if name in measured else float("nan")


def _rows(e: dict, mb: float, designs: list[str]) -> list:
    s = "structural"
    return [
        ("structural cold wall s", lambda d: d[s]["cold"]["wall"]),
        ("structural cold --jobs 1 wall s", lambda d: d[s]["cold_jobs1"]["wall"]),
        ("default / --jobs 1 (wall)", lambda d: d[s]["cold"]["wall"] / d[s]["cold_jobs1"]["wall"]),
        ("structural CPU s per MB (jobs 1)", lambda d: d[s]["cold_jobs1"]["cpu"] / mb),
        ("structural warm wall s", lambda d: d[s]["warm"]["wall"]),
        ("structural edit wall s", lambda d: d[s]["edit"]["wall"]),
        ("edit / cold (structural)", lambda d: d[s]["edit"]["wall"] / d[s]["cold"]["wall"]),
        ("structural daemon warm s", lambda d: _wall(d[s], "daemon_warm")),
        ("structural daemon first edit s", lambda d: _wall(d[s], "daemon_first_edit")),
        ("structural daemon edit s", lambda d: _wall(d[s], "daemon_edit")),
        ("daemon edit / cold (structural)", lambda d: _wall(d[s], "daemon_edit") / d[s]["cold"]["wall"]),
        ("structural resident-client edit s", lambda d: _wall(d[s], "resident_edit")),
        ("resident edit / cold (structural)", lambda d: _wall(d[s], "resident_edit") / d[s]["cold"]["wall"]),
        ("lockgraph cold s", lambda d: d["lockgraph"]["cold"]["wall"]),
        ("  warm", lambda d: d["lockgraph"]["warm"]["wall"]),
        ("  edit / cold", lambda d: d["lockgraph"]["edit"]["wall"] / d["lockgraph"]["cold"]["wall"]),
        ("  daemon edit / cold", lambda d: _wall(d["lockgraph"], "daemon_edit") / d["lockgraph"]["cold"]["wall"]),
        ("  resident edit / cold", lambda d: _wall(d["lockgraph"], "resident_edit") / d["lockgraph"]["cold"]["wall"]),
        ("tsa cold s", lambda d: d["tsa"]["cold"]["wall"]),
        ("  warm", lambda d: d["tsa"]["warm"]["wall"]),
        ("  edit / cold", lambda d: d["tsa"]["edit"]["wall"] / d["tsa"]["cold"]["wall"]),
        ("  daemon edit / cold", lambda d: _wall(d["tsa"], "daemon_edit") / d["tsa"]["cold"]["wall"]),
        ("  resident edit / cold", lambda d: _wall(d["tsa"], "resident_edit") / d["tsa"]["cold"]["wall"]),
        ("cache / source size", lambda d: d[s]["cache_bytes"] / (mb * 1e6)),
        ("peak RSS MiB per MB (cold)", lambda d: max(d[s]["cold"]["rss_mib"], d[s]["cold_jobs1"]["rss_mib"]) / mb),
        # a warm run loads no model: its peak is the interpreter and modules, the part no input size changes
        ("  above a warm run's peak", lambda d: (max(d[s]["cold"]["rss_mib"], d[s]["cold_jobs1"]["rss_mib"])
                                                 - d[s]["warm"]["rss_mib"]) / mb),
    ]


def main(argv: list[str]) -> int:
    """Benchmark, print the table, write the JSON."""
    p = cli.parser("checks.bench_scaling", "How the analyzers scale with input size, next to a previous design.")
    p.add_argument("--previous", default=DEFAULT_PREVIOUS,
                   help=f"git revision of the design to compare with (default {DEFAULT_PREVIOUS}); 'none' to skip")
    p.add_argument("--sizes", default=",".join(map(str, SCALING_MB)),
                   help=f"subsets to measure, in MB (default {','.join(map(str, SCALING_MB))})")
    p.add_argument("--repeat", type=int, default=1, help="passes per input and design (median reported; default 1)")
    p.add_argument("--output", type=Path, default=OUT, help=f"JSON result (default {OUT.relative_to(REPO_ROOT)})")
    args = p.parse_args(argv)
    try:
        sizes = tuple(int(x) for x in args.sizes.split(",") if x)
    except ValueError as exc:
        raise cli.UsageError(f"--sizes: comma-separated whole numbers of MB, got {args.sizes!r}") from exc
    if any(mb not in SCALING_MB for mb in sizes):
        raise cli.UsageError(f"--sizes: only {', '.join(map(str, SCALING_MB))} exist")
    if args.repeat < 1:
        raise cli.UsageError("--repeat must be at least 1")
    return publish(bench(sizes, None if args.previous == "none" else args.previous, args.repeat), args.output, table)


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
