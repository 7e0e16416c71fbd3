"""The Markdown report of one run (tables, statements, model cross-check) with PNG plots."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from runtime_tests import crosscheck, stats

# The batcher's targets on CUDA at 8 clients: >= 3x plain threads and >= 70% of offline batch-8.
CUDA_TARGETS = {"vs_threads": 3.0, "vs_offline": 0.70, "workloads": ("linear", "mlp")}


def _ratios(modes: dict[str, dict[str, list[float]]]) -> dict[str, float]:
    """Median requests/s of the batcher over plain threads and over offline, and the floor over offline."""
    med = {m: stats.median_iqr(v["requests_per_s"])[0] for m, v in modes.items()}
    out = {"vs_threads": med["batcher"] / med["threads"], "vs_offline": med["batcher"] / med["offline"]}
    if "floor" in med:
        out["floor_vs_offline"] = med["floor"] / med["offline"]
        out["floor"] = med["floor"]
    return out


def _met(modes: dict[str, dict[str, list[float]]]) -> bool:
    r = _ratios(modes)
    return r["vs_threads"] >= CUDA_TARGETS["vs_threads"] and r["vs_offline"] >= CUDA_TARGETS["vs_offline"]


def process_ratios(modes: dict[str, dict[str, dict[int, list[float]]]]) -> list[dict[str, dict[str, float]]]:
    """For each measuring process: {mode: {vs_threads, vs_offline}} from that process's medians alone."""
    procs = sorted({p for v in modes.values() for p in v.get("requests_per_s", {})})
    out = []
    for proc in procs:
        med = {m: stats.median_iqr(v["requests_per_s"][proc])[0] for m, v in modes.items()
               if v.get("requests_per_s", {}).get(proc)}
        if "threads" in med and "offline" in med:
            out.append({m: {"vs_threads": x / med["threads"], "vs_offline": x / med["offline"]} for m, x in med.items()})
    return out


def target(workload: str, modes: dict[str, dict[str, list[float]]], per: list | None = None) -> str:
    """Whether the batcher met its CUDA targets on one workload (or workload@width), with the ratios
    (and their between-run spread when `per` holds several processes' ratios), and whether the hand-off
    floor leaves the offline target within reach at all."""
    r = _ratios(modes)
    runs = [p["batcher"] for p in per or [] if "batcher" in p]
    spread = (f"; between runs {_spread([x['vs_threads'] for x in runs], '{:.2f}x')} and "
              f"{_spread([x['vs_offline'] for x in runs], '{:.0%}')}" if len(runs) > 1 else "")
    line = (f"{workload}: target {'met' if _met(modes) else 'NOT met'} ({r['vs_threads']:.2f}x plain threads, need "
            f">= {CUDA_TARGETS['vs_threads']:g}x; {r['vs_offline']:.0%} of offline, need >= {CUDA_TARGETS['vs_offline']:.0%}"
            f"{spread})")
    if not _met(modes) and r.get("floor_vs_offline", 1.0) < CUDA_TARGETS["vs_offline"]:
        line += (f"; unreachable here for any thread-based CPython batcher: the hand-off floor (no model at all) "
                 f"is {_fmt(r['floor'])} requests/s, {r['floor_vs_offline']:.0%} of offline")
    return line


def _label(label: str) -> tuple[str, int | None]:
    """'linear@32768' -> ('linear', 32768); 'linear' -> ('linear', None)."""
    base, _, width = label.partition("@")
    return base, int(width) if width else None


def widths_summary(workload: str, by_label: dict[str, dict[str, dict[str, list[float]]]]) -> str:
    """The smallest measured width of `workload` at which both targets hold."""
    widths = {}
    for label, modes in by_label.items():
        base, width = _label(label)
        if base == workload and width is not None:
            widths[width] = modes
    met = [w for w, modes in sorted(widths.items()) if _met(modes)]
    measured = ", ".join(str(w) for w in sorted(widths))
    if not met:
        return f"{workload}: targets met at no measured width ({measured})"
    return f"{workload}: targets met from width {met[0]} (measured {measured}; met at {', '.join(map(str, met))})"


