"""`python -m runtime_tests run|report`: the runtime stress tests and their report."""

from __future__ import annotations

import os
import re
from pathlib import Path

from checks import cli
from runtime_tests import backend, db
# runner, report, stats and crosscheck import scipy: loaded by the commands that need them, so that a
# usage error answers at once.

OUT_ENV = "MPS_VERIFY_OUT"  # where results go when --out is not given (for collecting them off a GPU box)
USAGE = ("usage: python -m runtime_tests {run,report,validate-trace} [options]  "
         "(-h after a command for its options)")


def duration(text: str) -> float:
    """Seconds from '15s', '2m', '1h' or a bare number of seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not m:
        raise cli.UsageError(f"bad duration {text!r} (use e.g. 15s, 2m)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise cli.UsageError(f"expected a positive integer, got {text!r}")
    return int(text)


def _out(value: Path | None) -> Path | None:
    return value or (Path(os.environ[OUT_ENV]) if os.environ.get(OUT_ENV) else None)


def _db_path(value: Path | None, out: Path | None) -> Path:
    from runtime_tests.rounds import REPO_ROOT

    if value is not None:
        return value
    return out / "results.db" if out is not None else REPO_ROOT / db.DEFAULT_DB


def _run(argv: list[str]) -> int:
    from checks.provenance import tool_info
    from runtime_tests import crosscheck, report, runner, stats

    p = cli.parser("runtime_tests run", "Run multi-threaded inference rounds, a soak and throughput "
                   "measurements; exit 1 when a round failed or a model was contradicted.", formats=("text", "json"))
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="plan", action="store_const", const="quick", help="CPU-sized plan (default)")
    size.add_argument("--full", dest="plan", action="store_const", const="full", help="the full plan (GPU)")
    p.add_argument("--device", choices=backend.DEVICES, default="auto", help="auto: mps, then cuda, then cpu")
    p.add_argument("--db", type=Path, help="results database (default: OUT/results.db or .mps-verify/results.db)")
    p.add_argument("--out", type=Path, help=f"folder for the database and the report (env {OUT_ENV})")
    p.add_argument("--configs", type=Path, help="configuration matrix (default: runtime_tests/configs.yaml)")
    p.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this configuration (repeatable)")
    p.add_argument("--rounds", type=_positive, help="rounds per configuration (overrides the plan)")
    p.add_argument("--jobs", type=_positive, help="child processes at once (overrides the plan)")
    p.add_argument("--sequential", action="store_true",
                   help="stop a configuration once the SPRT (1%% vs 10%% failure rate) decides")
    p.add_argument("--soak", type=duration, help="soak duration, e.g. 15s (0 skips it)")
    p.add_argument("--timeout", type=duration, help="seconds before a round counts as a hang")
    p.add_argument("--manifest", type=Path, default=crosscheck.MANIFEST,
                   help="spec manifest with the models' verdicts (default: specs/manifest.yaml)")
    p.add_argument("--no-perf", dest="perf", action="store_false", help="skip the throughput measurements")
    p.add_argument("--no-rounds", dest="rounds_section", action="store_false",
                   help="skip the rounds and the soak (throughput measurements only)")
    p.add_argument("--workload", action="append", default=[], metavar="PKG.MODULE:FACTORY",
                   help="your own workload (repeatable): a function returning runtime_tests.workloads.UserWorkload; "
                        "replaces the plan's workloads")
    p.add_argument("--repeat", type=_positive, default=1, metavar="K",
                   help="run the performance section in K separate processes, interleaved (between-run spread)")
    p.add_argument("--append", type=_positive, metavar="RUN",
                   help="record into existing run RUN of the database (e.g. its performance section, split off)")
    p.add_argument("--trace-limit", type=_positive, default=5000, metavar="N",
                   help="check the first N events of each batcher event log in TLC (default 5000)")
    args = p.parse_args(argv)
    out = _out(args.out)
    opts = runner.Options(plan=args.plan or "quick", device=args.device, db_path=_db_path(args.db, out),
                          configs_path=args.configs, only=tuple(args.only), rounds=args.rounds, jobs=args.jobs,
                          sequential=args.sequential, soak_s=args.soak, perf=args.perf, timeout_s=args.timeout,
                          manifest=args.manifest, workloads=tuple(args.workload), repeat=args.repeat,
                          rounds_section=args.rounds_section, append=args.append, trace_limit=args.trace_limit)
    summary = runner.run(opts)
    report_path = None
    if out is not None:
        conn = db.connect(opts.db_path)
        report_path = report.write(conn, summary.run_id, out)
        conn.close()
    if args.format == "json":
        cli.emit(cli.dump_json({
            "tool": tool_info(external=("torch",)), "run_id": summary.run_id, "device": summary.device,
            "db": str(opts.db_path), "report": str(report_path) if report_path else None,
            "configurations": {name: {"failures": k, "rounds": n, "statement": stats.sentence(stats.rate(k, n))}
                               for name, (k, n) in summary.counts.items()},
            "failed_rounds": [{"config": c, "workload": w, "outcome": o} for c, w, o in summary.failed],
            "crosschecks": [vars(c) for c in summary.checks], "skipped": summary.skipped,
            "exit": summary.exit_code}), args.output)
        return summary.exit_code
    lines = [f"run {summary.run_id} on {summary.device}; results in {opts.db_path}"]
    lines += [f"  {name}: {stats.sentence(stats.rate(k, n))}" for name, (k, n) in summary.counts.items()]
    lines += [f"  skipped {s}" for s in summary.skipped]
    lines += [f"  FAILED {c} / {w}: {o}" for c, w, o in summary.failed]
    lines += [f"  model {c.model or '-'} for {c.config}: {c.verdict}: {c.reason}" for c in summary.checks]
    lines.append(f"report: {report_path}" if report_path else "report: python -m runtime_tests report --out DIR")
    cli.emit("\n".join(lines), args.output)
    return summary.exit_code


def _report(argv: list[str]) -> int:
    p = cli.parser("runtime_tests report", "Write the Markdown report (with PNG plots) of a run.")
    p.add_argument("--db", type=Path, help="results database (default: OUT/results.db or .mps-verify/results.db)")
    p.add_argument("--out", type=Path, help=f"folder for report.md and the plots (env {OUT_ENV}; "
                   "default .mps-verify/runtime-report)")
    p.add_argument("--run", type=_positive, help="run id (default: the latest)")
    args = p.parse_args(argv)
    from runtime_tests import report
    from runtime_tests.rounds import REPO_ROOT

    out = _out(args.out)
    path = _db_path(args.db, out)
    if not path.is_file():
        raise cli.UsageError(f"no results database at {path}; run `python -m runtime_tests run` first")
    conn = db.connect(path)
    run_id = args.run or db.latest_run(conn)
    if run_id is None or conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
        raise cli.UsageError(f"{path}: no run {args.run}" if args.run else f"{path}: no runs recorded")
    written = report.write(conn, run_id, out or REPO_ROOT / ".mps-verify" / "runtime-report")
    conn.close()
    print(f"report: {written}")
    return 0


def _validate_trace(argv: list[str]) -> int:
    p = cli.parser("runtime_tests validate-trace", "Check batcher event logs against specs/BatchQueue.tla "
                   "in TLC; exit 1 when a log has an event the model cannot explain.", formats=("text", "json"))
    p.add_argument("logs", nargs="+", type=Path, metavar="LOG", help="event log (.jsonl or .jsonl.gz)")
    p.add_argument("--limit", type=_positive, help="check only the first N events of each log")
    p.add_argument("--keep", type=Path, help="folder for the generated TLA+ modules and TLC's output")
    p.add_argument("--db", type=Path, help="record the verdicts in this results database (with --run)")
    p.add_argument("--run", type=_positive, help="the run the logs belong to (default: the latest)")
    args = p.parse_args(argv)
    from runtime_tests import tracecheck

    missing = [str(path) for path in args.logs if not path.is_file()]
    if missing:
        raise cli.UsageError(f"no event log at {missing[0]}")
    logs = [tracecheck.read_log(path, args.limit) for path in args.logs]  # all bad input first, before TLC
    if not tracecheck.java_available():
        from checks import tools

        tools.java()
        tools.tla2tools_jar()  # raise the ToolMissing with its install hint
    conn = run_id = None
    if args.db is not None:
        if not args.db.is_file():
            raise cli.UsageError(f"no results database at {args.db}")
        conn = db.connect(args.db)
        run_id = args.run or db.latest_run(conn)
        if run_id is None or conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise cli.UsageError(f"{args.db}: no run {args.run or ''}".strip())
    results = []
    for path, log in zip(args.logs, logs):
        keep = args.keep / path.name.split(".")[0] if args.keep else None
        v = tracecheck.validate(log, keep)
        results.append((path, v))
        if conn is not None:
            source = db.pending_trace(conn, run_id, path.name) or path.name
            db.add_trace_validation(conn, run_id, source, v.events, v.verdict, v.first_unexplained, v.seconds,
                                    f"{path.name}: " + ("whole log" if log.total == v.events
                                                        else f"first {v.events:,} of {log.total:,} events"))
    if args.format == "json":
        cli.emit(cli.dump_json([{"log": str(path), **vars(v)} for path, v in results]), args.output)
    else:
        cli.emit("\n".join(
            f"{path}: {v.verdict}, {v.events:,} events checked in {v.seconds:.1f} s "
            f"({1000 * v.seconds / v.events:.2f} s per 1,000)" + (f"; first unexplained: {v.first_unexplained}"
                                                                  if v.first_unexplained else "")
            for path, v in results), args.output)
    return int(any(v.verdict != "matched" for _, v in results))


COMMANDS = {"run": _run, "report": _report, "validate-trace": _validate_trace}


def main(argv: list[str]) -> int:
    """Dispatch to `run`, `report` or `validate-trace`."""
    if not argv or argv[0] not in COMMANDS:
        if argv and argv[0] in ("-h", "--help"):
            print(USAGE)
            return 0
        raise cli.UsageError(USAGE)
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