def _rounds(conn: sqlite3.Connection, run_id: int) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM rounds WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()


def _measurements(conn: sqlite3.Connection, run_id: int, kind: str) -> dict[str, dict[str, dict[str, list[float]]]]:
    """{workload: {param: {metric: [values over reps]}}} in insertion order."""
    out: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in conn.execute("SELECT workload, param, metric, value FROM measurements WHERE run_id = ? AND kind = ? "
                          "ORDER BY id", (run_id, kind)):
        out[r["workload"]][r["param"]][r["metric"]].append(r["value"])
    return out


def _by_proc(conn: sqlite3.Connection, run_id: int, kind: str) -> dict[str, dict[str, dict[str, dict[int, list[float]]]]]:
    """{workload: {param: {metric: {process: [values over reps]}}}}: each --repeat process apart."""
    out: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list))))
    for r in conn.execute("SELECT workload, param, metric, value, proc FROM measurements WHERE run_id = ? AND kind = ? "
                          "ORDER BY id", (run_id, kind)):
        out[r["workload"]][r["param"]][r["metric"]][r["proc"]].append(r["value"])
    return out


def _spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """min-max of per-process estimates, or '-' with one process."""
    return "-" if len(values) < 2 else f"{fmt.format(min(values))}-{fmt.format(max(values))}"


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _mi(values: list[float]) -> str:
    med, q1, q3 = stats.median_iqr(values)
    return f"{_fmt(med)} [{_fmt(q1)}-{_fmt(q3)}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return lines + ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]


def _saw(seen: dict[str, Any]) -> str:
    """What a child reported about its configuration: the env vars it got, preload mapped or not."""
    parts = [f"{k}={v}" for k, v in (seen.get("env") or {}).items()]
    parts += [f"{Path(lib).name} {'loaded' if ok else 'NOT loaded'}" for lib, ok in (seen.get("images") or {}).items()]
    return ", ".join(parts) or "-"


def _config_stats(rounds: list[sqlite3.Row]) -> dict[str, dict[str, Any]]:
    by: dict[str, dict[str, Any]] = {}
    for r in rounds:
        entry = by.setdefault(r["config"], {"flags": [], "outcomes": defaultdict(int), "sprt": None,
                                            "saw": _saw(json.loads(r["seen"] or "{}")), "inferences": 0,
                                            "wrong": 0, "uncounted": 0, "max_error": None})
        entry["flags"].append(r["outcome"] != "pass")
        if r["inferences"] is None:
            entry["uncounted"] += 1
        else:
            entry["inferences"] += r["inferences"]
            entry["wrong"] += r["wrong"] or 0
        if r["max_error"] is not None:
            entry["max_error"] = max(entry["max_error"] or 0.0, r["max_error"])
        entry["outcomes"][r["outcome"]] += 1
        entry["sprt"] = r["sprt"] or entry["sprt"]
    return by


def _by_workload(rounds: list[sqlite3.Row]) -> dict[str, dict[str, Any]]:
    """_config_stats keyed by workload instead of configuration."""
    out: dict[str, dict[str, Any]] = {}
    for workload in dict.fromkeys(r["workload"] for r in rounds):
        out[workload] = next(iter(_config_stats([r for r in rounds if r["workload"] == workload]).values()))
    return out


def _plot_rates(rows: list[tuple[str, stats.Rate]], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.5))
    for i, (name, r) in enumerate(rows):
        ax.errorbar([100 * r.estimate], [i], xerr=[[100 * (r.estimate - r.low)], [100 * (r.high - r.estimate)]],
                    fmt="o", capsize=4, color="tab:red" if r.k else "tab:blue")
        # k/n beside each bar: 0/3 and 0/300 draw different intervals but the same dot
        ax.annotate(f"{r.k}/{r.n}", (100 * r.high, i), xytext=(6, 0), textcoords="offset points", va="center",
                    fontsize=8)
    ax.set_yticks(range(len(rows)), [n for n, _ in rows])
    ax.set_xlim(-2, 102)
    ax.set_xlabel("failure rate per round, % (95% Clopper-Pearson interval)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_curves(data: dict[str, dict[str, dict[str, list[float]]]], metric: str, xlabel: str, ylabel: str,
                 path: Path, relative: bool) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for workload, params in data.items():
        xs = sorted(int(p) for p in params)
        meds = [stats.median_iqr(params[str(x)][metric])[0] for x in xs]
        base = meds[0] if relative and meds and meds[0] else 1.0
        ax.plot(xs, [m / base for m in meds], marker="o", label=workload)
    if relative and data:
        xs = sorted({int(p) for params in data.values() for p in params})
        ax.plot(xs, [x / xs[0] for x in xs], "k--", linewidth=0.8, label="ideal")
    from matplotlib.ticker import ScalarFormatter

    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    xs = sorted({int(p) for params in data.values() for p in params})
    ax.set_xticks(xs, [str(x) for x in xs])
    if relative:  # speed-ups read best as plain numbers; absolute rates keep the log formatter
        ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_batcher(data: dict[str, dict[str, dict[str, list[float]]]], path: Path) -> None:
    """Requests/s and p99 latency per hidden width, one column per workload: batcher, plain threads,
    offline batches, and the hand-off floor."""
    import matplotlib.pyplot as plt

    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for label in data:
        base, width = _label(label)
        groups[base].append((width or 0, label))
    fig, axes = plt.subplots(2, len(groups), figsize=(4.5 * len(groups), 7), squeeze=False)
    for col, (base, entries) in enumerate(groups.items()):
        entries.sort()
        xs = list(range(len(entries)))
        for mode, style in (("batcher", "o-"), ("threads", "s-"), ("offline", "^--"), ("floor", "x:")):
            present = [(x, data[label][mode]) for x, (_, label) in zip(xs, entries) if mode in data[label]]
            if not present:
                continue
            for row, metric in enumerate(("requests_per_s", "p99_ms")):
                axes[row][col].plot([x for x, _ in present], [stats.median_iqr(m[metric])[0] for _, m in present],
                                    style, label=mode)
        for row, ylabel in enumerate(("requests/s (median)", "p99 latency, ms")):
            ax = axes[row][col]
            ax.set_yscale("log")
            ax.set_xticks(xs, [str(w) if w else label for w, label in entries])
            ax.set_xlabel(f"{base}: hidden width" if any(w for w, _ in entries) else base)
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
        axes[0][col].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _environment(run: sqlite3.Row) -> list[str]:
    env = json.loads(run["environment"])
    tool = env.get("tool", {})
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run["started"]))
    took = f"{run['finished'] - run['started']:.0f} s" if run["finished"] else "unfinished"
    return _table(["", ""], [
        ["run", f"{run['id']} (plan {run['plan']}, started {started}, took {took})"],
        ["device", f"{env.get('device')}: {env.get('device_name')}"],
        *[[name, str(value) if value else "unknown"] for name, value in (env.get("versions") or {}).items()],
        ["torch", str(tool.get("torch"))], ["python", str(tool.get("python"))], ["OS", str(env.get("os"))],
        ["CPUs", str(env.get("cpus"))], ["mps-verify", f"{tool.get('version')} (git {tool.get('git')})"],
        *[[f"workload {name}", f"{f['ref']} (user's factory)"]
          for name, f in (env.get("settings", {}).get("factories") or {}).items()],
        ["plan", (", ".join(f"{k} {v}" for k, v in env.get("settings", {}).items()
                            if k not in ("perf", "factories")) or "-")
         + (", sequential (SPRT)" if env.get("sequential") else "")],
        ["performance processes", f"{env.get('repeat', 1)} per setting (--repeat), interleaved"
         + "".join(f"; {a['processes']} of them appended by a later command at "
                   f"{time.strftime('%H:%M:%S UTC', time.gmtime(a['started']))} on {a.get('device_name')}"
                   for a in env.get("appended", []))],
        ["skipped", ", ".join(env.get("skipped", [])) or "-"]])


def _trace_section(conn: sqlite3.Connection, run_id: int) -> list[str]:
    """The batcher's event logs checked against BatchQueue.tla (trace validation), one row per log."""
    rows = conn.execute("SELECT * FROM trace_validations WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()
    if not rows:
        return []
    rows.sort(key=lambda r: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", r["source"])])
    lines = ["", "## Batcher trace validation", "",
             "Each batched round (and the batched soak) recorded the batcher's events (submit, take, answer, "
             "receive, shutdown, reject, stop) with a logical clock; `python -m runtime_tests validate-trace` "
             "replays a log in TLC through runtime_tests/tla/BatchQueueTrace.tla, each event one step of "
             "specs/BatchQueue.tla's actions. matched = the whole log (or its first events, where the detail "
             "says so) is a behaviour of the model; unexplained names the first event it is not. TLC time includes "
             "the JVM's start (about 1-2 s); TLC's cost per event grows with the requests in the log (the model "
             "keeps one entry per request), so long logs are checked up to --trace-limit events.", ""]
    verdicts = defaultdict(int)
    for r in rows:
        verdicts[r["verdict"]] += 1
    checked = [r for r in rows if r["seconds"]]
    lines += [f"{len(rows)} log(s): " + ", ".join(f"{n} {v}" for v, n in verdicts.items())
              + (f"; {sum(r['events'] for r in checked):,} events checked in {sum(r['seconds'] for r in checked):.0f} s "
                 "of TLC" if checked else ""), ""]
    table = []
    for r in rows:
        per = f"{1000 * r['seconds'] / r['events']:.2f} s" if r["seconds"] and r["events"] else "-"
        table.append([r["source"], f"{r['events']:,}", r["verdict"].upper() if r["verdict"] == "unexplained"
                      else r["verdict"], r["first_unexplained"] or "-",
                      f"{r['seconds']:.1f} s" if r["seconds"] is not None else "-", per, r["detail"] or "-"])
    lines += _table(["log", "events checked", "verdict", "first unexplained event", "TLC time",
                     "per 1,000 events", "detail"], table)
    return lines


def markdown(conn: sqlite3.Connection, run_id: int, plots: dict[str, str]) -> str:
    """The report text for `run_id`; `plots` maps plot names to the file names written next to it."""
    run = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    device = run["device"]
    rounds = _rounds(conn, run_id)
    by = _config_stats(rounds)
    configs = [c for c in by if c not in ("perf", "soak")]
    checks = {r["config"]: r for r in conn.execute("SELECT * FROM crosschecks WHERE run_id = ?", (run_id,))}
    failed = [r for r in rounds if r["outcome"] != "pass"]
    contradictions = [c for c in checks.values() if c["verdict"] == "contradiction"]
    unexplained = conn.execute("SELECT COUNT(*) FROM trace_validations WHERE run_id = ? AND verdict = 'unexplained'",
                               (run_id,)).fetchone()[0]
    lines = [f"# mps-verify runtime report (run {run_id})", "", *_environment(run), ""]
    verdict = ("FAIL" if failed or contradictions or unexplained else "PASS")
    lines += [f"**{verdict}**: {len(rounds)} child processes, {len(failed)} failed; "
              f"{len(contradictions)} contradiction(s) with the models; "
              f"{unexplained} batcher log(s) the model cannot explain.", ""]

    lines += ["## Failures per configuration", "",
              "A round is one freshly spawned process running T threads x I iterations; it fails when it "
              "crashes (signal), hangs (killed at the timeout), raises, or returns a result off the CPU "
              "reference. Intervals are exact (Clopper-Pearson, 95%); the upper bound is one-sided 95%. "
              f"SPRT: failure rate {stats.SPRT_P0:.0%} vs {stats.SPRT_P1:.0%}, alpha = beta = {stats.SPRT_ALPHA}.", ""]
    rate_rows, table = [], []
    for name in configs:
        flags = by[name]["flags"]
        r = stats.rate(sum(flags), len(flags))
        rate_rows.append((name, r))
        outcomes = ", ".join(f"{o} {n}" for o, n in sorted(by[name]["outcomes"].items()))
        decision, used = stats.sprt(flags)
        table.append([name, by[name]["saw"], str(len(flags)), outcomes, f"{100 * r.low:.1f}-{100 * r.high:.1f}%",
                      f"{100 * r.upper:.1f}%", f"{decision} ({used})", stats.sentence(r)])
    lines += _table(["configuration", "child saw", "rounds", "outcomes", "95% CI", "upper bound", "SPRT",
                     "what it shows"], table)
    lines += ["", "Per inference: every result each round checked against the CPU reference, pooled over the "
              "configuration's rounds (rounds that crashed or hung report no counts). The exact interval treats "
              "inferences as independent, which they are not inside one round: read it as how much goes wrong "
              "when something does, and the per-round rate above as how often.", ""]
    table = []
    workloads_run = sorted({r["workload"] for r in rounds if r["config"] in configs})
    split = len(workloads_run) > 1  # one row per workload too: a pooled rate would mix a broken model with a sound one
    for name in configs:
        groups = [(name, "all", by[name])]
        if split:
            groups += [(name, w, e) for w, e in _by_workload([r for r in rounds if r["config"] == name]).items()]
        for config, workload, e in groups:
            r = stats.rate(e["wrong"], e["inferences"])
            table.append([config, workload, f"{sum(e['flags'])}/{len(e['flags'])}", f"{e['inferences']:,}",
                          f"{e['wrong']:,}", f"{100 * r.estimate:.3g}%" if e["inferences"] else "-",
                          f"{100 * r.low:.3g}-{100 * r.high:.3g}%" if e["inferences"] else "-",
                          f"{e['max_error']:.3g}" if e["max_error"] is not None else "-", str(e["uncounted"])])
    lines += _table(["configuration", "workload", "rounds failed", "inferences", "wrong", "rate", "95% CI (exact)",
                     "largest error", "rounds without counts"], table)
    described = json.loads(run["environment"]).get("configurations", {})
    lines += ["", *[f"- `{name}`: {text}" for name, text in described.items() if text]] if described else []
    if "rates" in plots:
        lines += ["", f"![failure rates]({plots['rates']})"]
    if len(configs) > 1:
        base = configs[0]
        kb, nb = sum(by[base]["flags"]), len(by[base]["flags"])
        rows = [[name, f"{sum(by[name]['flags'])}/{len(by[name]['flags'])} vs {kb}/{nb}",
                 f"{stats.fisher(sum(by[name]['flags']), len(by[name]['flags']), kb, nb):.3g}"] for name in configs[1:]]
        lines += ["", f"Compared with `{base}` (Fisher's exact test, two-sided; p < 0.05 means the failure rates differ):",
                  "", *_table(["configuration", "failures", "p"], rows)]

    lines += ["", "## Cross-check with the TLA+ models", "",
              f"Model verdicts from specs/manifest.yaml. A contradiction is a failure where the model says safe, or "
              f"0 failures in >= {stats.rounds_to_detect(crosscheck.DETECT_RATE)} rounds where it says unsafe "
              f"(enough to see a {crosscheck.DETECT_RATE:.0%} crash rate with 95% probability). "
              "The AGXEncoderRace models describe Apple's AGX driver: on CUDA and CPU there is no such driver, "
              "so their 'unsafe' predicts no crash there.", ""]
    lines += _table(["configuration", "model", "model says", "verdict", "why"],
                    [[c["config"], c["model"] or "-", c["expect"] or "-", c["verdict"].upper() if c["verdict"] ==
                      "contradiction" else c["verdict"], c["reason"]] for c in checks.values()])

    if failed:
        lines += ["", "## Failed rounds", ""]
        rows = []
        for r in failed[:50]:
            reports = json.loads(r["crash_reports"] or "[]")
            crash = "; ".join(f"{c.get('exception')} {c.get('signal')} in {' < '.join(c.get('frames', [])[:3])}"
                              for c in reports)
            detail = (r["detail"] or "").strip().splitlines()
            rows.append([r["config"], r["workload"], r["outcome"], (detail[-1] if detail else "")[:160], crash or "-"])
        lines += _table(["configuration", "workload", "outcome", "detail", "crash report"], rows)

    lines += _trace_section(conn, run_id)

    soak = _measurements(conn, run_id, "soak")
    if soak:
        lines += ["", "## Soak", ""]
        rows = [[w, p, f"{m['seconds'][0]:.1f} s", _fmt(m["ops"][0]), _fmt(m["errors"][0]), _fmt(m["ops_per_s"][0])]
                for w, params in soak.items() for p, m in params.items()]
        lines += _table(["workload", "configuration", "time", "ops", "errors", "ops/s"], rows)

    scaling = _measurements(conn, run_id, "scaling")
    procs = _by_proc(conn, run_id, "scaling")
    if scaling:
        lines += ["", "## Thread scaling", "",
                  "Batch-1 requests, device synchronised after each; ops/s median [IQR] over all repetitions of "
                  "all measuring processes. Efficiency = median ops/s(N) / (N x median ops/s(1)), computed in each "
                  "measuring process on its own repetitions, with its within-run 95% interval (percentile "
                  "bootstrap, 2000 resamples); between runs = min-max of the processes' point estimates. A "
                  "within-run interval that excludes another process's estimate means the within-run interval "
                  "understates the noise: quote the between-run spread.", ""]
        rows = []
        for workload, params in scaling.items():
            base = params.get("1", {}).get("ops_per_s", [])
            base_by = procs[workload].get("1", {}).get("ops_per_s", {})
            for p, m in params.items():
                vals = m["ops_per_s"]
                per = []
                for proc, pvals in sorted(procs[workload][p]["ops_per_s"].items()):
                    if base_by.get(proc):
                        per.append(stats.efficiency(base_by[proc], pvals, int(p)))
                within = "; ".join(f"{e[0]:.2f} [{e[1]:.2f}-{e[2]:.2f}]" for e in per) or "-"
                rows.append([workload, p, _mi(vals), f"{stats.median_iqr(vals)[0] / stats.median_iqr(base)[0]:.2f}x"
                             if base else "-", within, _spread([e[0] for e in per])])
        lines += _table(["workload", "threads", "ops/s", "speed-up", "efficiency per process [within-run 95%]",
                         "efficiency between runs"], rows)
        if "scaling" in plots:
            lines += ["", f"![thread scaling]({plots['scaling']})"]

    batching = _measurements(conn, run_id, "batching")
    if batching:
        lines += ["", "## Batching", "", "One thread, samples/s by batch size; gain over batch 1 (medians).", ""]
        rows = []
        for workload, params in batching.items():
            base = stats.median_iqr(params["1"]["samples_per_s"])[0] if "1" in params else None
            rows += [[workload, p, _mi(m["samples_per_s"]),
                      f"{stats.median_iqr(m['samples_per_s'])[0] / base:.1f}x" if base else "-"] for p, m in params.items()]
        lines += _table(["workload", "batch", "samples/s", "gain"], rows)
        if "batching" in plots:
            lines += ["", f"![batching]({plots['batching']})"]

    batcher = _measurements(conn, run_id, "batcher")
    perf = json.loads(run["environment"]).get("settings", {}).get("perf", {})
    clients, delay = perf.get("clients", "N"), perf.get("max_delay_ms", "?")
    if batcher:
        lines += ["", "## Dynamic batcher vs threads vs offline batching", "",
                  "Closed loop: each client sends one single-sample request, waits for its answer, repeats. "
                  f"threads = {clients} clients call the model themselves; batcher = they go through BatchQueue "
                  f"(max batch {clients}, max delay {delay} ms); offline = one thread running batches of {clients} "
                  "(the ceiling). "
                  "Requests/s median [IQR]; latency percentiles pooled over repetitions.", ""]
        bprocs = _by_proc(conn, run_id, "batcher")
        rows = []
        for workload, modes in batcher.items():
            med = {m: stats.median_iqr(v["requests_per_s"])[0] for m, v in modes.items()}
            per = process_ratios(bprocs[workload])
            for mode, v in modes.items():
                p50, p99 = (stats.median_iqr(v[k])[0] for k in ("p50_ms", "p99_ms"))
                if mode == "floor":  # no model runs in the floor: a ratio to the model's rates means nothing
                    ratios = ["-"] * 4
                else:
                    ratios = [f"{med[mode] / med['threads']:.2f}x",
                              "-" if mode == "threads" else _spread([r[mode]["vs_threads"] for r in per], "{:.2f}x"),
                              f"{med[mode] / med['offline']:.0%}",
                              "-" if mode == "offline" else _spread([r[mode]["vs_offline"] for r in per], "{:.0%}")]
                rows.append([workload, mode, _mi(v["requests_per_s"]), _fmt(p50), _fmt(p99), *ratios])
        lines += _table(["workload", "mode", "requests/s", "p50 ms", "p99 ms", "vs threads", "between runs",
                         "vs offline", "between runs"], rows)
        lines += ["", "Ratios are of medians pooled over all measuring processes; 'between runs' is the min-max "
                  "of the same ratio computed in each process alone (one per --repeat); p50/p99 are the median "
                  "over processes of each process's pooled latencies."]
        if "batcher" in plots:
            lines += ["", f"![batcher]({plots['batcher']})"]
        if "@" in "".join(batcher):
            lines += ["", "workload@d: the same workload at hidden width d. floor: the clients through a "
                      "BatchQueue whose batch function does nothing (thread hand-offs only): no thread-based "
                      "batcher in CPython gets above it on this machine."]
        if device == "cuda":
            judged = [w for w in batcher if _label(w)[0] in CUDA_TARGETS["workloads"]]
            lines += ["", *[f"- {target(w, batcher[w], process_ratios(bprocs[w]))}" for w in judged]]
            lines += [f"- {widths_summary(w, batcher)}" for w in CUDA_TARGETS["workloads"]
                      if any(label.startswith(w + "@") for label in judged)]
    return "\n".join(lines) + "\n"


def write(conn: sqlite3.Connection, run_id: int, out: Path) -> Path:
    """Write report.md and its PNG plots into `out`; returns the report's path."""
    import matplotlib

    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    plots: dict[str, str] = {}
    by = _config_stats(_rounds(conn, run_id))
    rates = [(n, stats.rate(sum(e["flags"]), len(e["flags"]))) for n, e in by.items() if n not in ("perf", "soak")]
    if rates:
        _plot_rates(rates, out / "crash_rates.png")
        plots["rates"] = "crash_rates.png"
    for kind, metric, xlabel, ylabel, relative in (
            ("scaling", "ops_per_s", "threads", "speed-up over 1 thread (median ops/s)", True),
            ("batching", "samples_per_s", "batch size", "samples/s (median)", False)):
        data = _measurements(conn, run_id, kind)
        if data:
            _plot_curves(data, metric, xlabel, ylabel, out / f"{kind}.png", relative)
            plots[kind] = f"{kind}.png"
    batcher = _measurements(conn, run_id, "batcher")
    if batcher:
        _plot_batcher(batcher, out / "batcher.png")
        plots["batcher"] = "batcher.png"
    path = out / "report.md"
    path.write_text(markdown(conn, run_id, plots), encoding="utf-8")
    return path
